"""Import hook that resolves Paddle Serving 0.9's module names to this runtime.

`install()` (called by `scaffold run`, never at import time) puts a finder on `sys.meta_path`
so an unchanged service file's ``from paddle_serving_server.web_service import WebService, Op``,
``from paddle_serving_app.reader import Sequential``,
``from paddle_serving_server.pipeline.proto import pipeline_service_pb2`` ... give the classes of
`generator.runtime` (the very same objects). Nothing named `paddle_serving_*` is installed.

Each legacy module is a small proxy module that looks names up, lazily, in the runtime modules
listed in `LEGACY_MODULES` (so `paddle_serving_app.local_predict` imports Paddle only when
`LocalPredictor` is used). A name the runtime does not provide, or a legacy module not listed,
raises `LegacyImportError` (an `ImportError`) saying what it is and why it is not here.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import types
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["LEGACY_MODULES", "LEGACY_ROOTS", "LegacyImportError", "LegacyModule", "install",
           "installed", "uninstall"]

#: Top-level package names this hook answers for.
LEGACY_ROOTS: tuple[str, ...] = ("paddle_serving_server", "paddle_serving_app", "paddle_serving_client")

_READER = "generator.runtime.reader"
_BRPC = ("the C++ brpc serving stack (Server, Client, OpMaker...) is not part of this runtime; "
         "only the Python Pipeline API is. Use a Pipeline Op with local_service_conf")


#: The Paddle Serving release whose API this runtime re-implements.
PADDLE_SERVING_VERSION = "0.9.0"
_VERSION = {"__version__": PADDLE_SERVING_VERSION}


class LegacyImportError(ImportError):
    """A Paddle Serving module or name that this runtime does not provide."""


@dataclass(frozen=True)
class LegacyModule:
    """How one Paddle Serving module maps onto this runtime.

    `sources`: runtime modules searched, in order, for each name. `names`: the public names
    (`__all__`); empty means those of the sources. `unavailable`: name -> why it is missing.
    `package`: submodules can be imported below it.
    """

    sources: tuple[str, ...] = ()
    names: tuple[str, ...] = ()
    unavailable: Mapping[str, str] = field(default_factory=dict)
    package: bool = False
    #: values set on the module as it is created (`__version__`).
    constants: Mapping[str, Any] = field(default_factory=dict)
    #: name -> runtime module bound to it (`image_reader.F` is `functional`).
    aliases: Mapping[str, str] = field(default_factory=dict)


_READER_MODULES: dict[str, LegacyModule] = {
    "paddle_serving_app.reader": LegacyModule((_READER,), package=True),
    "paddle_serving_app.reader.image_reader": LegacyModule(
        (_READER, f"{_READER}.detection_post"),
        names=("BGR2RGB", "Base64ToImage", "BlazeFacePostprocess", "CenterCrop", "DBPostProcess",
               "DetectionBGR2RGB", "DetectionDiv", "DetectionFile2Image", "DetectionNormalize",
               "DetectionPadStride", "DetectionResize", "DetectionSequential",
               "DetectionTranspose", "Div", "File2Image", "FilterBoxes", "GetRotateCropImage",
               "ImageReader", "Lambda", "Normalize", "PadStride", "RCNNPostprocess", "RGB2BGR",
               "Resize", "ResizeByFactor", "SegPostprocess", "Sequential", "SortedBoxes",
               "String2Image", "Transpose", "URL2Image", "functional", "generate_colormap", "F"),
        aliases={"F": f"{_READER}.functional"}),
    "paddle_serving_app.reader.functional": LegacyModule((f"{_READER}.functional",)),
    "paddle_serving_app.reader.ocr_reader": LegacyModule(
        (f"{_READER}.ocr_reader",),
        names=("BaseRecLabelDecode", "CTCLabelDecode", "CharacterOps", "OCRReader")),
    "paddle_serving_app.reader.tokenization": LegacyModule((f"{_READER}.tokenization",)),
    "paddle_serving_app.reader.batching": LegacyModule((f"{_READER}.text_batching",)),
    "paddle_serving_app.reader.reader": LegacyModule((f"{_READER}.bert_reader",),
                                                     names=("ReaderBase",)),
    "paddle_serving_app.reader.bert_base_reader": LegacyModule(
        (f"{_READER}.bert_reader",), names=("BertBaseReader", "ReaderBase")),
    "paddle_serving_app.reader.chinese_bert_reader": LegacyModule(
        (f"{_READER}.bert_reader", f"{_READER}.text_batching", f"{_READER}.tokenization"),
        names=("BertBaseReader", "ChineseBertReader", "FullTokenizer", "convert_to_unicode",
               "pad_batch_data")),
    "paddle_serving_app.reader.imdb_reader": LegacyModule((f"{_READER}.imdb_reader",)),
    "paddle_serving_app.reader.lac_reader": LegacyModule((f"{_READER}.lac_reader",)),
    "paddle_serving_app.reader.senta_reader": LegacyModule((f"{_READER}.senta_reader",)),
    "paddle_serving_app.reader.pptsn_reader": LegacyModule((f"{_READER}.video_reader",)),
    "paddle_serving_app.reader.pddet": LegacyModule((f"{_READER}.pddet",), package=True),
    "paddle_serving_app.reader.pddet.image_tool": LegacyModule((f"{_READER}.pddet",)),
}

#: `general_model_config_pb2` (the serving_server_conf.prototxt messages).
_MODEL_PB2 = "paddle_serving_app.proto.general_model_config_pb2"
_MODEL_CONFIG = LegacyModule(("generator.serving_model.model_config",),
                             names=("FeedVar", "FetchVar", "GeneralModelConfig"))

#: Every Paddle Serving module this runtime answers for.
LEGACY_MODULES: dict[str, LegacyModule] = {
    # ------------------------------------------------------------ paddle_serving_server
    "paddle_serving_server": LegacyModule(
        (), names=("__version__",), constants=_VERSION,
        unavailable={n: _BRPC for n in ("Server", "OpMaker", "OpSeqMaker", "OpGraphMaker",
                                        "MultiLangServer")},
        package=True),
    "paddle_serving_server.web_service": LegacyModule(
        ("generator.runtime",), names=("Op", "WebService"),
        unavailable={"port_is_available": "an internal helper of Paddle Serving"}),
    "paddle_serving_server.pipeline": LegacyModule(
        ("generator.runtime",),
        names=("Op", "PipelineClient", "PipelineServer", "RequestOp", "ResponseOp"),
        unavailable={
            "LocalServiceHandler": "the runtime configures predictors from local_service_conf "
                                   "itself; use LocalPredictor for a predictor of your own",
            "Analyst": "the use_profile trace analyser is not ported; use the /metrics "
                       "endpoint or dag.tracer",
        },
        package=True),
    "paddle_serving_server.pipeline.operator": LegacyModule(
        ("generator.runtime",), names=("Op", "RequestOp", "ResponseOp")),
    "paddle_serving_server.pipeline.pipeline_server": LegacyModule(
        ("generator.runtime",), names=("PipelineServer",)),
    "paddle_serving_server.pipeline.pipeline_client": LegacyModule(
        ("generator.runtime.client",), names=("PipelineClient", "PipelinePredictFuture")),
    "paddle_serving_server.pipeline.channel": LegacyModule(
        ("generator.runtime",), names=("ChannelData", "ChannelDataErrcode", "ChannelDataType")),
    "paddle_serving_server.pipeline.error_catch": LegacyModule(
        ("generator.runtime",),
        names=("CustomException", "CustomExceptionCode", "ProductErrCode")),
    "paddle_serving_server.pipeline.proto": LegacyModule(
        ("generator.runtime.proto",),
        names=("pipeline_service_pb2", "pipeline_service_pb2_grpc"), package=True),
    "paddle_serving_server.pipeline.proto.pipeline_service_pb2": LegacyModule(
        ("generator.runtime.proto.pipeline_service_pb2",)),
    "paddle_serving_server.pipeline.proto.pipeline_service_pb2_grpc": LegacyModule(
        ("generator.runtime.proto.pipeline_service_pb2_grpc",)),
    # --------------------------------------------------------------- paddle_serving_app
    "paddle_serving_app": LegacyModule(
        (), names=("__version__",), constants=_VERSION,
        unavailable={"ServingModels": "it downloads Baidu's pre-packaged models; download a "
                                      "model yourself and convert it with `scaffold convert`"},
        package=True),
    "paddle_serving_app.local_predict": LegacyModule(("generator.runtime",),
                                                     names=("LocalPredictor",)),
    "paddle_serving_app.utils": LegacyModule(("generator.runtime.compat.app_utils",), package=True),
    "paddle_serving_app.utils.arr2image": LegacyModule(("generator.runtime.compat.app_utils",)),
    "paddle_serving_app.proto": LegacyModule((), names=("general_model_config_pb2",),
                                             aliases={"general_model_config_pb2": _MODEL_PB2},
                                             package=True),
    "paddle_serving_app.proto.general_model_config_pb2": _MODEL_CONFIG,
    "paddle_serving_server.proto": LegacyModule((), names=("general_model_config_pb2",),
                                                aliases={"general_model_config_pb2": _MODEL_PB2},
                                                package=True),
    "paddle_serving_server.proto.general_model_config_pb2": _MODEL_CONFIG,
    **_READER_MODULES,
    # ------------------------------------------------------------ paddle_serving_client
    "paddle_serving_client": LegacyModule(
        (), names=("__version__",), constants=_VERSION,
        unavailable={n: _BRPC for n in ("Client", "HttpClient", "MultiLangClient")},
        package=True),
    "paddle_serving_client.utils": LegacyModule(("generator.runtime.compat.client_utils",),
                                                package=True),
    "paddle_serving_client.io": LegacyModule(
        ("generator.export.convert",), names=("inference_model_to_serving",),
        package=True),
}


def _not_provided(module: str) -> str:
    return (f"{module} is not provided by this runtime (scaffold run maps the Paddle Serving "
            "Python Pipeline API: paddle_serving_server.web_service, "
            "paddle_serving_server.pipeline[.proto], paddle_serving_app.reader, "
            "paddle_serving_app.local_predict/utils/proto, paddle_serving_client.utils/io)")


_MISSING = object()


def _lookup(module_name: str, spec: LegacyModule, name: str) -> Any:
    if name in spec.unavailable:
        raise LegacyImportError(f"{module_name}.{name} is not available here: "
                                f"{spec.unavailable[name]}", name=module_name)
    if name in spec.aliases:
        return importlib.import_module(spec.aliases[name])
    if spec.names and name not in spec.names:
        raise AttributeError(f"module {module_name!r} has no attribute {name!r}")
    for source in spec.sources:
        module = importlib.import_module(source)
        value = getattr(module, name, _MISSING)
        if (value is _MISSING and hasattr(module, "__path__") and not name.startswith("__")
                and importlib.util.find_spec(f"{source}.{name}") is not None):
            value = importlib.import_module(f"{source}.{name}")  # a submodule not yet imported
        if value is not _MISSING:
            return value
    raise AttributeError(f"module {module_name!r} has no attribute {name!r}")



def _public_names(spec: LegacyModule) -> list[str]:
    if spec.names:
        return [n for n in spec.names if not n.startswith("__")]
    names: list[str] = []
    for source in spec.sources:
        module = importlib.import_module(source)
        names += [n for n in getattr(module, "__all__", ()) if n not in names]
    return names


class _Loader(importlib.abc.Loader):
    def __init__(self, spec: LegacyModule | None):
        self._spec = spec

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType | None:
        return None  # the default module object

    def exec_module(self, module: types.ModuleType) -> None:
        name = module.__name__
        spec = self._spec
        if spec is None:
            raise LegacyImportError(_not_provided(name), name=name)

        def __getattr__(attr: str) -> Any:  # noqa: N807 - PEP 562 module hook
            if attr == "__all__":
                return _public_names(spec)
            return _lookup(name, spec, attr)

        def __dir__() -> list[str]:  # noqa: N807
            return sorted(set(_public_names(spec)) | set(spec.unavailable))

        for key, value in spec.constants.items():
            setattr(module, key, value)
        module.__getattr__ = __getattr__  # type: ignore[attr-defined]
        module.__dir__ = __dir__  # type: ignore[attr-defined]
        targets = ", ".join([*spec.sources, *spec.aliases.values()])
        module.__doc__ = f"Paddle Serving's {name}, resolved by scaffold run to {targets}."


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname: str, path: Sequence[str] | None = None,
                  target: types.ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        if fullname.split(".", 1)[0] not in LEGACY_ROOTS:
            return None
        spec = LEGACY_MODULES.get(fullname)
        module_spec = importlib.machinery.ModuleSpec(
            fullname, _Loader(spec), is_package=spec is not None and spec.package)
        if spec is not None and spec.package:
            module_spec.submodule_search_locations = []
        return module_spec


_FINDER = _Finder()


def install() -> None:
    """Resolve `paddle_serving_*` imports to this runtime from now on (idempotent)."""
    if _FINDER not in sys.meta_path:
        sys.meta_path.insert(0, _FINDER)


def uninstall() -> None:
    """Remove the hook and forget the legacy modules imported through it."""
    if _FINDER in sys.meta_path:
        sys.meta_path.remove(_FINDER)
    for name in [n for n in sys.modules if n.split(".", 1)[0] in LEGACY_ROOTS]:
        del sys.modules[name]


def installed() -> bool:
    """Whether the hook is active in this process."""
    return _FINDER in sys.meta_path
