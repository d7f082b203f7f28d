"""ONNX Runtime as an `Engine`: runs the `model.onnx` that `scaffold export --format onnx`
(`generator.export.onnx_export.convert_to_onnx`) wrote next to the Paddle model after checking
it against Paddle Inference.

The engine speaks the Paddle program's feed/fetch names: the converter stores the mapping from
ONNX names in the model's metadata (an ONNX file without it is used with its own names). ONNX
Runtime releases the GIL during `run`, and `InferenceSession.run` is thread safe, so clones
share one session. fp32 only: ONNX Runtime's CPU provider has no bf16/fp16 switch for an fp32
graph, and LoD inputs do not exist in ONNX.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np

from generator.runtime.errors import PredictorError
from generator.runtime.inference.backends.base import (
    RELEASES_GIL,
    FixedSignature,
    Output,
    TensorInfo,
)
from generator.runtime.inference.backends.onnx_names import ONNX_FILENAME, read_name_mapping

#: The file the engine loads from the model directory.
PRECISIONS = ("fp32",)


def _ort() -> Any:
    try:
        import onnxruntime
    except ImportError as exc:
        raise PredictorError(
            "backend onnxruntime needs the onnxruntime package: pip install onnxruntime "
            "(or set backend: paddle)") from exc
    return onnxruntime


_ORT_TYPES = {
    "tensor(float)": "float32", "tensor(double)": "float64", "tensor(float16)": "float16",
    "tensor(int64)": "int64", "tensor(int32)": "int32", "tensor(int16)": "int16",
    "tensor(int8)": "int8", "tensor(uint8)": "uint8", "tensor(bool)": "bool",
}


def _dims(shape: Any) -> tuple[int, ...]:
    return tuple(d if isinstance(d, int) and d >= 0 else -1 for d in (shape or ()))


class OnnxRuntimeEngine(FixedSignature):
    """One ONNX Runtime `InferenceSession` on the CPU provider (clones share it)."""

    backend = "onnxruntime"
    releases_gil = RELEASES_GIL["onnxruntime"]

    def __init__(self, model_dir: Path, *, thread_num: int, precision: str = "fp32") -> None:
        self.model_dir = Path(model_dir)
        self.thread_num = int(thread_num)
        self.precision = str(precision).lower()
        if self.precision not in PRECISIONS:
            raise PredictorError(
                f"backend onnxruntime runs fp32 models only, not precision {precision!r}; set "
                "precision: fp32 (or backend: paddle / openvino for bf16)")
        path = self.model_dir / ONNX_FILENAME
        if not path.is_file():
            raise PredictorError(
                f"{path}: no ONNX model; backend onnxruntime needs one converted from the Paddle "
                "model: `scaffold export -c CONFIG --format onnx` writes serving_server/"
                f"{ONNX_FILENAME} (or call generator.export.onnx_export.convert_to_onnx on "
                "this folder), or set backend: paddle")
        ort = _ort()
        options = ort.SessionOptions()
        options.intra_op_num_threads = max(1, self.thread_num)
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        try:
            self._session = ort.InferenceSession(str(path), options,
                                                 providers=["CPUExecutionProvider"])
        except Exception as exc:
            raise PredictorError(f"{path}: ONNX Runtime cannot load the model: {exc}") from exc
        self._build_names()

    def _build_names(self) -> None:
        session = self._session
        mapping = read_name_mapping(session.get_modelmeta().custom_metadata_map)
        #: the largest batch the ONNX graph runs (1 with multiclass_nms3), None: any
        self.max_batch_size: int | None = mapping.max_batch_size if mapping else None
        paddle_in = {m.onnx_name: m for m in mapping.inputs} if mapping else {}
        paddle_out = {m.onnx_name: m for m in mapping.outputs} if mapping else {}
        self._inputs: list[TensorInfo] = []
        self._feed: list[tuple[str, str, np.dtype]] = []  # (paddle name, onnx name, onnx dtype)
        for arg in session.get_inputs():
            dtype = _ORT_TYPES.get(arg.type, "float32")
            m = paddle_in.get(arg.name)
            name = m.paddle_name if m else arg.name
            aliases = (arg.name,) if name != arg.name else ()
            self._inputs.append(TensorInfo(name, dtype, _dims(arg.shape), aliases))
            self._feed.append((name, arg.name, np.dtype(dtype)))
        self._outputs: list[TensorInfo] = []
        # output name (Paddle's or ONNX's) -> (ONNX name, Paddle's dtype where ORT's differs)
        self._fetch: dict[str, tuple[str, np.dtype | None]] = {}
        for arg in session.get_outputs():
            dtype = _ORT_TYPES.get(arg.type, "float32")
            m = paddle_out.get(arg.name)
            name = m.paddle_name if m else arg.name
            cast = None
            if m is not None and m.dtype != dtype:
                cast, dtype = np.dtype(m.dtype), m.dtype
            aliases = (arg.name,) if name != arg.name else ()
            self._outputs.append(TensorInfo(name, dtype, _dims(arg.shape), aliases))
            self._fetch[name] = (arg.name, cast)
            self._fetch.setdefault(arg.name, (arg.name, cast))

    def run(self, inputs: dict[str, np.ndarray], lods: dict[str, list[int]],
            outputs: list[str]) -> dict[str, Output]:
        self.refuse_lod(lods, ": ONNX has no LoD tensors")
        feed: dict[str, np.ndarray] = {}
        for name, onnx_name, dtype in self._feed:
            arr = inputs.get(name)
            if arr is None:
                arr = inputs.get(onnx_name)
                if arr is None:
                    raise PredictorError(f"backend onnxruntime: missing input {name!r} (got "
                                         f"{sorted(inputs)})")
            if arr.dtype != dtype:
                arr = arr.astype(dtype)
            if self.max_batch_size is not None and arr.ndim and arr.shape[0] > self.max_batch_size:
                raise PredictorError(
                    f"backend onnxruntime: this ONNX model runs batch size <= "
                    f"{self.max_batch_size} (paddle2onnx converts multiclass_nms3 for batch 1 "
                    f"only); input {name!r} has batch {arr.shape[0]}. Send one image per call "
                    "or set backend: paddle / openvino")
            feed[onnx_name] = arr
        try:
            fetch = [self._fetch[n] for n in outputs]
        except KeyError as exc:
            raise PredictorError(f"backend onnxruntime: unknown output {exc.args[0]!r}; the "
                                 f"model has {[t.name for t in self._outputs]}") from None
        results = self._session.run([f[0] for f in fetch], feed)
        return {name: (arr.astype(cast) if cast is not None else arr, None)
                for name, (_, cast), arr in zip(outputs, fetch, results, strict=True)}

    def clone(self) -> OnnxRuntimeEngine:
        """Another engine on the same `InferenceSession` (its `run` is thread safe)."""
        return copy.copy(self)
