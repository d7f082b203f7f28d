"""OpenVINO as an `Engine`: reads the legacy Paddle program (`*.pdmodel` + `*.pdiparams`)
with OpenVINO's Paddle frontend, which runs `multiclass_nms3` natively at any batch size and
releases the GIL during inference.

OpenVINO cannot read PIR `model.json` programs; for those it reads the `model.onnx` converted
next to them (`generator.export.onnx_export.convert_to_onnx`, with the PIR misreads corrected),
speaking the Paddle names stored in its metadata (batch 1 only where the ONNX graph is). Its default precision on CPUs with bf16 units
is bfloat16, which changes outputs; fp32 is requested explicitly unless `precision: bf16`.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

import numpy as np

from generator.runtime.errors import PredictorError
from generator.runtime.inference.backends.base import (
    RELEASES_GIL,
    FixedSignature,
    Output,
    TensorInfo,
)
from generator.runtime.inference.backends.onnx_names import ONNX_FILENAME, read_name_mapping
from generator.runtime.inference.model_files import ModelFiles

if TYPE_CHECKING:
    from generator.runtime.inference.options import PredictorOptions

PRECISION_HINTS = {"fp32": "f32", "bf16": "bf16"}
_CACHE: dict[tuple[Any, ...], Any] = {}
_CACHE_LOCK = threading.Lock()


def _compiled_model(files: ModelFiles, options: PredictorOptions) -> tuple[Any, Any]:
    """One compiled model per (program, threads, precision) and process, shared by clones,
    with the ONNX name mapping (None for a Paddle program)."""
    try:
        import openvino as ov
    except ImportError as exc:
        raise PredictorError(
            "backend openvino needs the openvino package: pip install "
            "'paddle-serving-scaffold[openvino]' (or set backend: paddle)") from exc
    program = files.model_file
    if files.kind != "pdmodel" or program is None:
        program = files.model_dir / ONNX_FILENAME
        if not program.is_file():
            raise PredictorError(
                f"{files.model_dir}: backend openvino reads legacy Paddle programs (*.pdmodel + "
                f"*.pdiparams) or an ONNX conversion ({ONNX_FILENAME}); this folder holds a "
                f"{files.kind} model only. Convert it with `scaffold export --format onnx`, "
                "export it with `scaffold export --model_format legacy` (or let `scaffold new "
                "--backend openvino` do either), or set backend: paddle")
    precision = options.precision.lower()
    if precision not in PRECISION_HINTS:
        raise PredictorError(
            f"backend openvino supports precision {' or '.join(PRECISION_HINTS)}, not "
            f"{options.precision!r}")
    streams = max(1, options.streams)
    key = (str(program), program.stat().st_mtime_ns, options.thread_num, precision, streams)
    with _CACHE_LOCK:
        compiled = _CACHE.get(key)
        if compiled is None:
            core = ov.Core()
            model = core.read_model(str(program))
            mapping = _onnx_mapping(model)
            # thread-mode instances share this compiled model: one stream each (a stream
            # runs one request at a time), `thread_num` threads per stream
            compiled = core.compile_model(model, "CPU", {
                "INFERENCE_PRECISION_HINT": PRECISION_HINTS[precision],
                "INFERENCE_NUM_THREADS": int(options.thread_num) * streams,
                **({"NUM_STREAMS": streams} if streams > 1 else {"PERFORMANCE_HINT": "LATENCY"}),
            })
            compiled = _CACHE[key] = (compiled, mapping)
    return compiled


def _onnx_mapping(model: Any) -> Any:
    """The Paddle name mapping `convert_to_onnx` stored in an ONNX model's metadata (OpenVINO
    keeps `metadata_props` under rt_info "framework"), or None."""
    try:
        info = model.get_rt_info()
        framework = info["framework"] if "framework" in info else None
    except Exception:  # noqa: BLE001 - no metadata: a Paddle program or a foreign ONNX file
        return None
    if not framework:
        return None
    try:
        return read_name_mapping({k: v.astype(str) for k, v in framework.items()})
    except (AttributeError, KeyError, ValueError):
        return None


def _dims(partial_shape: Any) -> tuple[int, ...]:
    return tuple(d.get_length() if d.is_static else -1 for d in partial_shape)


def _dtype(element_type: Any) -> str:
    return np.dtype(element_type.to_dtype()).name


class OpenVINOEngine(FixedSignature):
    """A compiled OpenVINO model and one infer request (clones get their own request)."""

    backend = "openvino"
    releases_gil = RELEASES_GIL["openvino"]

    def __init__(self, files: ModelFiles, options: PredictorOptions,
                 _compiled: Any = None) -> None:
        self.files = files
        self.options = options
        self._shared = _compiled if _compiled is not None else _compiled_model(files, options)
        self._compiled, mapping = self._shared
        self._request = self._compiled.create_infer_request()
        self._inputs = [TensorInfo(p.get_any_name(), _dtype(p.get_element_type()),
                                   _dims(p.get_partial_shape())) for p in self._compiled.inputs]
        self._outputs = []
        self._port: dict[str, int] = {}
        rename = {m.onnx_name: m.paddle_name for m in mapping.outputs} if mapping else {}
        #: Paddle's dtype where the ONNX graph's differs (int64 counts for int32 ones)
        self._cast: dict[int, np.dtype] = {}
        for i, port in enumerate(self._compiled.outputs):
            names = sorted(port.get_names())
            main = rename.get(port.get_any_name(), port.get_any_name())
            dtype = _dtype(port.get_element_type())
            m = next((m for m in mapping.outputs if m.paddle_name == main), None) \
                if mapping else None
            if m is not None and m.dtype != dtype:
                self._cast[i], dtype = np.dtype(m.dtype), m.dtype
            self._outputs.append(TensorInfo(main, dtype, _dims(port.get_partial_shape()),
                                            tuple(n for n in names if n != main)))
            for n in [main, *names]:
                self._port[n] = i
        #: the largest batch the ONNX graph runs (1 with multiclass_nms3), None: any
        self.max_batch_size = mapping.max_batch_size if mapping else None
        self.memory_optim = False

    def input_shapes(self) -> dict[str, list[int]]:
        """The declared input shapes (-1: dynamic), for error messages."""
        return {t.name: list(t.shape) for t in self._inputs}

    def run(self, inputs: dict[str, np.ndarray], lods: dict[str, list[int]],
            outputs: list[str]) -> dict[str, Output]:
        self.refuse_lod(lods)
        if self.max_batch_size is not None:
            for name, arr in inputs.items():
                if arr.ndim and arr.shape[0] > self.max_batch_size:
                    raise PredictorError(
                        f"backend openvino: this ONNX model runs batch size <= "
                        f"{self.max_batch_size} (paddle2onnx converts multiclass_nms3 for "
                        f"batch 1 only); input {name!r} has batch {arr.shape[0]}. Send one "
                        "image per call or set backend: paddle")
        results = self._request.infer(inputs)
        out: dict[str, Output] = {}
        for name in outputs:
            i = self._port[name]
            arr = np.array(results[i])
            out[name] = (arr.astype(self._cast[i]) if i in self._cast else arr, None)
        return out

    def clone(self) -> OpenVINOEngine:
        return OpenVINOEngine(self.files, self.options, _compiled=self._shared)
