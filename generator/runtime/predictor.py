"""In-process Paddle Inference, the equivalent of `paddle_serving_app.local_predict.LocalPredictor`.

`LocalPredictor` loads a model folder (any layout `find_model_files` knows), reads the
`serving_server_conf.prototxt` next to it for alias names and dtypes, and runs the model with
Paddle Inference's zero-copy handles. `build_inference_config` is the single place where
`local_service_conf` options become `paddle.inference.Config` calls.

A predictor is not thread safe: give each worker thread its own `clone()`.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from generator.runtime.errors import PredictorError
from generator.runtime.model_files import ModelFiles, find_model_files, list_dir
from generator.serving_model import DTYPE_TO_CODE, ModelConfigError, VarInfo, read_model_config

__all__ = [
    "DEVICES",
    "PRECISIONS",
    "LocalPredictor",
    "ModelFiles",
    "PredictorOptions",
    "build_inference_config",
    "find_model_files",
]

logger = logging.getLogger(__name__)

DEVICES = ("cpu", "gpu", "trt")
PRECISIONS = ("fp32", "fp16", "int8", "bf16")
DYNAMIC_SHAPE_KEYS = ("min_input_shape", "max_input_shape", "opt_input_shape")
_GPU_MEMORY_POOL_MB = 100
_MKLDNN_HINT = (
    "use_mkldnn is true: oneDNN is known to fail on some exported models (e.g. detectors "
    "under Paddle 3); set `use_mkldnn: false` in local_service_conf"
)
#: Model kinds for which Paddle rejected enable_memory_optim() in this process.
_MEM_OPTIM_UNSUPPORTED: set[str] = set()
_MEM_OPTIM_LOCK = threading.Lock()


@dataclass(frozen=True)
class PredictorOptions:
    """Every predictor option, with Paddle Serving's `local_service_conf` defaults."""

    thread_num: int = 2
    device: str = "cpu"
    device_id: int = 0
    mem_optim: bool = True
    ir_optim: bool = False
    precision: str = "fp32"
    use_calib: bool = False
    use_mkldnn: bool = False
    mkldnn_cache_capacity: int = 0
    mkldnn_op_list: list[str] | None = None
    mkldnn_bf16_op_list: list[str] | None = None
    min_subgraph_size: int = 3
    dynamic_shape_info: dict[str, dict[str, list[int]]] = field(default_factory=dict)
    use_static: bool = False
    trt_cache_dir: str | None = None
    trt_workspace_size: int = 1 << 30
    trt_max_batch_size: int = 32
    collect_shape_range_info: str = ""
    tuned_dynamic_shape_info: str = ""
    use_profile: bool = False
    glog_info: bool = False

    def validate(self) -> None:
        """Raise `PredictorError` for values Paddle would reject or misinterpret."""
        if self.device not in DEVICES:
            raise PredictorError(f"device must be one of {DEVICES}, got {self.device!r}")
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


def _precision_type(precision: str) -> Any:
    import paddle.inference as paddle_infer

    return {
        "fp32": paddle_infer.PrecisionType.Float32,
        "fp16": paddle_infer.PrecisionType.Half,
        "int8": paddle_infer.PrecisionType.Int8,
        "bf16": paddle_infer.PrecisionType.Bfloat16,
    }[precision]


