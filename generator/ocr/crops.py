"""Crops of detected text quads, as PaddleX's OCR pipeline cuts them (`CropByPolys`, quad mode).

A quad is replaced by its minimum-area rectangle (of the integer points), whose corners are put
in the order top-left, top-right, bottom-right, bottom-left; the image is warped with a
perspective transform to a `width x height` crop (width = the longer of the top and bottom
edges, height = the longer of the left and right edges, truncated to integers; cubic
interpolation, replicated border; OpenCV 4's exact arithmetic whatever OpenCV is installed, see
`warp`). A crop at least 1.5 times as high as wide is a vertical line:
it is turned a quarter turn counter-clockwise (`np.rot90`) so the text runs left to right.
"""

from __future__ import annotations

import cv2
import numpy as np

from generator.ocr.warp import warp_perspective_cubic

#: height / width from which a crop is a vertical text line and is turned
VERTICAL_RATIO = 1.5
#: the installed OpenCV warps as PaddleX's pinned one (4.10) does
OPENCV_4 = cv2.__version__.split(".")[0] == "4"


def ordered_min_area_rect(quad: np.ndarray) -> np.ndarray:
    """The minimum-area rectangle of `quad` ([4, 2], any point order) as float32 [4, 2] in the
    order top-left, top-right, bottom-right, bottom-left."""
    rect = cv2.minAreaRect(np.asarray(quad).reshape(-1, 2).astype(np.int32))
    pts = sorted(cv2.boxPoints(rect), key=lambda p: p[0])  # the two left points first
    left = (pts[0], pts[1]) if pts[1][1] > pts[0][1] else (pts[1], pts[0])  # (top, bottom)
    right = (pts[2], pts[3]) if pts[3][1] > pts[2][1] else (pts[3], pts[2])
    return np.array([left[0], right[0], right[1], left[1]], dtype=np.float32)


def warp_quad(image: np.ndarray, corners: np.ndarray) -> np.ndarray:
    """The region of `image` inside `corners` (TL, TR, BR, BL; float32 [4, 2]) warped to an
    upright rectangle; turned a quarter turn when it is a vertical line (see VERTICAL_RATIO)."""
    c = np.asarray(corners, dtype=np.float32)
    width = int(max(np.linalg.norm(c[0] - c[1]), np.linalg.norm(c[2] - c[3])))
    height = int(max(np.linalg.norm(c[0] - c[3]), np.linalg.norm(c[1] - c[2])))
    width, height = max(width, 1), max(height, 1)
    target = np.float32([[0, 0], [width, 0], [width, height], [0, height]])
    matrix = cv2.getPerspectiveTransform(c, target)
    if OPENCV_4 or np.asarray(image).dtype != np.uint8:
        crop = cv2.warpPerspective(image, matrix, (width, height),
                                   borderMode=cv2.BORDER_REPLICATE, flags=cv2.INTER_CUBIC)
    else:  # OpenCV 5 rounds the cubic warp differently: OpenCV 4's result, in NumPy
        crop = warp_perspective_cubic(image, matrix, (width, height))
    if crop.shape[0] / crop.shape[1] >= VERTICAL_RATIO:
        crop = np.rot90(crop)
    return np.ascontiguousarray(crop)


def crop_quad(image: np.ndarray, quad: np.ndarray) -> np.ndarray:
    """The upright crop of one detected text quad (see the module docstring)."""
    return warp_quad(image, ordered_min_area_rect(quad))


def crop_quads(image: np.ndarray, quads: list[np.ndarray]) -> list[np.ndarray]:
    """`crop_quad` of each quad, in the given order."""
    return [crop_quad(image, q) for q in quads]


def rotate_180(crop: np.ndarray) -> np.ndarray:
    """A crop turned upside down (the text-line orientation model's class 1, "180_degree"),
    as PaddleX turns it: an affine rotation about (w/2, h/2) with cubic interpolation, so the
    first row and column come from outside the crop (black), not an exact flip."""
    h, w = crop.shape[:2]
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), 180, 1.0)
    cos, sin = abs(matrix[0, 0]), abs(matrix[0, 1])
    new_w, new_h = int(h * sin + w * cos), int(h * cos + w * sin)
    matrix[0, 2] += (new_w - w) / 2
    matrix[1, 2] += (new_h - h) / 2
    return cv2.warpAffine(crop, matrix, (new_w, new_h), flags=cv2.INTER_CUBIC)
