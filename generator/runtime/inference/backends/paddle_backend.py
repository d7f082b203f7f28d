"""Paddle Inference as an `Engine`, and `build_inference_config`: the single place where
`local_service_conf` options become `paddle.inference.Config` calls.

oneDNN on Paddle 3.3.1: PIR programs store `leaky_relu.negative_slope` and
`nearest_interp.scale` as doubles, and two oneDNN passes read them as floats.
`conv_activation_onednn_fuse_pass` then dereferences a null attribute (SIGSEGV) and
`onednn_placement_pass` moves `nearest_interp` to a oneDNN kernel that cannot convert the
attribute (NotImplementedError). `onednn_workaround_passes` names the passes to delete for such
a program; the other oneDNN passes (conv + BN fusions, oneDNN convs) still run. Legacy
ProgramDesc programs are not affected.
"""

from __future__ import annotations

import logging
import threading
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from generator.runtime.errors import PredictorError
from generator.runtime.inference.backends.base import RELEASES_GIL, Output, TensorInfo
from generator.runtime.inference.model_files import ModelFiles

if TYPE_CHECKING:
    from generator.runtime.inference.options import PredictorOptions

logger = logging.getLogger(__name__)

PRECISIONS = ("fp32", "fp16", "int8", "bf16")
_GPU_MEMORY_POOL_MB = 100
#: Passes deleted for PIR programs with double attributes when oneDNN is on (see module doc).
ONEDNN_DOUBLE_ATTR_PASSES = ("conv_activation_onednn_fuse_pass", "onednn_placement_pass")
#: Model kinds for which Paddle rejected enable_memory_optim() in this process.
_MEM_OPTIM_UNSUPPORTED: set[str] = set()
_MEM_OPTIM_LOCK = threading.Lock()

_PADDLE_DTYPE_NAMES = {
    "FLOAT64": "float64", "FLOAT32": "float32", "FLOAT16": "float16", "BFLOAT16": "uint16",
    "INT64": "int64", "INT32": "int32", "UINT8": "uint8", "INT8": "int8", "BOOL": "bool",
}


@lru_cache(maxsize=64)
def _has_double_attributes(program: Path, mtime_ns: int) -> bool:
    with open(program, "rb") as f:
        return b'"0.a_f64"' in f.read()


def onednn_workaround_passes(files: ModelFiles) -> tuple[str, ...]:
    """The oneDNN passes to delete so that Paddle 3.3.1 runs this program (empty if none)."""
    if files.kind != "pir_json" or files.model_file is None:
        return ()
    program = files.model_file
    if _has_double_attributes(program, program.stat().st_mtime_ns):
        return ONEDNN_DOUBLE_ATTR_PASSES
    return ()


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
    options.validate()
    precision = options.precision.lower()
    if precision not in PRECISIONS:
        logger.warning("precision %r is unknown; using fp32 (expected one of %s)",
                       options.precision, PRECISIONS)
        precision = "fp32"

    config = files.paddle_config()
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
            if options.onednn_workarounds:
                for name in onednn_workaround_passes(files):
                    config.delete_pass(name)
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


def _handle_dtype(handle: Any) -> str:
    """numpy dtype name of a Paddle tensor handle (float32 when Paddle cannot tell)."""
    try:
        return _PADDLE_DTYPE_NAMES.get(handle.type().name, "float32")
    except Exception:  # type() throws for tensors not yet allocated
        return "float32"


def _handle_shape(handle: Any) -> tuple[int, ...]:
    try:
        return tuple(int(d) for d in handle.shape())
    except Exception:  # not allocated yet
        return ()


def _declared_shapes(files: ModelFiles, side: str = "feeds") -> dict[str, tuple[int, ...]]:
    """Feed (or fetch) shapes as the program declares them (-1: dynamic); {} if it cannot be
    read (Paddle's handles only know a shape once an input was set)."""
    from generator.serving_model.program_io import ProgramReadError, read_program

    program = files.model_file or files.model_dir / "__model__"
    try:
        return {v.name: tuple(int(d) for d in v.shape)
                for v in getattr(read_program(program), side)}
    except (ProgramReadError, OSError, ValueError):
        return {}


