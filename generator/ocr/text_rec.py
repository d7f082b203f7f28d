"""PaddleOCR CTC text recognition with PaddleX's predictor semantics (resize to the yml's
height keeping the ratio, per-model width limits, padding; CTC decoding with the yml's dict)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from generator.ocr.yml_ops import color_mode, first_output, to_color
from generator.toolkit import ToolkitExport, ToolkitExportError, read_toolkit_export

__all__ = ["CTCDecoder", "RecMeta", "TextRecognizer", "resize_norm_line"]

#: PaddleX's cap on a line image's width after resizing (wider lines are squeezed)
MAX_WIDTH = 3200


@dataclass(frozen=True)
class RecMeta:
    """Of one preprocessed batch: each line's width / height ratio and the batch width."""

    wh_ratios: tuple[float, ...]
    width: int


def resize_norm_line(img: np.ndarray, image_shape: Sequence[int],
                     max_width: int = MAX_WIDTH) -> np.ndarray:
    """One line image (HWC uint8) -> CHW float32 of height `image_shape[1]`: the width keeps
    the ratio (rounded up), the target width is `height * max(W/H of image_shape, w/h)`
    capped at `max_width` (then the line is squeezed to it), values (x/255 - 0.5) / 0.5,
    zero-padded on the right."""
    channels, height, width = (int(v) for v in image_shape[:3])
    if img.shape[2] != channels:
        raise ValueError(f"the line image has {img.shape[2]} channels, the model takes "
                         f"{channels}")
    h, w = img.shape[:2]
    ratio = w / float(h)
    target = int(height * max(width / height, ratio))
    if target > max_width:
        resized, resized_w, target = cv2.resize(img, (max_width, height)), max_width, max_width
    else:
        resized_w = min(target, int(math.ceil(height * ratio)))
        resized = cv2.resize(img, (resized_w, height))
    x = resized.astype(np.float32).transpose(2, 0, 1) / 255
    x -= 0.5
    x /= 0.5
    out = np.zeros((channels, height, target), dtype=np.float32)
    out[:, :, :resized_w] = x
    return out


class CTCDecoder:
    """CTC greedy decoding as PaddleX does: argmax per step, repeats merged, blank (0)
    dropped; characters = ["blank"] + dict + [" "]; score = mean probability of the kept steps
    (0.0 for an empty text)."""

    def __init__(self, character_dict: Sequence[str] | str, use_space_char: bool = True):
        chars = list(character_dict) if isinstance(character_dict, str) else \
            [str(c) for c in character_dict]
        if use_space_char:
            chars.append(" ")
        self.characters = ["blank", *chars]

    def __call__(self, probs: np.ndarray) -> list[tuple[str, float]]:
        preds = np.asarray(probs)
        if preds.ndim != 3:
            raise ValueError(f"text recognition output must be [N, T, C], got shape "
                             f"{preds.shape}")
        if preds.shape[2] > len(self.characters):
            raise ValueError(
                f"the model has {preds.shape[2]} classes but the dictionary gives "
                f"{len(self.characters)} (blank + {len(self.characters) - 2} characters + "
                "space); the inference.yml character_dict does not belong to this model")
        idx = preds.argmax(axis=-1)
        best = preds.max(axis=-1)
        results = []
        for row, prob in zip(idx, best, strict=True):
            keep = np.ones(len(row), dtype=bool)
            keep[1:] = row[1:] != row[:-1]
            keep &= row != 0
            text = "".join(self.characters[i] for i in row[keep])
            kept = prob[keep]
            results.append((text, float(np.mean(kept)) if kept.size else 0.0))
        return results


class TextRecognizer:
    """Feed making and output reading of a CTC text recognizer (see `generator.ocr`)."""

    input_name: str = "x"

    def __init__(self, export: ToolkitExport, *, max_width: int = MAX_WIDTH):
        if export.kind != "text_recognition":
            raise ToolkitExportError(f"{export.source}: a {export.kind} model, not text "
                                     "recognition")
        self.export = export
        self.model_name = export.model_name
        self.color = color_mode(export)
        resize = export.op("RecResizeImg")
        shape = (resize or {}).get("image_shape")
        if not (isinstance(shape, Sequence) and len(shape) >= 3):
            raise ToolkitExportError(
                f"{export.source}: PreProcess has no RecResizeImg with image_shape [C, H, W] "
                "(PaddleOCR's exporter writes it, e.g. [3, 48, 320])")
        self.image_shape = tuple(int(v) for v in shape[:3])
        self.max_width = int(max_width)
        # PaddleX always appends the space (a model trained without it never predicts it)
        self.decoder = CTCDecoder(export.postprocess["character_dict"])

    @classmethod
    def from_model_dir(cls, model_dir: str | Path, **kwargs: Any) -> TextRecognizer:
        return cls(read_toolkit_export(model_dir), **kwargs)

    def sample_feed(self, image_bgr: np.ndarray) -> tuple[dict[str, np.ndarray], RecMeta]:
        """The feed for one line image."""
        return self.preprocess_batch([image_bgr])

    @property
    def max_wh_ratio(self) -> float:
        """W/H of the yml's image_shape: narrower lines are padded to it."""
        return self.image_shape[2] / self.image_shape[1]

    def preprocess_batch(self, crops_bgr: Sequence[np.ndarray],
                         ) -> tuple[dict[str, np.ndarray], RecMeta]:
        """Line images (BGR HWC uint8) -> ({input_name: [N, 3, H, W] float32}, meta); each
        line resized on its own, then all zero-padded to the widest (PaddleX's ToBatch)."""
        if not len(crops_bgr):
            raise ValueError("text recognition needs at least one line image")
        lines = []
        for i, crop in enumerate(crops_bgr):
            img = np.asarray(crop)
            if img.ndim != 3 or img.shape[0] <= 0 or img.shape[1] <= 0:
                raise ValueError(f"line image #{i} must be [H, W, 3] with H, W > 0, got shape "
                                 f"{img.shape}")
            lines.append(resize_norm_line(to_color(img, self.color), self.image_shape,
                                          self.max_width))
        width = max(x.shape[2] for x in lines)
        batch = np.zeros((len(lines), *lines[0].shape[:2], width), dtype=np.float32)
        for i, x in enumerate(lines):
            batch[i, :, :, :x.shape[2]] = x
        ratios = tuple(c.shape[1] / float(c.shape[0]) for c in crops_bgr)
        return {self.input_name: batch}, RecMeta(ratios, width)

    def postprocess(self, outputs: dict[str, np.ndarray] | np.ndarray, meta: Any = None,
                    ) -> list[tuple[str, float]]:
        """CTC probabilities [N, T, C] -> [(text, score)] per line."""
        return self.decoder(first_output(outputs))

    def __call__(self, crops_bgr: Sequence[np.ndarray], run: Any) -> list[tuple[str, float]]:
        """preprocess_batch -> `run(feed)` -> postprocess."""
        feed, meta = self.preprocess_batch(crops_bgr)
        return self.postprocess(run(feed), meta)
