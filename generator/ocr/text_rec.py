"""PaddleOCR CTC text recognition with PaddleX's predictor semantics (resize to height 48
keeping the ratio, per-model width limits, padding; CTC decoding with the yml's dict)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from generator.toolkit import ToolkitExport, read_toolkit_export

__all__ = ["TextRecognizer"]


class TextRecognizer:
    """Feed making and output reading of a CTC text recognizer (see `generator.ocr`)."""

    input_name: str = "x"

    def __init__(self, export: ToolkitExport):
        self.export = export
        self.image_shape = (3, 48, 320)
        self.max_width = 3200

    @classmethod
    def from_model_dir(cls, model_dir: str | Path) -> TextRecognizer:
        return cls(read_toolkit_export(model_dir))

    def preprocess_batch(self, crops_bgr: Sequence[np.ndarray],
                         ) -> tuple[dict[str, np.ndarray], Any]:
        """Line images (BGR HWC uint8) -> ({input_name: [N, 3, 48, W] float32}, meta)."""
        raise NotImplementedError

    def postprocess(self, outputs: dict[str, np.ndarray] | np.ndarray, meta: Any = None,
                    ) -> list[tuple[str, float]]:
        """CTC probabilities [N, T, C] -> [(text, score)] per line."""
        raise NotImplementedError