def _paddle_version() -> str:
    try:
        import paddle

        return str(paddle.__version__)
    except Exception:
        return "?"


def create_paddle_predictor(files: ModelFiles, options: PredictorOptions) -> tuple[Any, bool]:
    """A `paddle.inference` predictor and whether memory optimisation is on.

    Paddle 3 rejects `enable_memory_optim()` for PIR programs: the predictor is then built
    without it (once per model kind and process, logged). Raises Paddle's exception on failure.
    """
    import paddle.inference as paddle_infer

    mem_optim = options.mem_optim and files.kind not in _MEM_OPTIM_UNSUPPORTED
    try:
        config = build_inference_config(files, options, mem_optim=mem_optim)
        return paddle_infer.create_predictor(config), mem_optim
    except PredictorError:
        raise
    except Exception as exc:
        if not (mem_optim and "memory_optimize_pass" in str(exc)):
            raise
    with _MEM_OPTIM_LOCK:
        first = files.kind not in _MEM_OPTIM_UNSUPPORTED
        _MEM_OPTIM_UNSUPPORTED.add(files.kind)
    if first:
        logger.info("mem_optim: Paddle %s cannot apply memory optimisation to %s models; "
                    "continuing without it", _paddle_version(), files.kind)
    config = build_inference_config(files, options, mem_optim=False)
    return paddle_infer.create_predictor(config), False


class PaddleEngine:
    """A Paddle Inference predictor with its zero-copy handles bound once."""

    backend = "paddle"
    releases_gil = RELEASES_GIL["paddle"]

    def __init__(self, files: ModelFiles, options: PredictorOptions,
                 _predictor: Any = None) -> None:
        self.files = files
        self.options = options
        if _predictor is None:
            _predictor, self.memory_optim = create_paddle_predictor(files, options)
        else:
            self.memory_optim = False
        self._predictor = _predictor
        p = _predictor
        self._in = {n: p.get_input_handle(n) for n in p.get_input_names()}
        self._out = {n: p.get_output_handle(n) for n in p.get_output_names()}
        self._lod_set: set[str] = set()

    @property
    def inputs(self) -> list[TensorInfo]:
        declared = _declared_shapes(self.files)
        return [TensorInfo(n, _handle_dtype(h), declared.get(n, ())) for n, h in self._in.items()]

    @property
    def outputs(self) -> list[TensorInfo]:
        declared = _declared_shapes(self.files, "fetches")
        return [TensorInfo(n, _handle_dtype(h), declared.get(n, ())) for n, h in self._out.items()]

    def input_shapes(self) -> dict[str, list[int]]:
        """The current shape of every input handle (for error messages)."""
        return {n: list(_handle_shape(h)) for n, h in self._in.items()}

    def run(self, inputs: dict[str, np.ndarray], lods: dict[str, list[int]],
            outputs: list[str]) -> dict[str, Output]:
        for name, arr in inputs.items():
            handle = self._in[name]
            handle.copy_from_cpu(arr)  # also sets the shape
            lod = lods.get(name)
            if lod is not None:
                handle.set_lod([[int(x) for x in lod]])
                self._lod_set.add(name)
            elif name in self._lod_set:
                handle.set_lod([])
                self._lod_set.discard(name)
        self._predictor.run()
        out: dict[str, Output] = {}
        for name in outputs:
            handle = self._out[name]
            arr = handle.copy_to_cpu()
            lod = handle.lod()
            # Paddle 3 (PIR) leaves an output's LoD from an earlier run in place: only report
            # a LoD that is consistent with this output (last offset == number of rows).
            level = lod[0] if lod and lod[0] and arr.ndim and lod[0][-1] == arr.shape[0] \
                else None
            out[name] = (arr, level)
        return out

    def clone(self) -> PaddleEngine:
        """`Predictor.clone()` (shared weights); a new predictor if Paddle cannot clone."""
        try:
            twin = PaddleEngine(self.files, self.options, _predictor=self._predictor.clone())
        except Exception as exc:
            logger.info("%s: Predictor.clone() failed (%s); creating a new predictor",
                        self.files.model_dir, str(exc).strip().splitlines()[:1])
            return PaddleEngine(self.files, self.options)
        twin.memory_optim = self.memory_optim
        return twin
