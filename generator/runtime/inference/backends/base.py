"""The interface every inference backend implements (Paddle Inference, OpenVINO, ONNX Runtime).

`LocalPredictor` keeps Paddle Serving's alias names, dtype casts, LoD keys and fetch selection;
an `Engine` only runs one loaded model on named arrays. Engines are not thread safe: each worker
thread uses its own `clone()`, which shares the loaded weights.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

#: The backends `local_service_conf.backend` accepts (Paddle when the key is absent).
BACKENDS = ("paddle", "openvino", "onnxruntime")

#: Whether each backend's `run` releases the GIL (measured: a Python thread keeps 30-98 % of
#: its idle rate during ONNX Runtime / OpenVINO inference, ~1 % during Paddle's). It decides how
#: an Op's copies run with `worker_kind: auto`: threads when True, processes when False.
RELEASES_GIL: dict[str, bool] = {"paddle": False, "openvino": True, "onnxruntime": True}

#: One output: its array and, for LoD tensors, the level-0 offsets (None otherwise).
Output = tuple[np.ndarray, list[int] | None]


@dataclass(frozen=True)
class TensorInfo:
    """A model input or output as the backend sees it: name, numpy dtype name, shape (-1 for
    a dynamic dimension; empty when the backend cannot tell), and other names the backend
    also accepts for it (OpenVINO keeps several tensor names for one output)."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    aliases: tuple[str, ...] = ()


class Engine(Protocol):
    """One model loaded on one backend."""

    #: backend name, one of BACKENDS
    backend: str
    #: True when `run` releases the GIL (other Python threads progress during inference)
    releases_gil: bool

    @property
    def inputs(self) -> list[TensorInfo]:
        """The model's inputs, in the model's order (names are the program's feed names)."""

    @property
    def outputs(self) -> list[TensorInfo]:
        """The model's outputs, in the model's order (names are the program's fetch names)."""

    def run(self, inputs: dict[str, np.ndarray], lods: dict[str, list[int]],
            outputs: list[str]) -> dict[str, Output]:
        """Run once on C-contiguous arrays keyed by input name (every input given, already of
        the input's dtype); `lods` maps input names to level-0 offsets. Returns the requested
        outputs by name. Raises the backend's own exception on failure."""

    def clone(self) -> Engine:
        """Another engine on the same loaded model, for another thread."""


class FixedSignature:
    """Base of engines whose inputs and outputs are known once the model is loaded (OpenVINO,
    ONNX Runtime): they set `_inputs` and `_outputs`; LoD inputs are refused."""

    backend: str
    _inputs: list[TensorInfo]
    _outputs: list[TensorInfo]

    @property
    def inputs(self) -> list[TensorInfo]:
        return list(self._inputs)

    @property
    def outputs(self) -> list[TensorInfo]:
        return list(self._outputs)

    def refuse_lod(self, lods: dict[str, list[int]], why: str = "") -> None:
        """Raise `PredictorError` if any input comes with a LoD."""
        if lods:
            from generator.runtime.errors import PredictorError

            raise PredictorError(
                f"backend {self.backend} does not take LoD inputs (got a LoD for "
                f"{sorted(lods)}){why}; set backend: paddle for this model")
