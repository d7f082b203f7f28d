"""Polygon masks rasterized as OpenCV 4.10 `cv2.fillPoly` does (the OpenCV PaddleX 3.7.2
pins), whatever OpenCV is installed: from 4.11 on, `fillPoly` puts the span ends of sloped
edges elsewhere, which moves DB box scores by up to ~0.02.

The 4.10 rule: the outline is drawn as 8-connected lines (unchanged across versions, so
`cv2.polylines` draws it), and each row y of a non-horizontal edge (top vertex included,
bottom excluded) has x = x_top + (y - y_top) * dx in 16.16 fixed point, dx the slope
truncated toward zero; the active x's of a row are sorted and paired, and each pair fills
[(x_a + 1/2) >> 16, (x_b + 1/2) >> 16]. Exact for polygons inside the mask; vertices outside
it (OpenCV clips those edges first) are drawn without that clipping.
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["fill_polygon"]

_SHIFT = 16
_HALF = 1 << (_SHIFT - 1)


def fill_polygon(mask: np.ndarray, points: np.ndarray, value: int = 1) -> None:
    """Fill the closed polygon `points` ([N, 2] integer vertices) into the 2-D uint8 `mask`."""
    pts = np.asarray(points, dtype=np.int64).reshape(-1, 2)
    h, w = mask.shape[:2]
    cv2.polylines(mask, [pts.astype(np.int32)], True, value, 1, cv2.LINE_8)
    start, end = np.roll(pts, 1, axis=0), pts
    sloped = start[:, 1] != end[:, 1]
    start, end = start[sloped], end[sloped]
    if len(start) < 2:
        return
    num = (end[:, 0] - start[:, 0]) << _SHIFT
    den = end[:, 1] - start[:, 1]
    dx = np.abs(num) // np.abs(den) * np.sign(num) * np.sign(den)  # C's truncation
    top = np.where((start[:, 1] < end[:, 1])[:, None], start, end)
    y_top, y_end = top[:, 1], np.maximum(start[:, 1], end[:, 1])
    rows = y_end - y_top
    first = np.repeat(y_top, rows)
    ys = first + np.arange(rows.sum()) - np.repeat(np.cumsum(rows) - rows, rows)
    xs = np.repeat(top[:, 0] << _SHIFT, rows) + (ys - first) * np.repeat(dx, rows)
    order = np.lexsort((xs, ys))
    ys, xs = ys[order].reshape(-1, 2), xs[order].reshape(-1, 2)
    y = ys[:, 0]
    x1 = (xs[:, 0] + _HALF) >> _SHIFT
    x2 = (xs[:, 1] + _HALF) >> _SHIFT
    keep = (y >= 0) & (y < h) & (x1 < w) & (x2 >= 0)
    y, x1, x2 = y[keep], np.maximum(x1[keep], 0), np.minimum(x2[keep], w - 1)
    for row, a, b in zip(y.tolist(), x1.tolist(), x2.tolist(), strict=True):
        if a <= b:
            mask[row, a:b + 1] = value