def build_inference_config(files: ModelFiles, options: PredictorOptions,
                           *, mem_optim: bool | None = None) -> Any:
    """Map `options` to a `paddle.inference.Config` for the model in `files`.

    This is the only place where options become Config calls (as in Paddle Serving's
    `LocalPredictor.load_model_config`). `mem_optim` overrides `options.mem_optim`, used to
    retry without memory optimisation where Paddle 3 rejects it.
    """
    import paddle.inference as paddle_infer

    options.validate()
    precision = options.precision.lower()
    if precision not in PRECISIONS:
        logger.warning("precision %r is unknown; using fp32 (expected one of %s)",
                       options.precision, PRECISIONS)
        precision = "fp32"

    if files.model_file is None:
        config = paddle_infer.Config(str(files.model_dir))
    else:
        config = paddle_infer.Config(str(files.model_file), str(files.params_file))
    if files.needs_legacy_ir:
        config.enable_new_ir(False)
    if not options.glog_info and not options.use_profile:
        config.disable_glog_info()

    config.switch_use_feed_fetch_ops(False)
    config.delete_pass("conv_transpose_eltwiseadd_bn_fuse_pass")
    config.set_cpu_math_library_num_threads(options.thread_num)
    config.switch_ir_optim(options.ir_optim)
    if options.mem_optim if mem_optim is None else mem_optim:
        config.enable_memory_optim()

    if options.device in ("gpu", "trt"):
        _check_gpu_support(options.device)
        config.enable_use_gpu(_GPU_MEMORY_POOL_MB, options.device_id)
        if options.device == "trt":
            config.enable_tensorrt_engine(
                workspace_size=options.trt_workspace_size,
                max_batch_size=options.trt_max_batch_size,
                min_subgraph_size=options.min_subgraph_size,
                precision_mode=_precision_type(precision),
                use_static=options.use_static,
                use_calib_mode=options.use_calib,
            )
            info = options.dynamic_shape_info
            if info:
                config.set_trt_dynamic_shape_info(
                    info["min_input_shape"], info["max_input_shape"], info["opt_input_shape"]
                )
            if options.tuned_dynamic_shape_info:
                config.enable_tuned_tensorrt_dynamic_shape(options.tuned_dynamic_shape_info, True)
        elif precision != "fp32":
            logger.info("precision %s only applies to TensorRT (device trt); running fp32",
                        precision)
        if options.trt_cache_dir:
            config.set_optim_cache_dir(str(options.trt_cache_dir))
    else:
        config.disable_gpu()
        if options.use_mkldnn:
            config.enable_mkldnn()
            if options.mkldnn_cache_capacity > 0:
                config.set_mkldnn_cache_capacity(options.mkldnn_cache_capacity)
            if options.mkldnn_op_list:
                config.set_mkldnn_op(set(options.mkldnn_op_list))
            if precision == "bf16":
                config.enable_mkldnn_bfloat16()
                if options.mkldnn_bf16_op_list:
                    config.set_bfloat16_op(set(options.mkldnn_bf16_op_list))
        else:
            # oneDNN is on by default in Paddle 3 CPU builds: turn it off explicitly.
            config.disable_mkldnn()
        if precision == "int8":
            logger.warning("precision int8 is not supported on CPU; running fp32")
        elif precision == "fp16":
            logger.info("precision fp16 has no effect on CPU; running fp32")
        elif precision == "bf16" and not options.use_mkldnn:
            logger.info("precision bf16 needs use_mkldnn: true on CPU; running fp32")
    if options.collect_shape_range_info:
        config.collect_shape_range_info(options.collect_shape_range_info)
    if options.use_profile:
        config.enable_profile()
    return config


def _check_gpu_support(device: str) -> None:
    """Fail early, with a fix, when this Paddle build cannot use the requested device."""
    import paddle
    import paddle.inference as paddle_infer

    if not paddle.device.is_compiled_with_cuda():
        raise PredictorError(
            f"device {device!r} needs a CUDA build of Paddle, but paddlepaddle "
            f"{paddle.__version__} is a CPU build; install paddlepaddle-gpu, or run on CPU "
            '(device_type: 0, devices: "")'
        )
    if device == "trt" and tuple(paddle_infer.get_trt_compile_version()) == (0, 0, 0):
        raise PredictorError(
            "device 'trt' (device_type: 2) needs a Paddle build compiled with TensorRT; "
            "install a paddlepaddle-gpu wheel with TensorRT, or use device_type: 1 (GPU)"
        )


