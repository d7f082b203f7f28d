"""Small readers of inference.yml PreProcess entries shared by the OCR models."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import cv2
import numpy as np

from generator.preprocess.ops_ppcls import parse_scale
from generator.toolkit import ToolkitExport, ToolkitExportError

__all__ = ["color_mode", "first_output", "normalize_params", "parse_scale", "to_color"]

_IMG_MODES = ("BGR", "RGB", "GRAY")


def color_mode(export: ToolkitExport) -> str:
    """The channel order the model was trained on: `DecodeImage.img_mode`, else RGB (what
    PaddleX reads when the yml has no DecodeImage)."""
    decode = export.op("DecodeImage")
    mode = str((decode or {}).get("img_mode", "RGB")).upper()
    if mode not in _IMG_MODES:
        raise ToolkitExportError(f"{export.source}: DecodeImage img_mode must be one of "
                                 f"{', '.join(_IMG_MODES)}, got {mode!r}")
    if (decode or {}).get("channel_first"):
        raise ToolkitExportError(f"{export.source}: DecodeImage channel_first: true is not "
                                 "supported (PaddleX requires false)")
    return mode


def to_color(image_bgr: np.ndarray, mode: str) -> np.ndarray:
    """A BGR image in the model's channel order (GRAY: left as given, as PaddleX does for
    arrays)."""
    return cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB) if mode == "RGB" else image_bgr


def normalize_params(params: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """NormalizeImage (scale, mean, std) as per-channel float32 (alpha, beta): x * alpha +
    beta = (x * scale - mean) / std."""
    try:
        scale = parse_scale(params.get("scale"))
    except ValueError as exc:
        raise ToolkitExportError(str(exc)) from None
    mean = params.get("mean", [0.485, 0.456, 0.406])
    std = params.get("std", [0.229, 0.224, 0.225])
    if not (isinstance(mean, Sequence) and isinstance(std, Sequence) and len(mean) == 3
            and len(std) == 3):
        raise ToolkitExportError(f"NormalizeImage mean and std must be lists of 3 numbers, got "
                                 f"mean={mean!r} std={std!r}")
    alpha = np.array([scale / float(s) for s in std], dtype=np.float32)
    beta = np.array([-float(m) / float(s) for m, s in zip(mean, std, strict=True)],
                    dtype=np.float32)
    return alpha, beta


def first_output(outputs: Any) -> np.ndarray:
    """The model's first output from a predictor answer (dict name -> array, list, array)."""
    if isinstance(outputs, Mapping):
        arrays = [v for k, v in outputs.items() if not str(k).endswith(".lod")]
        if not arrays:
            raise ValueError("the model gave no outputs")
        return np.asarray(arrays[0])
    if isinstance(outputs, (list, tuple)):
        return np.asarray(outputs[0])
    return np.asarray(outputs)
