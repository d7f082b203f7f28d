"""`paddle_serving_app.reader.functional`: the array helpers behind the image operators."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from generator.imaging.limits import check_pixels

__all__ = ["crop", "normalize", "resize", "transpose"]


def transpose(img: np.ndarray, transpose_target: Sequence[int]) -> np.ndarray:
    """`img.transpose(transpose_target)`."""
    return img.transpose(transpose_target)


def normalize(img: np.ndarray, mean: Sequence[float], std: Sequence[float],
              channel_first: bool) -> np.ndarray:
    """`(float32(img) - mean) / std`, per channel (CHW if `channel_first`, else HWC)."""
    shape = (3, 1, 1) if channel_first else (1, 1, 3)
    out = np.array(img).astype("float32")
    out -= np.array(mean).reshape(shape)
    out /= np.array(std).reshape(shape)
    return out


def crop(img: np.ndarray, target_size: int, center: bool) -> np.ndarray:
    """A `target_size` square of an HWC image: centred, or at a random position."""
    height, width = img.shape[:2]
    if center:
        top, left = (height - target_size) // 2, (width - target_size) // 2
    else:
        left = np.random.randint(0, width - target_size + 1)
        top = np.random.randint(0, height - target_size + 1)
    return img[top:top + target_size, left:left + target_size, :]


def resize(img: np.ndarray, target_size: int | tuple[int, int], max_size: int = 2147483647,
           interpolation: int | None = None) -> np.ndarray:
    """Short side to `target_size` keeping the aspect ratio (long side capped at `max_size`),
    or exactly `(w, h)` for a tuple; `interpolation` defaults to bilinear."""
    if isinstance(target_size, tuple):
        width, height = min(target_size[0], max_size), min(target_size[1], max_size)
    else:
        long_side = max(img.shape[0], img.shape[1])
        scale = float(target_size) / min(img.shape[0], img.shape[1])
        if np.round(scale * long_side) > max_size:
            scale = float(max_size) / float(long_side)
        width, height = int(round(img.shape[1] * scale)), int(round(img.shape[0] * scale))
    check_pixels(width, height, "the resized image")
    if interpolation:
        return cv2.resize(img, (width, height), interpolation=interpolation)
    return cv2.resize(img, (width, height))