def _first_lines(exc: BaseException, n: int = 6) -> str:
    lines = [ln for ln in str(exc).strip().splitlines() if ln.strip()]
    text = "\n".join(lines[:n])
    return f"{type(exc).__name__}: {text}" + ("\n..." if len(lines) > n else "")


_PADDLE_DTYPE_NAMES = {
    "FLOAT64": "float64", "FLOAT32": "float32", "FLOAT16": "float16", "BFLOAT16": "uint16",
    "INT64": "int64", "INT32": "int32", "UINT8": "uint8", "INT8": "int8", "BOOL": "bool",
}


def _handle_dtype(handle: Any) -> str:
    """numpy dtype name of a Paddle tensor handle (float32 when Paddle cannot tell)."""
    try:
        return _PADDLE_DTYPE_NAMES.get(handle.type().name, "float32")
    except Exception:  # type() throws for tensors not yet allocated
        return "float32"


@dataclass(frozen=True)
class _Feed:
    alias: str
    name: str
    dtype: np.dtype
    reshape: tuple[int, ...] | None  # per-sample shape for list inputs, None if unknown
    lod_keys: tuple[str, ...]


class LocalPredictor:
    """Paddle Inference predictor for one model folder, Paddle Serving compatible.

    Construct it with the options of `local_service_conf` (see `from_local_service_conf`).
    Raises `PredictorError` when the model cannot be found or loaded.
    """

    def __init__(self, model_dir: str | Path | None = None, *, thread_num: int = 2,
                 device: str = "cpu",
                 device_id: int = 0, mem_optim: bool = True, ir_optim: bool = False,
                 precision: str = "fp32", use_calib: bool = False, use_mkldnn: bool = False,
                 mkldnn_cache_capacity: int = 0, mkldnn_op_list: list[str] | None = None,
                 mkldnn_bf16_op_list: list[str] | None = None, min_subgraph_size: int = 3,
                 dynamic_shape_info: dict[str, dict[str, list[int]]] | None = None,
                 use_static: bool = False, trt_cache_dir: str | None = None,
                 trt_workspace_size: int = 1 << 30, trt_max_batch_size: int = 32,
                 collect_shape_range_info: str = "", tuned_dynamic_shape_info: str = "",
                 use_profile: bool = False, glog_info: bool = False) -> None:
        if model_dir is None:  # Paddle Serving style: LocalPredictor() then load_model_config()
            self._predictor = None
            return
        self.model_dir = Path(model_dir)
        self.options = PredictorOptions(
            thread_num=thread_num, device=device, device_id=device_id, mem_optim=mem_optim,
            ir_optim=ir_optim, precision=precision, use_calib=use_calib, use_mkldnn=use_mkldnn,
            mkldnn_cache_capacity=mkldnn_cache_capacity, mkldnn_op_list=mkldnn_op_list,
            mkldnn_bf16_op_list=mkldnn_bf16_op_list, min_subgraph_size=min_subgraph_size,
            dynamic_shape_info=dict(dynamic_shape_info or {}), use_static=use_static,
            trt_cache_dir=trt_cache_dir, trt_workspace_size=trt_workspace_size,
            trt_max_batch_size=trt_max_batch_size,
            collect_shape_range_info=collect_shape_range_info,
            tuned_dynamic_shape_info=tuned_dynamic_shape_info, use_profile=use_profile,
            glog_info=glog_info,
        )
        self.options.validate()
        self.model_files = find_model_files(self.model_dir)
        self._mem_optim = (self.options.mem_optim
                           and self.model_files.kind not in _MEM_OPTIM_UNSUPPORTED)
        self._predictor = self._create_predictor()
        self._load_vars()
        self._bind_handles()

    # ------------------------------------------------------------------ construction

    def load_model_config(self, model_path: str | Path, use_gpu: bool = False, gpu_id: int = 0,
                          use_profile: bool = False, thread_num: int = 1, mem_optim: bool = True,
                          ir_optim: bool = False, use_trt: bool = False, use_lite: bool = False,
                          use_xpu: bool = False, precision: str = "fp32",
                          use_mkldnn: bool = False, mkldnn_cache_capacity: int = 0,
                          mkldnn_op_list: list[str] | None = None,
                          mkldnn_bf16_op_list: list[str] | None = None,
                          use_feed_fetch_ops: bool = False, use_ascend_cl: bool = False,
                          min_subgraph_size: int = 3,
                          dynamic_shape_info: dict[str, dict[str, list[int]]] | None = None,
                          use_calib: bool = False) -> None:
        """`paddle_serving_app.local_predict.LocalPredictor.load_model_config`, same arguments.
        Lite, XPU and Ascend are not supported here (PredictorError)."""
        if use_lite or use_xpu or use_ascend_cl:
            raise PredictorError("Paddle Lite, Kunlun XPU and Ascend are not supported by this "
                                 "runtime; use the CPU, GPU or TensorRT options")
        self.__init__(model_path, thread_num=thread_num,
                      device="trt" if use_trt else "gpu" if use_gpu else "cpu",
                      device_id=gpu_id, mem_optim=mem_optim, ir_optim=ir_optim,
                      precision=precision, use_calib=use_calib, use_mkldnn=use_mkldnn,
                      mkldnn_cache_capacity=mkldnn_cache_capacity, mkldnn_op_list=mkldnn_op_list,
                      mkldnn_bf16_op_list=mkldnn_bf16_op_list,
                      min_subgraph_size=min_subgraph_size,
                      dynamic_shape_info=dynamic_shape_info or None, use_profile=use_profile)

    @classmethod
    def from_local_service_conf(cls, local_conf: dict[str, Any], device: str = "cpu",
                                device_id: int = 0,
                                dynamic_shape_info: dict[str, dict[str, list[int]]] | None = None,
                                ) -> LocalPredictor:
        """Build from a validated `local_service_conf` dict (missing keys take defaults).

        `device` is "cpu", "gpu" or "trt" (already derived from device_type/devices).
        YAML `min_input_shape`/`max_input_shape`/`opt_input_shape` are merged with the Op
        hook's `dynamic_shape_info`; the hook wins for an input named in both.
        """
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
        defaults = PredictorOptions()

        def get(key: str) -> Any:
            value = local_conf.get(key)
            return getattr(defaults, key) if value is None else value

        return cls(
            local_conf["model_config"], thread_num=int(get("thread_num")), device=device,
            device_id=int(device_id), mem_optim=bool(get("mem_optim")),
            ir_optim=bool(get("ir_optim")), precision=str(get("precision")),
            use_calib=bool(get("use_calib")), use_mkldnn=bool(get("use_mkldnn")),
            mkldnn_cache_capacity=int(get("mkldnn_cache_capacity")),
            mkldnn_op_list=local_conf.get("mkldnn_op_list"),
            mkldnn_bf16_op_list=local_conf.get("mkldnn_bf16_op_list"),
            min_subgraph_size=int(get("min_subgraph_size")), dynamic_shape_info=merged,
            use_static=bool(get("use_static")), trt_cache_dir=local_conf.get("trt_cache_dir"),
            trt_workspace_size=int(get("trt_workspace_size")),
            trt_max_batch_size=int(get("trt_max_batch_size")),
            collect_shape_range_info=str(get("collect_shape_range_info")),
            tuned_dynamic_shape_info=str(get("tuned_dynamic_shape_info")),
            use_profile=bool(local_conf.get("use_profile") or False),
        )

    def _build_error(self, exc: BaseException, action: str = "could not be built") -> PredictorError:
        hint = _MKLDNN_HINT if self.options.use_mkldnn else (
            "check that the folder holds a Paddle inference model this Paddle version can read "
            "(paddle.jit.save / export_model.py output) and that the options suit the device"
        )
        return PredictorError(
            f"{self.model_dir}: Paddle predictor {action} (layout {self.model_files.kind}; "
            f"files: {list_dir(self.model_dir)}).\nPaddle said: {_first_lines(exc)}\n"
            f"Hint: {hint}"
        )

    def _create_predictor(self) -> Any:
        import paddle.inference as paddle_infer

        try:
            config = build_inference_config(self.model_files, self.options,
                                            mem_optim=self._mem_optim)
            return paddle_infer.create_predictor(config)
        except PredictorError as exc:
            if exc.__cause__ is None and str(self.model_dir) not in str(exc):
                raise PredictorError(f"{self.model_dir}: {exc}") from None
            raise
        except Exception as exc:
            if not (self._mem_optim and "memory_optimize_pass" in str(exc)):
                raise self._build_error(exc) from exc
        # Paddle 3 rejects enable_memory_optim() for new-IR programs: continue without it.
        with _MEM_OPTIM_LOCK:
            first = self.model_files.kind not in _MEM_OPTIM_UNSUPPORTED
            _MEM_OPTIM_UNSUPPORTED.add(self.model_files.kind)
        if first:
            logger.info("mem_optim: Paddle %s cannot apply memory optimisation to %s models; "
                        "continuing without it", _paddle_version(), self.model_files.kind)
        self._mem_optim = False
        try:
            config = build_inference_config(self.model_files, self.options, mem_optim=False)
            return paddle_infer.create_predictor(config)
        except Exception as exc:
            raise self._build_error(exc) from exc

    def _load_vars(self) -> None:
        """Read the prototxt (or fall back to the model's names) and precompute feed maps."""
        p = self._predictor
        input_names = list(p.get_input_names())
        output_names = list(p.get_output_names())
        conf_path = self.model_dir / "serving_server_conf.prototxt"
        if conf_path.is_file():
            try:
                conf = read_model_config(conf_path)
            except ModelConfigError as exc:
                raise PredictorError(str(exc)) from exc
            feed_by_name = {v.name: v for v in conf.feed_vars}
            fetch_conf = list(conf.fetch_vars)
        else:
            logger.warning("%s: no serving_server_conf.prototxt; using the model's own input and "
                           "output names as aliases", self.model_dir)
            feed_by_name, fetch_conf = {}, []
        feed_vars: list[VarInfo] = []
        for name in input_names:
            var = feed_by_name.get(name)
            if var is None:
                dtype = _handle_dtype(p.get_input_handle(name))
                var = VarInfo(name, name, DTYPE_TO_CODE.get(dtype, 1), (), False)
            feed_vars.append(var)
        if fetch_conf:
            known = set(output_names)
            fetch_vars = [v for v in fetch_conf if v.name in known]
            unknown = [v.name for v in fetch_conf if v.name not in known]
            if unknown:
                logger.warning("%s: fetch vars %s of serving_server_conf.prototxt are not model "
                               "outputs %s; ignored", self.model_dir, unknown, output_names)
        else:
            fetch_vars = [
                VarInfo(n, n, DTYPE_TO_CODE.get(_handle_dtype(p.get_output_handle(n)), 1), ())
                for n in output_names
            ]
        self._feed_vars = feed_vars
        self._fetch_vars = fetch_vars
        self._output_names = output_names
        self._feeds = [
            _Feed(
                alias=v.alias_name, name=v.name, dtype=np.dtype(v.dtype),
                reshape=(tuple(v.shape) if v.shape and not v.is_lod_tensor
                         and all(d >= 0 for d in v.shape) else None),
                lod_keys=(v.alias_name + ".lod", v.name + ".lod"),
            )
            for v in feed_vars
        ]
        self._feed_names = [v.alias_name for v in feed_vars]

    def _bind_handles(self) -> None:
        """Fetch the zero-copy handles once; they stay valid for the predictor's life."""
        p = self._predictor
        self._in_handles = [p.get_input_handle(f.name) for f in self._feeds]
        self._lod_set = [False] * len(self._feeds)
        out_handles = {n: p.get_output_handle(n) for n in self._output_names}
        self._out_positional = [(n, out_handles[n]) for n in self._output_names]
        self._fetch_by_key: dict[str, tuple[str, Any]] = {}
        for n in self._output_names:  # model names work too, keyed by themselves
            self._fetch_by_key[n] = (n, out_handles[n])
        for v in self._fetch_vars:
            self._fetch_by_key[v.alias_name] = (v.alias_name, out_handles[v.name])
        self._all_fetch = [self._fetch_by_key[v.alias_name] for v in self._fetch_vars]
        self._fetch_cache: dict[tuple[str, ...], list[tuple[str, Any]]] = {}

    # ------------------------------------------------------------------ metadata

    @property
    def memory_optim_enabled(self) -> bool:
        """Whether `enable_memory_optim()` is in effect (False where Paddle 3 rejected it)."""
        return self._mem_optim

    @property
    def feed_names(self) -> list[str]:
        """Feed alias names in the model's input order."""
        return list(self._feed_names)

    @property
    def fetch_names(self) -> list[str]:
        """Fetch alias names (prototxt order)."""
        return [v.alias_name for v in self._fetch_vars]

    @property
    def feed_vars(self) -> list[VarInfo]:
        return list(self._feed_vars)

    @property
    def fetch_vars(self) -> list[VarInfo]:
        return list(self._fetch_vars)

    # ------------------------------------------------------------------ inference

    def _resolve_fetch(self, fetch: list[str] | tuple[str, ...]) -> list[tuple[str, Any]]:
        key = tuple(fetch)
        cached = self._fetch_cache.get(key)
        if cached is not None:
            return cached
        found = [self._fetch_by_key[f] for f in key if f in self._fetch_by_key]
        missing = [f for f in key if f not in self._fetch_by_key]
        if not found and key:
            # Paddle Serving <= 0.6 models: match requested names to outputs by position.
            if len(key) > len(self._out_positional):
                raise PredictorError(
                    f"{self.model_dir}: fetch {list(key)} matches no output; available: "
                    f"{self.fetch_names} (model outputs {self._output_names})"
                )
            logger.warning("%s: fetch %s matches no output name; matching by position to %s",
                           self.model_dir, list(key), self._output_names[: len(key)])
            found = [(f, h) for f, (_, h) in zip(key, self._out_positional, strict=False)]
        elif missing:
            raise PredictorError(
                f"{self.model_dir}: unknown fetch name(s) {missing}; available: "
                f"{self.fetch_names}"
            )
        self._fetch_cache[key] = found
        return found

    def predict(self, feed: dict[str, Any], fetch: list[str] | None = None, batch: bool = True,
                log_id: int = 0) -> dict[str, np.ndarray]:
        """Run the model on `feed` ({alias: array or list}) and return {alias: ndarray}.

        Inputs are cast to the prototxt dtype; lists are reshaped to [-1, *shape];
        `batch=False` adds a leading batch axis; `<alias>.lod` keys set the input LoD.
        `fetch` selects outputs by alias (None: all); LoD outputs also return
        `<alias>.lod` (int32).
        """
        if self._predictor is None:
            raise PredictorError("LocalPredictor has no model: call load_model_config(path) first")
        for i, f in enumerate(self._feeds):
            value = feed.get(f.alias)
            if value is None:
                value = feed.get(f.name)
                if value is None:
                    raise PredictorError(
                        f"log_id {log_id}: missing feed {f.alias!r}; the model expects "
                        f"{self._feed_names} (got {sorted(feed)})"
                    )
            if isinstance(value, np.ndarray):
                arr = value if value.dtype == f.dtype else value.astype(f.dtype)
            else:
                arr = np.asarray(value, dtype=f.dtype)
                if f.reshape is not None and isinstance(value, list | tuple):
                    arr = arr.reshape((-1, *f.reshape) if batch else f.reshape)
            if not batch:
                arr = arr[np.newaxis]
            if not arr.flags.c_contiguous:
                arr = np.ascontiguousarray(arr)
            handle = self._in_handles[i]
            handle.copy_from_cpu(arr)  # also sets the shape
            lod = feed.get(f.lod_keys[0])
            if lod is None:
                lod = feed.get(f.lod_keys[1])
            if lod is not None:
                handle.set_lod([[int(x) for x in lod]])
                self._lod_set[i] = True
            elif self._lod_set[i]:
                handle.set_lod([])
                self._lod_set[i] = False
        try:
            self._predictor.run()
        except Exception as exc:
            shapes = {f.alias: list(h.shape()) for f, h in zip(self._feeds, self._in_handles,
                                                                 strict=True)}
            raise self._build_error(exc, f"failed to run (log_id {log_id}, input shapes "
                                         f"{shapes})") from exc
        targets = self._all_fetch if fetch is None else self._resolve_fetch(fetch)
        out: dict[str, np.ndarray] = {}
        for alias, handle in targets:
            arr = handle.copy_to_cpu()
            out[alias] = arr
            lod = handle.lod()
            # Paddle 3 (PIR) leaves an output's LoD from an earlier run in place: only report
            # a LoD that is consistent with this output (last offset == number of rows).
            if lod and lod[0] and arr.ndim and lod[0][-1] == arr.shape[0]:
                out[alias + ".lod"] = np.asarray(lod[0], dtype=np.int32)
        return out

    def clone(self) -> LocalPredictor:
        """A new predictor sharing this one's weights (`Predictor.clone()`), for another thread.

        If Paddle cannot clone, a fresh predictor is created from the same options.
        """
        twin = object.__new__(LocalPredictor)
        twin.model_dir = self.model_dir
        twin.options = self.options
        twin.model_files = self.model_files
        twin._mem_optim = self._mem_optim
        try:
            twin._predictor = self._predictor.clone()
        except Exception as exc:
            logger.info("%s: Predictor.clone() failed (%s); creating a new predictor",
                        self.model_dir, _first_lines(exc, 1))
            twin._predictor = twin._create_predictor()
        twin._feed_vars = self._feed_vars
        twin._fetch_vars = self._fetch_vars
        twin._output_names = self._output_names
        twin._feeds = self._feeds
        twin._feed_names = self._feed_names
        twin._bind_handles()
        return twin

    def warmup(self, batch_size: int = 1) -> bool:
        """Run one inference on dummy inputs if every feed shape is fully known.

        Zeros are fed, except `scale_factor` (ones) and `im_shape` (the image's H, W).
        Returns False (and runs nothing) when a feed shape is unknown or variable.
        """
        if any(f.reshape is None or not f.reshape or 0 in f.reshape for f in self._feeds):
            return False
        image = next((f.reshape for f in self._feeds if len(f.reshape) == 3), None)
        feed: dict[str, np.ndarray] = {}
        for f in self._feeds:
            shape = (batch_size, *f.reshape)
            if "scale_factor" in f.name:
                feed[f.alias] = np.ones(shape, dtype=f.dtype)
            elif "im_shape" in f.name and image is not None and f.reshape == (2,):
                feed[f.alias] = np.tile(np.asarray(image[1:], dtype=f.dtype), (batch_size, 1))
            else:
                feed[f.alias] = np.zeros(shape, dtype=f.dtype)
        self.predict(feed, batch=True, log_id=-1)
        return True

    def __repr__(self) -> str:
        return (f"LocalPredictor({str(self.model_dir)!r}, kind={self.model_files.kind}, "
                f"device={self.options.device}, feed={self._feed_names}, "
                f"fetch={self.fetch_names})")


def _paddle_version() -> str:
    try:
        import paddle

        return str(paddle.__version__)
    except Exception:
        return "?"
