"""Model sources: Python factories and the `paddle.vision.models` classification networks."""

from __future__ import annotations

import importlib
import inspect
import sys
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from generator.export.errors import ConfigError, ModelBuildError
from generator.models import ARCHITECTURES, BuiltModel, register_architecture

#: arch name -> (paddle.vision.models function name, default input side)
VISION_ARCHS: dict[str, tuple[str, int]] = {
    **{n: (n, 224) for n in (
        "alexnet", "densenet121", "densenet161", "densenet169", "densenet201", "densenet264",
        "googlenet", "mobilenet_v1", "mobilenet_v2", "mobilenet_v3_large", "mobilenet_v3_small",
        "resnet18", "resnet34", "resnet50", "resnet101", "resnet152",
        "resnext50_32x4d", "resnext50_64x4d", "resnext101_32x4d", "resnext101_64x4d",
        "resnext152_32x4d", "resnext152_64x4d", "shufflenet_v2_swish", "shufflenet_v2_x0_25",
        "shufflenet_v2_x0_33", "shufflenet_v2_x0_5", "shufflenet_v2_x1_0", "shufflenet_v2_x1_5",
        "shufflenet_v2_x2_0", "squeezenet1_0", "squeezenet1_1", "vgg11", "vgg13", "vgg16",
        "vgg19", "wide_resnet50_2", "wide_resnet101_2")},
    "inception_v3": ("inception_v3", 299),
}


@contextmanager
def _sys_path(extra: Path | None):
    added = extra is not None and str(extra) not in sys.path
    if added:
        sys.path.insert(0, str(extra))
    try:
        yield
    finally:
        if added:
            sys.path.remove(str(extra))


def resolve_factory(ref: str, search_dir: Path | None = None) -> Callable[..., Any]:
    """Import `package.module:function` (the config's directory is searched too)."""
    if not isinstance(ref, str) or ref.count(":") != 1 or not all(ref.split(":")):
        raise ConfigError(
            f"model.factory {ref!r}: expected 'package.module:function', e.g. 'mypkg.nets:build'"
        )
    module_name, attr_path = ref.split(":")
    with _sys_path(search_dir):
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            raise ConfigError(
                f"model.factory {ref!r}: cannot import module {module_name!r} ({exc}); install it "
                "or put it next to the config file"
            ) from None
        except Exception as exc:
            raise ModelBuildError(
                f"model.factory {ref!r}: importing {module_name!r} raised "
                f"{type(exc).__name__}: {exc}"
            ) from exc
    obj: Any = module
    for part in attr_path.split("."):
        if not hasattr(obj, part):
            raise ConfigError(f"model.factory {ref!r}: {module_name} has no attribute {attr_path!r}")
        obj = getattr(obj, part)
    if not callable(obj):
        raise ConfigError(f"model.factory {ref!r}: {attr_path} is not callable")
    return obj


def call_factory(factory: Callable[..., Any], args: dict[str, Any], ref: str) -> Any:
    """Call the factory with `args`; wrong argument names give a ConfigError."""
    try:
        inspect.signature(factory).bind(**args)
    except TypeError as exc:
        raise ConfigError(f"model.args do not fit {ref}{_sig(factory)}: {exc}") from None
    except ValueError:
        pass
    try:
        return factory(**args)
    except Exception as exc:
        raise ModelBuildError(f"model.factory {ref} raised {type(exc).__name__}: {exc}") from exc


def _sig(fn: Callable) -> str:
    try:
        return str(inspect.signature(fn))
    except (TypeError, ValueError):
        return "(...)"


class _Softmax:  # built lazily so that paddle is imported only when a model is built
    cls = None

    @classmethod
    def get(cls):
        if cls.cls is None:
            import paddle

            class ClassifierWithSoftmax(paddle.nn.Layer):
                """A classifier followed by softmax, as PaddleClas exports by default."""

                def __init__(self, net):
                    super().__init__()
                    self.net = net

                def forward(self, x):
                    return paddle.nn.functional.softmax(self.net(x), axis=-1)

            cls.cls = ClassifierWithSoftmax
        return cls.cls


def unwrap_state_prefix(layer: Any) -> Any:
    """The layer whose state dict matches training weights (the net inside a softmax wrapper)."""
    return getattr(layer, "net", layer) if type(layer).__name__ == "ClassifierWithSoftmax" else layer


def _make_vision_builder(arch: str, fn_name: str, side: int):
    def build(model: dict[str, Any], config: dict[str, Any]) -> BuiltModel:
        import paddle.vision.models as pvm

        args = dict(model.get("args") or {})
        softmax = args.pop("softmax", True)
        if args.get("pretrained"):
            raise ConfigError(
                f"model.args.pretrained: true would download ImageNet weights for {arch}; "
                "scaffold does not download anything. Set pretrained: false and pass the "
                "downloaded .pdparams as model.weights"
            )
        args["pretrained"] = False
        fn = getattr(pvm, fn_name)
        net = call_factory(fn, args, f"paddle.vision.models.{fn_name}")
        layer = _Softmax.get()(net) if softmax else net
        from paddle.static import InputSpec

        return BuiltModel(
            layer=layer,
            input_spec=[InputSpec([None, 3, side, side], "float32", "x")],
            task="classification",
            fixed_input_shape_target="x",
        )

    build.__doc__ = f"paddle.vision.models.{fn_name} classifier (input x [N,3,{side},{side}])."
    return build


def register_vision_architectures() -> None:
    """Register every `paddle.vision.models` classifier in `generator.models.ARCHITECTURES`."""
    for arch, (fn_name, side) in VISION_ARCHS.items():
        if arch not in ARCHITECTURES:
            register_architecture(arch)(_make_vision_builder(arch, fn_name, side))


register_vision_architectures()

from generator.export import arch_embedding, arch_segmentation  # noqa: E402,F401  (built-in archs)
