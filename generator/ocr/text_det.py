"""PaddleOCR DB text detection with PaddleX's predictor semantics (resize rule and limits per
model, NormalizeImage/ToCHWImage from inference.yml, DB post-processing with unclip)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from generator.toolkit import ToolkitExport, read_toolkit_export

__all__ = ["TextDetector"]


class TextDetector:
    """Feed making and output reading of a DB text detector (see `generator.ocr`)."""

    input_name: str = "x"

    def __init__(self, export: ToolkitExport):
        self.export = export

    @classmethod
    def from_model_dir(cls, model_dir: str | Path) -> TextDetector:
        return cls(read_toolkit_export(model_dir))

    def preprocess(self, image_bgr: np.ndarray) -> tuple[dict[str, np.ndarray], Any]:
        """BGR HWC uint8 image -> ({input_name: [1, 3, H', W'] float32}, meta)."""
        raise NotImplementedError

    def postprocess(self, outputs: dict[str, np.ndarray] | np.ndarray, meta: Any,
                    ) -> list[tuple[np.ndarray, float]]:
        """The probability map -> [(quad [4, 2] float32 in original pixels, score)]."""
        raise NotImplementedError
