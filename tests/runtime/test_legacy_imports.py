"""The `paddle_serving_*` import hook: every public name of every `paddle_serving_app.reader`
module of the 0.9.0 wheel (enumerated from the wheel's source) and the Pipeline names of the
server wheel resolve to this runtime's objects; what is missing says why. The hook is installed
in this process only for the duration of each test."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

from generator.runtime.compat import legacy_imports
from generator.runtime.reader.unavailable import ReaderNotAvailableError
from tests.helpers.serving_app_wheel import app_wheel_dir

#: module constants and helpers of the originals that are not part of any reader's API
NOT_API = {"py_version", "logger", "FORMAT", "precision_map"}
#: test modules shipped inside the wheel's reader package
TEST_MODULES = {"test_image_reader", "test_preprocess"}


def _public_names(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.ClassDef | ast.FunctionDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
        elif isinstance(node, ast.ImportFrom) and node.level:
            names |= {a.asname or a.name for a in node.names}
    return {n for n in names if not n.startswith("_")} - NOT_API


def _reader_modules(wheel: Path) -> dict[str, set[str]]:
    root = wheel / "paddle_serving_app" / "reader"
    modules = {}
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root).with_suffix("")
        if rel.name in TEST_MODULES:
            continue
        parts = [p for p in rel.parts if p != "__init__"]
        modules[".".join(["paddle_serving_app.reader", *parts])] = _public_names(path)
    return modules


@pytest.fixture
def hook():
    legacy_imports.install()
    yield
    legacy_imports.uninstall()


def test_every_reader_module_and_name_of_the_wheel_resolves(hook):
    modules = _reader_modules(app_wheel_dir())
    assert len(modules) >= 14 and "paddle_serving_app.reader.imdb_reader" in modules
    missing = []
    for module_name, names in modules.items():
        module = importlib.import_module(module_name)
        missing += [f"{module_name}.{n}" for n in sorted(names) if not hasattr(module, n)]
    assert missing == []


def test_reader_names_are_the_runtime_objects(hook):
    from paddle_serving_app.reader import ChineseBertReader, Sequential
    from paddle_serving_app.reader.imdb_reader import IMDBDataset
    from paddle_serving_app.reader.pptsn_reader import CenterCrop as VideoCenterCrop
    from paddle_serving_app.reader.tokenization import FullTokenizer

    import generator.runtime.reader as reader
    from generator.runtime.reader import tokenization, video_reader

    assert (ChineseBertReader, Sequential, IMDBDataset) == (
        reader.ChineseBertReader, reader.Sequential, reader.IMDBDataset)
    assert FullTokenizer is tokenization.FullTokenizer
    assert VideoCenterCrop is video_reader.CenterCrop is not reader.CenterCrop


def test_star_import_gives_the_package_names(hook):
    scope: dict = {}
    exec("from paddle_serving_app.reader import *", scope)  # noqa: S102
    assert {"Sequential", "OCRReader", "ChineseBertReader", "VideoDecoder"} <= set(scope)


def test_server_pipeline_names(serving_wheel_dir, hook):
    init = serving_wheel_dir / "paddle_serving_server" / "pipeline" / "__init__.py"
    names = _public_names(init) - {"logger"}
    assert names == {"Op", "RequestOp", "ResponseOp", "PipelineServer", "PipelineClient",
                     "LocalServiceHandler", "Analyst"}
    import paddle_serving_server.pipeline as pipeline

    import generator.runtime as rt

    for name in names - {"LocalServiceHandler", "Analyst"}:
        assert getattr(pipeline, name) is getattr(rt, name)
    for name in ("LocalServiceHandler", "Analyst"):
        with pytest.raises(legacy_imports.LegacyImportError, match=f"{name} is not available"):
            getattr(pipeline, name)


def test_the_one_reader_that_is_not_ported_says_so(hook):
    from paddle_serving_app.reader.pddet import Detection

    with pytest.raises(ReaderNotAvailableError, match="DetectionSequential"):
        Detection("infer_cfg.yml", "out")


def test_unknown_legacy_modules_and_uninstall(hook):
    with pytest.raises(legacy_imports.LegacyImportError, match="paddle_serving_server.serve is not"):
        importlib.import_module("paddle_serving_server.serve")
    legacy_imports.uninstall()
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("paddle_serving_app.reader")
    assert not legacy_imports.installed()


def test_app_utils_and_model_config_messages(hook, tmp_path):
    import cv2
    import numpy as np
    from google.protobuf import text_format
    from paddle_serving_app.proto import general_model_config_pb2
    from paddle_serving_app.utils import Arr2Image
    from paddle_serving_server.proto import general_model_config_pb2 as server_pb2

    from generator.serving_model import model_config

    assert general_model_config_pb2.GeneralModelConfig is model_config.GeneralModelConfig
    assert server_pb2.FeedVar is model_config.FeedVar
    conf = general_model_config_pb2.GeneralModelConfig()
    text_format.Parse('feed_var { name: "x" alias_name: "x" feed_type: 1 shape: 13 }', conf)
    assert conf.feed_var[0].shape == [13]
    ok, png = cv2.imencode(".png", np.full((3, 4, 3), 7, np.uint8))
    assert ok and Arr2Image()(png).shape == (3, 4, 3)


@pytest.mark.parametrize("module", [
    "paddle_serving_app.models", "paddle_serving_app.package", "paddle_serving_app.trace",
    "paddle_serving_app.proto.general_model_service_pb2", "paddle_serving_server.serve",
    "paddle_serving_client.httpclient",
])
def test_modules_not_provided(hook, module):
    with pytest.raises(legacy_imports.LegacyImportError, match="is not provided by this runtime"):
        importlib.import_module(module)
