"""Inference backends behind `LocalPredictor`: Paddle Inference (the default), OpenVINO and
ONNX Runtime (optional extras), each an `Engine` (see `base`). `create_engine` picks one by
`local_service_conf.backend`; `inference.probe` checks in a child process that a backend which might
crash the interpreter (oneDNN, a foreign runtime) builds and runs before the service loads it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from generator.runtime.errors import PredictorError
from generator.runtime.inference.backends.base import BACKENDS, Engine, Output, TensorInfo
from generator.runtime.inference.model_files import ModelFiles

if TYPE_CHECKING:
    from generator.runtime.inference.options import PredictorOptions

__all__ = ["BACKENDS", "Engine", "Output", "TensorInfo", "create_engine"]


def create_engine(files: ModelFiles, options: PredictorOptions) -> Engine:
    """Load the model in `files` on `options.backend`. Raises the backend's exception (or
    `PredictorError` for a missing package or an unsuitable model format)."""
    backend = options.backend
    if backend == "paddle":
        from generator.runtime.inference.backends.paddle_backend import PaddleEngine

        return PaddleEngine(files, options)
    if options.device != "cpu":
        raise PredictorError(f"backend {backend} runs on CPU only; set backend: paddle for "
                             f"device {options.device!r}")
    if backend == "openvino":
        from generator.runtime.inference.backends.openvino_backend import OpenVINOEngine

        return OpenVINOEngine(files, options)
    if backend == "onnxruntime":
        from generator.runtime.inference.backends.onnxruntime_backend import OnnxRuntimeEngine

        return OnnxRuntimeEngine(files.model_dir, thread_num=options.thread_num,
                                 precision=options.precision)
    raise PredictorError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
