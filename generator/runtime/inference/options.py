"""Every `LocalPredictor` option in one frozen dataclass (`PredictorOptions`), and how a
validated `local_service_conf` becomes one (`options_from_local_service_conf`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from generator.runtime.config.keys import Key
from generator.runtime.config.schema import DAG_KEYS, LOCAL_KEYS
from generator.runtime.errors import PredictorError
from generator.runtime.inference.backends.base import BACKENDS
from generator.suggest import did_you_mean

DEVICES = ("cpu", "gpu", "trt")
DYNAMIC_SHAPE_KEYS = ("min_input_shape", "max_input_shape", "opt_input_shape")
_LOCAL_KEYS = {key.name: key for key in LOCAL_KEYS}
_DAG_KEYS = {key.name: key for key in DAG_KEYS}


def _schema(name: str, keys: dict[str, Key] = _LOCAL_KEYS) -> Any:
    """A field defaulting to the schema's default of `name` (defaults live only there)."""
    return field(default=keys[name].default)


@dataclass(frozen=True)
class PredictorOptions:
    """Every predictor option; those of `local_service_conf` default as `config/schema.py` says."""

    thread_num: int = _schema("thread_num")
    device: str = "cpu"
    device_id: int = 0
    mem_optim: bool = _schema("mem_optim")
    ir_optim: bool = _schema("ir_optim")
    precision: str = _schema("precision")
    use_calib: bool = _schema("use_calib")
    use_mkldnn: bool = _schema("use_mkldnn")
    mkldnn_cache_capacity: int = _schema("mkldnn_cache_capacity")
    mkldnn_op_list: list[str] | None = _schema("mkldnn_op_list")
    mkldnn_bf16_op_list: list[str] | None = _schema("mkldnn_bf16_op_list")
    min_subgraph_size: int = _schema("min_subgraph_size")
    dynamic_shape_info: dict[str, dict[str, list[int]]] = field(default_factory=dict)
    use_static: bool = _schema("use_static")
    trt_cache_dir: str | None = _schema("trt_cache_dir")
    trt_workspace_size: int = _schema("trt_workspace_size")
    trt_max_batch_size: int = _schema("trt_max_batch_size")
    collect_shape_range_info: str = _schema("collect_shape_range_info")
    tuned_dynamic_shape_info: str = _schema("tuned_dynamic_shape_info")
    use_profile: bool = _schema("use_profile", _DAG_KEYS)
    glog_info: bool = False
    backend: str = _schema("backend")
    onednn_workarounds: bool = _schema("onednn_workarounds")
    startup_probe: bool = _schema("startup_probe")
    #: runs the engine serves at once: the Op's thread-mode instances sharing it (not a
    #: config.yml key: the executor sets it); OpenVINO compiles that many streams
    streams: int = 1

    @property
    def may_crash(self) -> bool:
        """Whether this configuration is probed in a child process before it is loaded."""
        return self.backend != "paddle" or (self.use_mkldnn and self.device == "cpu")

    def validate(self) -> None:
        """Raise `PredictorError` for values Paddle would reject or misinterpret."""
        if self.device not in DEVICES:
            raise PredictorError(f"device must be one of {DEVICES}, got {self.device!r}")
        if self.backend not in BACKENDS:
            raise PredictorError(f"backend must be one of {', '.join(BACKENDS)}, got "
                                 f"{self.backend!r}")
        if self.thread_num < 1:
            raise PredictorError(f"thread_num must be >= 1, got {self.thread_num}")
        info = self.dynamic_shape_info
        if info:
            missing = [k for k in DYNAMIC_SHAPE_KEYS if k not in info]
            if missing:
                raise PredictorError(
                    f"dynamic_shape_info must have all of {list(DYNAMIC_SHAPE_KEYS)} or be "
                    f"empty; missing {missing}"
                )
            names = [set(info[k]) for k in DYNAMIC_SHAPE_KEYS]
            if not names[0] == names[1] == names[2]:
                raise PredictorError(
                    "dynamic_shape_info: min_input_shape, max_input_shape and opt_input_shape "
                    f"must name the same inputs; got {[sorted(n) for n in names]}"
                )


def make_options(**options: Any) -> PredictorOptions:
    """`PredictorOptions(**options)`, validated; an unknown name is a `PredictorError` naming
    the closest known one."""
    known = set(PredictorOptions.__dataclass_fields__)
    unknown = sorted(set(options) - known)
    if unknown:
        raise PredictorError(f"unknown predictor option(s) {unknown}{did_you_mean(unknown[0], known)}; "
                             f"known: {', '.join(sorted(known))}")
    if options.get("dynamic_shape_info") is None:
        options.pop("dynamic_shape_info", None)
    else:
        options["dynamic_shape_info"] = dict(options["dynamic_shape_info"])
    built = PredictorOptions(**options)
    built.validate()
    return built


def options_from_local_service_conf(
        local_conf: Mapping[str, Any], device: str = "cpu", device_id: int = 0,
        dynamic_shape_info: dict[str, dict[str, list[int]]] | None = None) -> PredictorOptions:
    """The options of a validated `local_service_conf` (a key missing or null takes the
    `PredictorOptions` default). `device` is "cpu", "gpu" or "trt" (already derived from
    device_type/devices). YAML `min/max/opt_input_shape` are merged with the Op hook's
    `dynamic_shape_info`; the hook wins for an input named in both."""
    if not local_conf.get("model_config"):
        raise PredictorError("local_service_conf.model_config is required: the model folder")
    merged: dict[str, dict[str, list[int]]] = {}
    hook = dynamic_shape_info or {}
    for key in DYNAMIC_SHAPE_KEYS:
        shapes = {**(local_conf.get(key) or {}), **(hook.get(key) or {})}
        if shapes:
            merged[key] = {str(k): [int(d) for d in v] for k, v in shapes.items()}
    for name in set().union(*(hook.get(k) or {} for k in DYNAMIC_SHAPE_KEYS)):
        for key in DYNAMIC_SHAPE_KEYS:  # the hook's input replaces the YAML one entirely
            if name not in (hook.get(key) or {}) and key in merged:
                merged[key].pop(name, None)
    values: dict[str, Any] = {}
    for name, spec in PredictorOptions.__dataclass_fields__.items():
        value = local_conf.get(name)
        if value is None or name in ("device", "device_id", "dynamic_shape_info"):
            continue
        cast = _CASTS.get(spec.type)
        values[name] = cast(value) if cast else value
    return make_options(**values, device=device, device_id=int(device_id),
                        dynamic_shape_info=merged)


_CASTS = {"int": int, "bool": bool, "str": str}
