"""The versioned native model config (`serving_configs/*.yml`), its loader and model builder.

Schema, version 1 (keys marked * are required):

    version*: 1
    name: str                      # model name; defaults to the config file's stem
    task: detection | classification | segmentation | embedding | generic   (default generic)
    model*:                        # exactly one of arch / factory
      arch: str                    # built-in architecture (generator.models.ARCHITECTURES)
      factory: "pkg.module:func"   # any Python callable returning a paddle.nn.Layer
      args: {..}                   # keyword arguments for the builder / factory
      weights: path.pdparams       # optional; relative to the config file; no URLs
      method: str                  # factory only: method to export (default forward)
    inputs: [..]                   # InputSpecs (required for factory); see generator.export.specs
    service: {..}                  # issue 5; kept untouched
    preprocess: ..                 # issue 5; kept untouched (a list of {type: ..} also feeds infer_cfg)
    postprocess: ..                # issue 5; kept untouched
    labels: ..                     # issue 5; a list of names or a file path feeds label_list

PaddleDetection configs (top-level `architecture:` or `_BASE_:`) are detected and handed to
`generator.ppdet`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from generator.export import infer_cfg as infer_cfg_mod
from generator.export import specs as specs_mod
from generator.export.errors import (
    ConfigError,
    ExportError,
    InputSpecError,
    ModelBuildError,
    WeightsError,
)
from generator.export.overrides import apply_overrides
from generator.export.progress import step
from generator.models import ARCHITECTURES, BuiltModel
from generator.suggest import did_you_mean

SCHEMA_VERSION = 1
TASKS = ("detection", "classification", "segmentation", "embedding", "generic")
TOP_KEYS = ("version", "name", "task", "model", "inputs", "service", "preprocess",
            "postprocess", "labels")
PASSTHROUGH_KEYS = ("service", "preprocess", "postprocess", "labels")
ARCH_KEYS = ("arch", "args", "weights")
FACTORY_KEYS = ("factory", "args", "weights", "method")


def _read_yaml(path: Path) -> Any:
    if not path.is_file():
        raise ConfigError(f"config file {path} not found")
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=_TolerantLoader)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None


class _TolerantLoader(yaml.SafeLoader):
    """SafeLoader that keeps unknown `!Tag` nodes as plain data (PaddleDetection configs)."""


def _unknown_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node, deep=True)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_scalar(node)


_TolerantLoader.add_multi_constructor("!", _unknown_tag)


def is_ppdet_config(data: Any) -> bool:
    """True for a PaddleDetection config (top-level `architecture:` or `_BASE_:`)."""
    return isinstance(data, dict) and ("architecture" in data or "_BASE_" in data)


def _ppdet():
    try:
        from generator.ppdet import builder, config  # noqa: F401
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith("generator.ppdet"):
            raise ConfigError(
                "this is a PaddleDetection config (it has `architecture:` or `_BASE_:`), but "
                "PaddleDetection support (generator.ppdet) is not installed in this build"
            ) from None
        raise
    from generator.ppdet import builder, config

    return config, builder


@contextmanager
def _ppdet_errors() -> Iterator[None]:
    """Re-raise generator.ppdet's own exceptions as this layer's (same message)."""
    try:
        yield
    except ExportError:
        raise
    except Exception as exc:
        if not type(exc).__module__.startswith("generator.ppdet"):
            raise
        name = type(exc).__name__
        cls = WeightsError if "Weights" in name else ConfigError if "Config" in name \
            else ModelBuildError
        raise cls(str(exc)) from exc


def _unknown_keys(section: dict, allowed: tuple[str, ...], where: str) -> None:
    unknown = [k for k in section if k not in allowed]
    if unknown:
        details = "; ".join(f"{where}{k}{did_you_mean(k, allowed)}" for k in unknown)
        raise ConfigError(
            f"unknown config key(s): {details}. Allowed {where or 'top-level '}keys: "
            f"{', '.join(allowed)}"
        )


def load_native_config(path: str | Path, overrides: list[str] | None = None) -> dict[str, Any]:
    """Load a config file, apply `-o` overrides and validate it.

    Native configs are validated against the version-1 schema (unknown keys are errors with a
    did-you-mean hint); PaddleDetection configs go through `generator.ppdet.config`.
    The returned dict carries `__config_path__` (absolute) and, for ppdet, `__ppdet__: True`.
    """
    p = Path(path)
    data = _read_yaml(p)
    if is_ppdet_config(data):
        config_mod, _ = _ppdet()
        with _ppdet_errors():
            cfg = config_mod.load_ppdet_config(p, list(overrides or []))
        cfg = dict(cfg)
        cfg["__ppdet__"] = True
        cfg["__config_path__"] = str(p.resolve())
        return cfg
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: expected a mapping at the top level, got {type(data).__name__}")
    data = apply_overrides(data, _weights_alias(overrides or []))
    validate_native_config(data, where=str(p))
    data.setdefault("name", p.stem)
    data.setdefault("task", "generic")
    data["__config_path__"] = str(p.resolve())
    return data


def _weights_alias(overrides: list[str]) -> list[str]:
    """`-o weights=PATH` (PaddleDetection's spelling) means `model.weights` in a native config;
    a relative path given on the command line is relative to the working directory."""
    out = []
    for o in overrides:
        key, sep, value = o.partition("=")
        if sep and key.strip() in ("weights", "model.weights"):
            value = value.strip()
            if value and "://" not in value and not Path(value).is_absolute():
                value = str(Path(value).resolve())
            o = f"model.weights={value}"
        out.append(o)
    return out


def validate_native_config(cfg: dict[str, Any], where: str = "config") -> None:
    """Validate the keys this layer defines; `service`/`preprocess`/`postprocess`/`labels` pass."""
    if "version" not in cfg:
        raise ConfigError(f"{where}: missing `version: {SCHEMA_VERSION}` at the top level")
    if cfg["version"] != SCHEMA_VERSION:
        raise ConfigError(
            f"{where}: unsupported config version {cfg['version']!r}; this scaffold reads "
            f"version {SCHEMA_VERSION}"
        )
    _unknown_keys(cfg, TOP_KEYS, "")
    if "name" in cfg and (not isinstance(cfg["name"], str) or not cfg["name"].strip()):
        raise ConfigError(f"{where}: `name` must be a non-empty string, got {cfg['name']!r}")
    task = cfg.get("task", "generic")
    if task not in TASKS:
        raise ConfigError(
            f"{where}: task {task!r} is not one of {', '.join(TASKS)}{did_you_mean(task, TASKS)}"
        )
    model = cfg.get("model")
    if not isinstance(model, dict):
        raise ConfigError(
            f"{where}: `model:` is required: {{arch: NAME, args: {{..}}, weights: path}} or "
            "{factory: 'package.module:function', args: {..}, weights: path, method: name}"
        )
    has_arch, has_factory = "arch" in model, "factory" in model
    if has_arch == has_factory:
        raise ConfigError(f"{where}: `model:` needs exactly one of `arch` or `factory`")
    _unknown_keys(model, ARCH_KEYS if has_arch else FACTORY_KEYS, "model.")
    if "args" in model and model["args"] is not None and not isinstance(model["args"], dict):
        raise ConfigError(f"{where}: model.args must be a mapping, got {model['args']!r}")
    if model.get("weights") is not None and not isinstance(model["weights"], str):
        raise ConfigError(f"{where}: model.weights must be a path string, got {model['weights']!r}")
    if has_factory:
        if "method" in model and (not isinstance(model["method"], str) or not model["method"]):
            raise ConfigError(f"{where}: model.method must be a method name, got {model['method']!r}")
        if "inputs" not in cfg:
            raise ConfigError(
                f"{where}: a factory model needs `inputs:`, e.g. "
                "[{name: x, shape: [null, 3, 224, 224], dtype: float32}]"
            )
    if "inputs" in cfg:
        try:
            specs_mod.parse_inputs(cfg["inputs"])
        except InputSpecError as exc:
            raise InputSpecError(f"{where}: {exc}") from None


def _load_builtin_registries() -> None:
    from generator.export import sources  # noqa: F401  (registers paddle.vision archs)

    try:
        import generator.ppdet  # noqa: F401  (registers the YOLOv3 family)
    except ModuleNotFoundError as exc:
        if not (exc.name and exc.name.startswith("generator.ppdet")):
            raise


#: Random initialisation is seeded, so a model without weights is rebuilt identically
#: (`scaffold verify` compares the exported model with a rebuilt dynamic model).
BUILD_SEED = 1234


def build_model(config: dict[str, Any], config_path: str | Path) -> BuiltModel:
    """Build the dynamic model a loaded config describes, weights loaded, ready for export."""
    import paddle

    paddle.seed(BUILD_SEED)
    config_path = Path(config_path)
    if config.get("__ppdet__"):
        _, builder = _ppdet()
        cfg = {k: v for k, v in config.items() if k not in ("__ppdet__", "__config_path__")}
        with _ppdet_errors():
            return builder.build_ppdet_model(cfg, config_path)
    from generator.export import sources
    from generator.export.weights import load_weights, resolve_weights_path

    model = config["model"]
    base_dir = config_path.resolve().parent
    weights = model.get("weights")
    weights_path = resolve_weights_path(weights, base_dir) if weights else None
    if "arch" in model:
        _load_builtin_registries()
        arch = model["arch"]
        if arch not in ARCHITECTURES:
            names = sorted(ARCHITECTURES)
            raise ConfigError(
                f"model.arch {arch!r} is not a built-in architecture{did_you_mean(arch, names)}; "
                f"available: {', '.join(names)}"
            )
        try:
            built = ARCHITECTURES[arch](dict(model), config)
        except ExportError:
            raise
        except Exception as exc:
            raise ModelBuildError(f"building arch {arch!r} raised {type(exc).__name__}: {exc}") from exc
        if "inputs" in config:
            built.input_spec = specs_mod.to_paddle_specs(specs_mod.parse_inputs(config["inputs"]))
            built.fixed_input_shape_target = None
        arch_name = arch
    else:
        factory = sources.resolve_factory(model["factory"], base_dir)
        layer = sources.call_factory(factory, dict(model.get("args") or {}), model["factory"])
        if not hasattr(layer, "state_dict") or not hasattr(layer, "eval"):
            raise ModelBuildError(
                f"model.factory {model['factory']} returned {type(layer).__name__}, "
                "not a paddle.nn.Layer"
            )
        method = model.get("method", "forward")
        if not callable(getattr(layer, method, None)):
            raise ConfigError(
                f"model.method {method!r}: {type(layer).__name__} has no such method"
                f"{did_you_mean(method, [m for m in dir(layer) if not m.startswith('_')])}"
            )
        built = BuiltModel(layer=layer,
                           input_spec=specs_mod.to_paddle_specs(
                               specs_mod.parse_inputs(config["inputs"])),
                           method=method)
        arch_name = model["factory"].split(":")[-1]
    if config.get("task", "generic") != "generic":
        built.task = config["task"]
    if weights_path is not None:
        with step(f"loading weights {weights_path}"):
            load_weights(sources.unwrap_state_prefix(built.layer), weights_path)
    labels = infer_cfg_mod.read_labels(config.get("labels"), base_dir)
    if labels:
        built.label_list = labels
    if built.infer_cfg is None:
        built.infer_cfg = infer_cfg_mod.build_infer_cfg(
            arch=arch_name, task=built.task, input_spec=built.input_spec,
            label_list=built.label_list, preprocess=config.get("preprocess"),
        )
    return built


__all__ = ["SCHEMA_VERSION", "TASKS", "TOP_KEYS", "build_model", "is_ppdet_config",
           "load_native_config", "validate_native_config", "did_you_mean", "ModelBuildError"]
