"""Text-line orientation (PP-LCNet_x0_25_textline_ori / _x1_0): a PaddleClas classifier of
line images into 0_degree / 180_degree, with PaddleX's predictor semantics."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from generator.toolkit import ToolkitExport, read_toolkit_export

__all__ = ["TextlineOrientation"]


class TextlineOrientation:
    """Feed making and output reading of a text-line orientation classifier."""

    input_name: str = "x"

    def __init__(self, export: ToolkitExport):
        self.export = export

    @classmethod
    def from_model_dir(cls, model_dir: str | Path) -> TextlineOrientation:
        return cls(read_toolkit_export(model_dir))

    def preprocess_batch(self, crops_bgr: Sequence[np.ndarray],
                         ) -> tuple[dict[str, np.ndarray], Any]:
        """Line images (BGR HWC uint8) -> ({input_name: [N, 3, 80, 160] float32}, meta)."""
        raise NotImplementedError

    def postprocess(self, outputs: dict[str, np.ndarray] | np.ndarray, meta: Any = None,
                    ) -> list[tuple[str, float]]:
        """Class probabilities [N, 2] -> [(label, score)]; `angle(label)` gives 0 or 180."""
        raise NotImplementedError
