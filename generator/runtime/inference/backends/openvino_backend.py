"""OpenVINO as an `Engine`: reads the legacy Paddle program (`*.pdmodel` + `*.pdiparams`)
with OpenVINO's Paddle frontend, which runs `multiclass_nms3` natively at any batch size and
releases the GIL during inference.

OpenVINO cannot read PIR `model.json` programs: export with `--model_format legacy` (what
`scaffold new` does when it picks this backend). Its default precision on CPUs with bf16 units
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
from generator.runtime.inference.model_files import ModelFiles

if TYPE_CHECKING:
    from generator.runtime.inference.options import PredictorOptions

PRECISION_HINTS = {"fp32": "f32", "bf16": "bf16"}
_CACHE: dict[tuple[Any, ...], Any] = {}
_CACHE_LOCK = threading.Lock()


def _compiled_model(files: ModelFiles, options: PredictorOptions) -> Any:
    """One compiled model per (program, threads, precision) and process, shared by clones."""
    try:
        import openvino as ov
    except ImportError as exc:
        raise PredictorError(
            "backend openvino needs the openvino package: pip install "
            "'paddle-serving-scaffold[openvino]' (or set backend: paddle)") from exc
    if files.kind != "pdmodel" or files.model_file is None:
        raise PredictorError(
            f"{files.model_dir}: backend openvino reads legacy Paddle programs (*.pdmodel + "
            f"*.pdiparams); this folder holds a {files.kind} model. Export it with "
            "`scaffold export --model_format legacy` (or `scaffold new --backend openvino`), "
            "or set backend: paddle")
    precision = options.precision.lower()
    if precision not in PRECISION_HINTS:
        raise PredictorError(
            f"backend openvino supports precision {' or '.join(PRECISION_HINTS)}, not "
            f"{options.precision!r}")
    key = (str(files.model_file), files.model_file.stat().st_mtime_ns, options.thread_num,
           precision)
    with _CACHE_LOCK:
        compiled = _CACHE.get(key)
        if compiled is None:
            core = ov.Core()
            model = core.read_model(str(files.model_file))
            compiled = core.compile_model(model, "CPU", {
                "INFERENCE_PRECISION_HINT": PRECISION_HINTS[precision],
                "INFERENCE_NUM_THREADS": int(options.thread_num),
                "PERFORMANCE_HINT": "LATENCY",
            })
            _CACHE[key] = compiled
    return compiled


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
        self._compiled = _compiled if _compiled is not None else _compiled_model(files, options)
        self._request = self._compiled.create_infer_request()
        self._inputs = [TensorInfo(p.get_any_name(), _dtype(p.get_element_type()),
                                   _dims(p.get_partial_shape())) for p in self._compiled.inputs]
        self._outputs = []
        self._port: dict[str, int] = {}
        for i, port in enumerate(self._compiled.outputs):
            names = sorted(port.get_names())
            main = port.get_any_name()
            self._outputs.append(TensorInfo(main, _dtype(port.get_element_type()),
                                            _dims(port.get_partial_shape()),
                                            tuple(n for n in names if n != main)))
            for n in names:
                self._port[n] = i
        self.memory_optim = False

    def input_shapes(self) -> dict[str, list[int]]:
        """The declared input shapes (-1: dynamic), for error messages."""
        return {t.name: list(t.shape) for t in self._inputs}

    def run(self, inputs: dict[str, np.ndarray], lods: dict[str, list[int]],
            outputs: list[str]) -> dict[str, Output]:
        self.refuse_lod(lods)
        results = self._request.infer(inputs)
        return {name: (np.array(results[self._port[name]]), None) for name in outputs}

    def clone(self) -> OpenVINOEngine:
        return OpenVINOEngine(self.files, self.options, _compiled=self._compiled)
