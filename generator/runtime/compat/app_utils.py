"""`paddle_serving_app.utils`: `Arr2Image`, JPEG/PNG bytes as a uint8 array -> BGR image."""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["Arr2Image"]


class Arr2Image:
    """Decode an encoded image held in a 1-D uint8 array with `cv2.imdecode` (BGR, HWC)."""

    def __call__(self, img_arr: np.ndarray) -> np.ndarray:
        return cv2.imdecode(img_arr, cv2.IMREAD_COLOR)

    def __repr__(self) -> str:
        return "Arr2Image()"
