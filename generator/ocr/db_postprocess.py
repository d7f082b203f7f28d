"""Differentiable Binarization post-processing: a text probability map -> text quads (or
polygons) in original pixels, with the semantics of PaddleX's `DBPostProcess`."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pyclipper

from generator.ocr.raster import fill_polygon

__all__ = ["DBPostProcess", "mini_box"]

_MIN_SIZE = 3


def mini_box(points: np.ndarray) -> tuple[np.ndarray, float]:
    """The minimum-area rectangle of `points` as 4 corners (top-left, top-right,
    bottom-right, bottom-left, as PaddleX orders them) and its shorter side."""
    rect = cv2.minAreaRect(points)
    corners = sorted(cv2.boxPoints(rect), key=lambda p: p[0])
    left = (corners[0], corners[1]) if corners[1][1] > corners[0][1] else \
        (corners[1], corners[0])
    right = (corners[2], corners[3]) if corners[3][1] > corners[2][1] else \
        (corners[3], corners[2])
    box = np.array([left[0], right[0], right[1], left[1]], dtype=np.float32)
    return box, float(min(rect[1]))


def _expand(points: np.ndarray, ratio: float) -> np.ndarray:
    """Offset the polygon outwards by area * ratio / perimeter (round joins)."""
    distance = cv2.contourArea(points) * ratio / cv2.arcLength(points, True)
    offset = pyclipper.PyclipperOffset()
    offset.AddPath(points, pyclipper.JT_ROUND, pyclipper.ET_CLOSEDPOLYGON)
    paths = offset.Execute(distance)
    try:
        return np.array(paths)
    except ValueError:  # several paths of different lengths: the first one
        return np.array(paths[0])


def _mean_in(score_map: np.ndarray, polygon: np.ndarray, *, rounded: bool) -> float:
    """Mean of `score_map` inside `polygon` (within its bounding box)."""
    h, w = score_map.shape[:2]
    pts = polygon.reshape(-1, 2).copy()
    if rounded:
        x0 = max(0, min(math.floor(pts[:, 0].min()), w - 1))
        x1 = max(0, min(math.ceil(pts[:, 0].max()), w - 1))
        y0 = max(0, min(math.floor(pts[:, 1].min()), h - 1))
        y1 = max(0, min(math.ceil(pts[:, 1].max()), h - 1))
    else:
        x0, x1 = (int(v) for v in np.clip([pts[:, 0].min(), pts[:, 0].max()], 0, w - 1))
        y0, y1 = (int(v) for v in np.clip([pts[:, 1].min(), pts[:, 1].max()], 0, h - 1))
    mask = np.zeros((y1 - y0 + 1, x1 - x0 + 1), dtype=np.uint8)
    pts[:, 0] -= x0
    pts[:, 1] -= y0
    fill_polygon(mask, pts.astype(np.int32))  # OpenCV 4.10's fillPoly, as PaddleX pins it
    return float(cv2.mean(score_map[y0:y1 + 1, x0:x1 + 1], mask)[0])


def _to_original(box: np.ndarray, sx: float, sy: float, width: int, height: int,
                 ) -> np.ndarray:
    """Map corners to original pixels: scaled in float64 (PaddleX's scales are float64 numpy
    scalars), rounded half to even, clipped to [0, width] x [0, height]."""
    out = box.astype(np.float64)
    out[:, 0] = np.clip(np.round(out[:, 0] * sx), 0, width)
    out[:, 1] = np.clip(np.round(out[:, 1] * sy), 0, height)
    return out.astype(np.float32)


class DBPostProcess:
    """Probability map [H, W] of the resized image -> ([boxes], [scores]) in original pixels."""

    def __init__(self, thresh: float = 0.3, box_thresh: float = 0.6,
                 max_candidates: int = 1000, unclip_ratio: float = 2.0,
                 use_dilation: bool = False, score_mode: str = "fast", box_type: str = "quad"):
        if score_mode not in ("fast", "slow"):
            raise ValueError(f"DBPostProcess score_mode must be fast or slow, got {score_mode!r}")
        if box_type not in ("quad", "poly"):
            raise ValueError(f"DBPostProcess box_type must be quad or poly, got {box_type!r}")
        self.thresh = thresh
        self.box_thresh = box_thresh
        self.max_candidates = max_candidates
        self.unclip_ratio = unclip_ratio
        self.use_dilation = use_dilation
        self.score_mode = score_mode
        self.box_type = box_type

    def __call__(self, pred: np.ndarray, src_h: int, src_w: int,
                 ) -> tuple[list[np.ndarray], list[float]]:
        pred = np.asarray(pred, dtype=np.float32)
        mask = (pred > self.thresh).astype(np.uint8)
        if self.use_dilation:
            mask = cv2.dilate(mask, np.ones((2, 2), np.uint8))
        contours, _ = cv2.findContours(mask * 255, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
        sx, sy = src_w / pred.shape[1], src_h / pred.shape[0]
        boxes, scores = [], []
        for contour in contours[:self.max_candidates]:
            found = self._quad(pred, contour) if self.box_type == "quad" else \
                self._poly(pred, contour)
            if found is not None:
                box, score = found
                boxes.append(_to_original(box, sx, sy, src_w, src_h))
                scores.append(score)
        return boxes, scores

    def _quad(self, pred: np.ndarray, contour: np.ndarray) -> tuple[np.ndarray, float] | None:
        box, short = mini_box(contour)
        if short < _MIN_SIZE:
            return None
        score = _mean_in(pred, box, rounded=True) if self.score_mode == "fast" else \
            _mean_in(pred, contour, rounded=False)
        if score < self.box_thresh:
            return None
        grown = _expand(box, self.unclip_ratio).reshape(-1, 1, 2)
        if grown.size == 0:
            return None
        box, short = mini_box(grown)
        if short < _MIN_SIZE + 2:
            return None
        return box, score

    def _poly(self, pred: np.ndarray, contour: np.ndarray) -> tuple[np.ndarray, float] | None:
        approx = cv2.approxPolyDP(contour, 0.002 * cv2.arcLength(contour, True), True)
        points = approx.reshape(-1, 2)
        if points.shape[0] < 4:
            return None
        score = _mean_in(pred, points, rounded=True)
        if score < self.box_thresh:
            return None
        grown = _expand(points, self.unclip_ratio)
        if len(grown) > 1 or grown.size == 0:
            return None
        grown = grown.reshape(-1, 2)
        _, short = mini_box(grown.reshape(-1, 1, 2))
        if short < _MIN_SIZE + 2:
            return None
        return grown, score
