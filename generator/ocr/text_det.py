"""PaddleOCR DB text detection with PaddleX's predictor semantics (resize rule and limits per
model, NormalizeImage/ToCHWImage from inference.yml, DB post-processing with unclip)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from generator.ocr.db_postprocess import DBPostProcess
from generator.ocr.yml_ops import color_mode, first_output, normalize_params, to_color
from generator.toolkit import ToolkitExport, ToolkitExportError, read_toolkit_export

__all__ = ["DetMeta", "TextDetector", "det_resize_settings"]

#: models PaddleX resizes by the longer side (limit_type "max", default 960); any other DB
#: model gets the shorter-side rule (limit_type "min", default 736)
MAX_LIMIT_MODELS = frozenset({
    "PP-OCRv5_server_det", "PP-OCRv5_mobile_det", "PP-OCRv4_server_det", "PP-OCRv4_mobile_det",
    "PP-OCRv3_server_det", "PP-OCRv3_mobile_det",
})
#: PaddleX's default cap on the resized image's longer side
MAX_SIDE_LIMIT = 4000
_STRIDE = 32


@dataclass(frozen=True)
class DetMeta:
    """What postprocess needs of one preprocessed image: its original size and the scale."""

    src_h: int
    src_w: int
    ratio_h: float
    ratio_w: float


def det_resize_settings(export: ToolkitExport) -> dict[str, Any]:
    """PaddleX's resize settings for a DB model: `limit_side_len`/`limit_type` come from the
    model (not from the yml's own limit keys, which PaddleX ignores); `resize_long` in the yml
    sets the limit; `image_shape` (+ `keep_ratio`) in the yml selects a fixed-size resize."""
    params = export.op("DetResizeForTest") or {}
    if export.model_name in MAX_LIMIT_MODELS:
        side, kind = params.get("resize_long", 960), "max"
    else:
        side, kind = params.get("resize_long", 736), "min"
    out: dict[str, Any] = {"limit_side_len": int(side), "limit_type": kind,
                           "max_side_limit": MAX_SIDE_LIMIT}
    if "image_shape" in params:
        out["image_shape"] = [int(v) for v in params["image_shape"]]
        out["keep_ratio"] = bool(params.get("keep_ratio", False))
    return out


def _resize_limited(img: np.ndarray, side: int, kind: str, max_side: int,
                    ) -> tuple[np.ndarray, float, float]:
    """DetResizeForTest type 0: scale by the limit rule, cap the longer side at `max_side`,
    round both sides to multiples of 32 (at least 32)."""
    h, w = img.shape[:2]
    if kind == "max":
        ratio = side / (h if h > w else w) if max(h, w) > side else 1.0
    elif kind == "min":
        ratio = side / (h if h < w else w) if min(h, w) < side else 1.0
    elif kind == "resize_long":
        ratio = side / max(h, w)
    else:
        raise ToolkitExportError(f"limit_type must be max, min or resize_long, got {kind!r}")
    rh, rw = int(h * ratio), int(w * ratio)
    if max(rh, rw) > max_side:
        ratio = max_side / max(rh, rw)
        rh, rw = int(rh * ratio), int(rw * ratio)
    rh = max(int(round(rh / _STRIDE) * _STRIDE), _STRIDE)
    rw = max(int(round(rw / _STRIDE) * _STRIDE), _STRIDE)
    if rh == h and rw == w:
        return img, 1.0, 1.0
    return cv2.resize(img, (rw, rh)), rh / h, rw / w


def _resize_fixed(img: np.ndarray, shape: list[int], keep_ratio: bool,
                  ) -> tuple[np.ndarray, float, float]:
    """DetResizeForTest type 1: to `image_shape` (h, w); `keep_ratio` keeps the ratio with
    the width rounded up to a multiple of 32."""
    rh, rw = shape[-2], shape[-1]
    h, w = img.shape[:2]
    if keep_ratio:
        rw = int(np.ceil(w * rh / h / _STRIDE) * _STRIDE)
    if rh == h and rw == w:
        return img, 1.0, 1.0
    return cv2.resize(img, (int(rw), int(rh))), rh / h, rw / w


class TextDetector:
    """Feed making and output reading of a DB text detector (see `generator.ocr`)."""

    input_name: str = "x"

    def __init__(self, export: ToolkitExport, *, thresh: float | None = None,
                 box_thresh: float | None = None, unclip_ratio: float | None = None,
                 limit_side_len: int | None = None, limit_type: str | None = None,
                 max_side_limit: int | None = None):
        if export.kind != "text_detection":
            raise ToolkitExportError(f"{export.source}: a {export.kind} model, not text "
                                     "detection")
        self.export = export
        self.model_name = export.model_name
        self.color = color_mode(export)
        self.resize = det_resize_settings(export)
        for key, value in (("limit_side_len", limit_side_len), ("limit_type", limit_type),
                           ("max_side_limit", max_side_limit)):
            if value is not None:
                self.resize[key] = value
        norm = export.op("NormalizeImage")
        self.alpha, self.beta = normalize_params(norm if norm is not None else {})
        post = export.postprocess
        self.post = DBPostProcess(
            thresh=thresh or float(post.get("thresh", 0.3)),
            box_thresh=box_thresh or float(post.get("box_thresh", 0.6)),
            unclip_ratio=unclip_ratio or float(post.get("unclip_ratio", 2.0)),
            max_candidates=int(post.get("max_candidates", 1000)),
            use_dilation=bool(post.get("use_dilation", False)),
            score_mode=str(post.get("score_mode", "fast")),
            box_type=str(post.get("box_type", "quad")),
        )

    @classmethod
    def from_model_dir(cls, model_dir: str | Path, **kwargs: Any) -> TextDetector:
        return cls(read_toolkit_export(model_dir), **kwargs)

    def sample_feed(self, image_bgr: np.ndarray) -> tuple[dict[str, np.ndarray], DetMeta]:
        """The feed for one image (same as `preprocess`)."""
        return self.preprocess(image_bgr)

    def resize_image(self, img: np.ndarray) -> tuple[np.ndarray, DetMeta]:
        """The image resized as PaddleX's DetResizeForTest does (tiny images padded first)."""
        src_h, src_w = img.shape[:2]
        if src_h + src_w < 64:  # padded with black to at least 32 x 32
            pad = np.zeros((max(32, src_h), max(32, src_w), img.shape[2]), np.uint8)
            pad[:src_h, :src_w] = img
            img = pad
        r = self.resize
        if "image_shape" in r:
            out, rh, rw = _resize_fixed(img, r["image_shape"], r["keep_ratio"])
        else:
            out, rh, rw = _resize_limited(img, r["limit_side_len"], r["limit_type"],
                                          r["max_side_limit"])
        return out, DetMeta(src_h, src_w, rh, rw)

    def preprocess(self, image_bgr: np.ndarray) -> tuple[dict[str, np.ndarray], DetMeta]:
        """BGR HWC uint8 image -> ({input_name: [1, 3, H', W'] float32}, meta)."""
        img = np.asarray(image_bgr)
        if img.ndim != 3 or img.shape[2] != 3 or img.shape[0] == 0 or img.shape[1] == 0:
            raise ValueError(f"text detection expects a BGR image [H, W, 3], got shape "
                             f"{img.shape}")
        img, meta = self.resize_image(to_color(img, self.color))
        x = img.astype(np.float32) * self.alpha + self.beta
        return {self.input_name: np.ascontiguousarray(x.transpose(2, 0, 1)[None])}, meta

    def postprocess(self, outputs: dict[str, np.ndarray] | np.ndarray, meta: DetMeta,
                    ) -> list[tuple[np.ndarray, float]]:
        """The probability map [1, 1, H', W'] -> [(quad [4, 2] float32 in original pixels,
        score)], in PaddleX's order (contour order)."""
        pred = np.asarray(first_output(outputs))
        if pred.ndim == 4:
            pred = pred[0]
        if pred.ndim == 3:
            pred = pred[0]
        if pred.ndim != 2:
            raise ValueError(f"text detection output must be a map [1, 1, H, W], got shape "
                             f"{np.shape(first_output(outputs))}")
        boxes, scores = self.post(pred.astype(np.float32, copy=False), meta.src_h, meta.src_w)
        return [(np.asarray(b, dtype=np.float32).reshape(-1, 2), float(s))
                for b, s in zip(boxes, scores, strict=True)]

    def __call__(self, image_bgr: np.ndarray, run: Any) -> list[tuple[np.ndarray, float]]:
        """preprocess -> `run(feed)` (a predictor call returning outputs) -> postprocess."""
        feed, meta = self.preprocess(image_bgr)
        return self.postprocess(run(feed), meta)
