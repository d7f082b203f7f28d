"""Text-line orientation (PP-LCNet_x0_25_textline_ori / _x1_0): a PaddleClas classifier of
line images into 0_degree / 180_degree, with PaddleX's predictor semantics (RGB, the yml's
ResizeImage / NormalizeImage / ToCHWImage, top-1 of the Topk label list)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from generator.ocr.yml_ops import first_output
from generator.preprocess import PreprocessConfigError, build_preprocess
from generator.toolkit import ToolkitExport, ToolkitExportError, read_toolkit_export

__all__ = ["TextlineOrientation", "angle_of"]

#: PaddleX's label names of the two classes
DEFAULT_LABELS = ("0_degree", "180_degree")
_ANGLE = re.compile(r"^(\d+)_degree$")


def angle_of(label: str) -> int | None:
    """0 / 180 from a label "0_degree" / "180_degree"; None for a label of another form."""
    match = _ANGLE.match(str(label))
    return int(match.group(1)) if match else None


class TextlineOrientation:
    """Feed making and output reading of a text-line orientation classifier."""

    input_name: str = "x"

    def __init__(self, export: ToolkitExport):
        if export.kind != "textline_orientation":
            raise ToolkitExportError(f"{export.source}: a {export.kind} model, not text-line "
                                     "orientation")
        self.export = export
        self.model_name = export.model_name
        try:
            self.preprocessor = build_preprocess(export.preprocess, "ppcls")
        except PreprocessConfigError as exc:
            raise ToolkitExportError(f"{export.source}: {exc}") from None
        post = export.postprocess
        topk = post if post.get("name") == "Topk" else post.get("Topk") or {}
        self.labels = [str(v) for v in (topk.get("label_list") or DEFAULT_LABELS)]

    @classmethod
    def from_model_dir(cls, model_dir: str | Path) -> TextlineOrientation:
        return cls(read_toolkit_export(model_dir))

    def sample_feed(self, image_bgr: np.ndarray) -> tuple[dict[str, np.ndarray], Any]:
        """The feed for one line image."""
        return self.preprocess_batch([image_bgr])

    def preprocess_batch(self, crops_bgr: Sequence[np.ndarray],
                         ) -> tuple[dict[str, np.ndarray], Any]:
        """Line images (BGR HWC uint8) -> ({input_name: [N, 3, 80, 160] float32}, None)."""
        if not len(crops_bgr):
            raise ValueError("text-line orientation needs at least one line image")
        chws = []
        for i, crop in enumerate(crops_bgr):
            img = np.asarray(crop)
            if img.ndim != 3 or img.shape[2] != 3 or img.shape[0] == 0 or img.shape[1] == 0:
                raise ValueError(f"line image #{i} must be [H, W, 3] with H, W > 0, got shape "
                                 f"{img.shape}")
            chws.append(self.preprocessor(cv2.cvtColor(img, cv2.COLOR_BGR2RGB))[0])
        return {self.input_name: np.stack(chws).astype(np.float32, copy=False)}, None

    def postprocess(self, outputs: dict[str, np.ndarray] | np.ndarray, meta: Any = None,
                    ) -> list[tuple[str, float]]:
        """Class probabilities [N, C] -> [(label, score)] of the top class, the score rounded
        to 5 decimals as PaddleX does; `angle_of(label)` gives 0 or 180."""
        probs = np.asarray(first_output(outputs))
        probs = probs.reshape(probs.shape[0], -1)
        out = []
        for row in probs:
            best = int(np.argsort(-row, kind="stable")[0])
            label = self.labels[best] if best < len(self.labels) else str(best)
            out.append((label, round(float(row[best]), 5)))  # PaddleX's Topk rounds to 5
        return out

    def __call__(self, crops_bgr: Sequence[np.ndarray], run: Any) -> list[tuple[str, float]]:
        feed, meta = self.preprocess_batch(crops_bgr)
        return self.postprocess(run(feed), meta)
