"""Paddle Serving's OCR detection operators: `DBPostProcess` (DB text detector probability map
-> quadrilaterals), `FilterBoxes`, `SortedBoxes`, `GetRotateCropImage`.

Compatibility notes: `DBPostProcess` returns, per image, an int16 array of boxes `[k, 4, 2]`
(coordinates truncated after dividing by the resize ratios, as Paddle Serving did) or an empty
list; `params["min_size"]` is honoured (Paddle Serving ignored it and always used 3, the value
its examples pass). `GetRotateCropImage` does not modify the `points` passed to it (Paddle
Serving shifted them in place, which is why its examples deep-copied the boxes first)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import cv2
import numpy as np

__all__ = ["DBPostProcess", "FilterBoxes", "GetRotateCropImage", "SortedBoxes"]


class DBPostProcess:
    """Differentiable Binarization post-processing.

    `params`: `thresh` (binarisation of the probability map), `box_thresh` (minimum mean
    probability inside a box), `max_candidates`, `unclip_ratio` (polygon expansion:
    `distance = area * ratio / perimeter`), `min_size` (default 3).
    Call as `post(pred, ratio_list)` with `pred` [N, 1, H, W] and `ratio_list` [[ratio_h,
    ratio_w], ...] (resized / original) -> list of boxes per image in original pixels."""

    def __init__(self, params: Mapping[str, Any]):
        missing = [k for k in ("thresh", "box_thresh", "max_candidates", "unclip_ratio")
                   if k not in params]
        if missing:
            raise KeyError(f"DBPostProcess params lack {missing}; e.g. {{'thresh': 0.3, "
                           "'box_thresh': 0.6, 'max_candidates': 1000, 'unclip_ratio': 1.5, "
                           "'min_size': 3}")
        self.thresh = float(params["thresh"])
        self.box_thresh = float(params["box_thresh"])
        self.max_candidates = int(params["max_candidates"])
        self.unclip_ratio = float(params["unclip_ratio"])
        self.min_size = params.get("min_size", 3)

    @staticmethod
    def get_mini_boxes(contour: np.ndarray) -> tuple[list[np.ndarray], float]:
        """Minimum-area rectangle of a contour as 4 points ordered top-left, top-right,
        bottom-right, bottom-left, and its short side length."""
        rect = cv2.minAreaRect(contour)
        pts = sorted(cv2.boxPoints(rect).tolist(), key=lambda p: p[0])
        left = (pts[0], pts[1]) if pts[1][1] > pts[0][1] else (pts[1], pts[0])
        right = (pts[2], pts[3]) if pts[3][1] > pts[2][1] else (pts[3], pts[2])
        # left = (top-left, bottom-left), right = (top-right, bottom-right)
        box = [np.array(left[0]), np.array(right[0]), np.array(right[1]), np.array(left[1])]
        return box, min(rect[1])

    @staticmethod
    def box_score_fast(bitmap: np.ndarray, box: np.ndarray) -> float:
        """Mean of `bitmap` inside the polygon `box` (k x 2 points)."""
        h, w = bitmap.shape[:2]
        box = np.array(box, dtype=np.float64)
        xmin = int(np.clip(np.floor(box[:, 0].min()), 0, w - 1))
        xmax = int(np.clip(np.ceil(box[:, 0].max()), 0, w - 1))
        ymin = int(np.clip(np.floor(box[:, 1].min()), 0, h - 1))
        ymax = int(np.clip(np.ceil(box[:, 1].max()), 0, h - 1))
        mask = np.zeros((ymax - ymin + 1, xmax - xmin + 1), dtype=np.uint8)
        box[:, 0] -= xmin
        box[:, 1] -= ymin
        cv2.fillPoly(mask, box.reshape(1, -1, 2).astype(np.int32), 1)
        return float(cv2.mean(bitmap[ymin:ymax + 1, xmin:xmax + 1], mask)[0])

    def unclip(self, box: np.ndarray) -> np.ndarray:
        """Expand a polygon by `area * unclip_ratio / perimeter` (rounded joins)."""
        import pyclipper
        from shapely.geometry import Polygon

        poly = Polygon(box)
        distance = poly.area * self.unclip_ratio / poly.length
        offset = pyclipper.PyclipperOffset()
        offset.AddPath([tuple(p) for p in np.asarray(box).tolist()], pyclipper.JT_ROUND,
                       pyclipper.ET_CLOSEDPOLYGON)
        return np.array(offset.Execute(distance))

    def boxes_from_bitmap(self, pred: np.ndarray, bitmap: np.ndarray, dest_width: int,
                          dest_height: int) -> tuple[np.ndarray, np.ndarray]:
        """Boxes (int16 [k, 4, 2], in `dest_*` pixels) and scores from one binarised map."""
        height, width = bitmap.shape
        contours, _ = cv2.findContours((bitmap * 255).astype(np.uint8), cv2.RETR_LIST,
                                       cv2.CHAIN_APPROX_SIMPLE)[-2:]
        num = min(len(contours), self.max_candidates)
        boxes = np.zeros((num, 4, 2), dtype=np.int16)
        scores = np.zeros((num,), dtype=np.float32)
        for index in range(num):
            points, sside = self.get_mini_boxes(contours[index])
            if sside < self.min_size:
                continue
            points = np.array(points)
            score = self.box_score_fast(pred, points.reshape(-1, 2))
            if self.box_thresh > score:
                continue
            expanded = self.unclip(points).reshape(-1, 1, 2)
            if expanded.size == 0:
                continue
            box, sside = self.get_mini_boxes(expanded.astype(np.float32))
            if sside < self.min_size + 2:
                continue
            box = np.array(box)
            box[:, 0] = np.clip(np.round(box[:, 0] / width * dest_width), 0, dest_width)
            box[:, 1] = np.clip(np.round(box[:, 1] / height * dest_height), 0, dest_height)
            boxes[index] = box.astype(np.int16)
            scores[index] = score
        return boxes, scores

    def __call__(self, pred: np.ndarray, ratio_list: Sequence[Sequence[float]]) -> list[Any]:
        pred = np.asarray(pred)
        if pred.ndim != 4:
            raise ValueError(f"DBPostProcess expects the det map as [N, 1, H, W], got shape "
                             f"{pred.shape}")
        pred = pred[:, 0, :, :]
        segmentation = pred > self.thresh
        boxes_batch: list[Any] = []
        for b in range(pred.shape[0]):
            height, width = pred.shape[-2:]
            tmp_boxes, tmp_scores = self.boxes_from_bitmap(pred[b], segmentation[b], width,
                                                           height)
            kept = [tmp_boxes[k] for k in range(len(tmp_boxes)) if tmp_scores[k] > self.box_thresh]
            if kept:
                boxes = np.array(kept)
                ratio_h, ratio_w = ratio_list[b]
                boxes[:, :, 0] = boxes[:, :, 0] / ratio_w
                boxes[:, :, 1] = boxes[:, :, 1] / ratio_h
                boxes_batch.append(boxes)
            else:
                boxes_batch.append([])
        return boxes_batch

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(thresh={self.thresh}, box_thresh={self.box_thresh}, "
                f"max_candidates={self.max_candidates}, unclip_ratio={self.unclip_ratio}, "
                f"min_size={self.min_size})")


class FilterBoxes:
    """Order each box's points clockwise from top-left, clip them into the image and drop
    boxes whose width <= `width` or height <= `height`. Call as `(boxes, image_shape)`."""

    def __init__(self, width: int, height: int):
        self.filter_width = width
        self.filter_height = height

    @staticmethod
    def order_points_clockwise(pts: np.ndarray) -> np.ndarray:
        """4 points -> [top-left, top-right, bottom-right, bottom-left] float32."""
        pts = np.asarray(pts)
        x_sorted = pts[np.argsort(pts[:, 0], kind="stable"), :]
        left, right = x_sorted[:2], x_sorted[2:]
        tl, bl = left[np.argsort(left[:, 1], kind="stable")]
        tr, br = right[np.argsort(right[:, 1], kind="stable")]
        return np.array([tl, tr, br, bl], dtype=np.float32)

    @staticmethod
    def clip_det_res(points: np.ndarray, img_height: int, img_width: int) -> np.ndarray:
        """Clip to [0, w-1] x [0, h-1] and truncate to integers (in place)."""
        for pno in range(points.shape[0]):
            points[pno, 0] = int(min(max(points[pno, 0], 0), img_width - 1))
            points[pno, 1] = int(min(max(points[pno, 1], 0), img_height - 1))
        return points

    def __call__(self, dt_boxes: Any, image_shape: Sequence[int]) -> np.ndarray:
        img_height, img_width = image_shape[0:2]
        kept = []
        for box in dt_boxes:
            box = self.clip_det_res(self.order_points_clockwise(box), img_height, img_width)
            rect_width = int(np.linalg.norm(box[0] - box[1]))
            rect_height = int(np.linalg.norm(box[0] - box[3]))
            if rect_width <= self.filter_width or rect_height <= self.filter_height:
                continue
            kept.append(box)
        return np.array(kept)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(filter_width={self.filter_width}, "
                f"filter_height={self.filter_height})")


class SortedBoxes:
    """Sort boxes top-to-bottom, then left-to-right within a line (first points closer than
    10 px vertically are swapped when out of x order, one pass). Returns a list."""

    def __call__(self, dt_boxes: Any) -> list[np.ndarray]:
        boxes = sorted(list(dt_boxes), key=lambda b: (b[0][1], b[0][0]))
        for i in range(len(boxes) - 1):
            if (abs(boxes[i + 1][0][1] - boxes[i][0][1]) < 10
                    and boxes[i + 1][0][0] < boxes[i][0][0]):
                boxes[i], boxes[i + 1] = boxes[i + 1], boxes[i]
        return boxes

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class GetRotateCropImage:
    """Perspective-crop the quadrilateral `points` (tl, tr, br, bl) out of `img`; crops at
    least 1.5 times taller than wide are rotated 90 degrees (vertical text)."""

    def __call__(self, img: np.ndarray, points: np.ndarray) -> np.ndarray:
        points = np.array(points, dtype=np.float32)  # copy: the caller's boxes stay intact
        left = int(np.min(points[:, 0]))
        right = int(np.max(points[:, 0]))
        top = int(np.min(points[:, 1]))
        bottom = int(np.max(points[:, 1]))
        img_crop = img[top:bottom, left:right, :].copy()
        points[:, 0] -= left
        points[:, 1] -= top
        crop_w = int(np.linalg.norm(points[0] - points[1]))
        crop_h = int(np.linalg.norm(points[0] - points[3]))
        if crop_w <= 0 or crop_h <= 0:
            raise ValueError(f"cannot crop a degenerate box {points.tolist()} ({crop_w}x{crop_h})")
        pts_std = np.float32([[0, 0], [crop_w, 0], [crop_w, crop_h], [0, crop_h]])
        matrix = cv2.getPerspectiveTransform(points, pts_std)
        dst = cv2.warpPerspective(img_crop, matrix, (crop_w, crop_h),
                                  borderMode=cv2.BORDER_REPLICATE)
        if dst.shape[0] * 1.0 / dst.shape[1] >= 1.5:
            dst = np.rot90(dst)
        return dst

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"
