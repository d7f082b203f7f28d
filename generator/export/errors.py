"""One exception hierarchy for the export layer (export, convert, parity)."""

from __future__ import annotations

import re


class ExportError(Exception):
    """Base class: the export or conversion cannot proceed. The message says what and how to fix."""

    exit_code = 1


class ConfigError(ExportError):
    """The model config (or a `-o` override) is malformed, has unknown keys or bad values."""

    exit_code = 2


class OverrideError(ConfigError):
    """A `-o key=value` override is malformed."""


class WeightsError(ExportError):
    """Weights are missing, given as a URL, or do not match the model's parameters."""


class InputSpecError(ExportError):
    """The input specs do not match the exported method's signature, or a shape is malformed."""

    exit_code = 2


class ModelBuildError(ExportError):
    """The model could not be built (factory import failed, builder raised, ...)."""


class TraceError(ExportError):
    """`paddle.jit.to_static` / `paddle.jit.save` failed on the model."""


class ParityError(ExportError):
    """The exported model's outputs differ from the dynamic model's beyond the tolerance."""

    def __init__(self, message: str, report=None) -> None:
        super().__init__(message)
        self.report = report


class ConvertError(ExportError):
    """An inference model cannot be converted to Paddle Serving folders."""

    exit_code = 2


class OnnxExportError(ExportError):
    """paddle2onnx failed, crashed or wrote an unusable model, or ONNX Runtime cannot run it."""


class OnnxParityError(ParityError, OnnxExportError):
    """The converted ONNX model's outputs differ from Paddle Inference's beyond the tolerance."""


#: name -> class, used to re-raise errors reported by the legacy-format worker process.
ERROR_CLASSES: dict[str, type[ExportError]] = {
    cls.__name__: cls
    for cls in (ExportError, ConfigError, OverrideError, WeightsError, InputSpecError,
                ModelBuildError, TraceError, ParityError, ConvertError)
}


def short_error(exc: BaseException, limit: int = 1500) -> str:
    """`Type: message`, its tail only when longer than `limit`."""
    text = f"{type(exc).__name__}: {exc}".strip()
    return text if len(text) <= limit else "..." + text[-limit:]


def legacy_trace_hint(exc: BaseException) -> str:
    """The line added to a legacy tracing error caused by a PIR/dygraph-only operator
    (`<op>(): argument (position 1) must be Value, but got Variable`), else ""."""
    text = str(exc)
    if "must be Value" not in text:
        return ""
    found = re.findall(r"(\w+)\(\): argument \(position \d+\) must be Value", text)
    op = f"operator `{found[-1]}`" if found else "this operator"
    return (f"\n{op} is not available in legacy (non-PIR) mode on Paddle 3: its Python API "
            "takes dygraph tensors or PIR values only (generator.export.legacy_ops has "
            "legacy-capable argmax, sigmoid, maximum and normalize); export with "
            "--model_format pir, which works")
