"""Paddle Serving's `Detection*` operators: each takes and returns `(im, im_info)` where
`im_info = {"scale_factor": [sy, sx] float32, "im_shape": [h, w] float32 | None}`.

`DetectionResize` records the resized shape and the scale factors, so feeding `im_info` (not a
hard-coded `scale_factor` of 1) gives boxes in original-image pixels."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

import cv2
import numpy as np

from generator import imaging

__all__ = [
    "DetectionBGR2RGB",
    "DetectionDiv",
    "DetectionFile2Image",
    "DetectionNormalize",
    "DetectionPadStride",
    "DetectionResize",
    "DetectionSequential",
    "DetectionTranspose",
    "new_im_info",
]

ImInfo = dict[str, Any]


def new_im_info() -> ImInfo:
    """The initial `im_info` of `DetectionSequential`: scale 1, shape unknown."""
    return {"scale_factor": np.array([1.0, 1.0], dtype=np.float32), "im_shape": None}


class DetectionSequential:
    """Apply `(im, im_info)` transforms in order, starting from `new_im_info()`."""

    def __init__(self, transforms: Sequence[Callable[..., tuple[Any, ImInfo]]]):
        self.transforms = list(transforms)

    def __call__(self, im: Any) -> tuple[Any, ImInfo]:
        im_info = new_im_info()
        for transform in self.transforms:
            im, im_info = transform(im, im_info)
        return im, im_info

    def __repr__(self) -> str:
        inner = "".join(f"\n    {t!r}" for t in self.transforms)
        return f"{type(self).__name__}({inner}\n)"


class DetectionFile2Image:
    """Image path -> HWC uint8 **RGB**; sets `im_shape` to the original (h, w)."""

    def __call__(self, img_path: str | os.PathLike[str],
                 im_info: ImInfo | None = None) -> tuple[np.ndarray, ImInfo | None]:
        img = imaging.decode_file(img_path, to_rgb=True)
        if im_info is not None:
            im_info["im_shape"] = np.array(img.shape[:2], dtype=np.float32)
            im_info["scale_factor"] = np.array([1.0, 1.0], dtype=np.float32)
        return img, im_info

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class DetectionBGR2RGB:
    """Reverse the channel axis (BGR <-> RGB)."""

    def __call__(self, img: np.ndarray, im_info: ImInfo | None = None):
        return imaging.reverse_channels(img), im_info

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class DetectionDiv:
    """`float32(img) / value`."""

    def __init__(self, value: float):
        self.value = value

    def __call__(self, img: np.ndarray, im_info: ImInfo | None = None):
        return imaging.divide(img, self.value), im_info

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.value})"


class DetectionNormalize:
    """HWC normalisation: `/ 255` first when `is_scale`, then `(x - mean) / std`."""

    def __init__(self, mean: Sequence[float], std: Sequence[float], is_scale: bool = True):
        self.mean = mean
        self.std = std
        self.is_scale = is_scale

    def __call__(self, im: np.ndarray, im_info: ImInfo | None = None):
        im = imaging.divide(im, 255.0) if self.is_scale else im
        return imaging.subtract_divide(im, self.mean, self.std), im_info

    def __repr__(self) -> str:
        return f"{type(self).__name__}(mean={self.mean}, std={self.std})"


class DetectionTranspose:
    """`im.transpose(order)`."""

    def __init__(self, transpose_target: Sequence[int]):
        self.transpose_target = tuple(transpose_target)

    def __call__(self, im: np.ndarray, im_info: ImInfo | None = None):
        return im.transpose(self.transpose_target), im_info

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.transpose_target})"


class DetectionResize:
    """PaddleDetection `Resize`: `target_size` int or [h, w].

    keep_ratio=False: `sy = th / h`, `sx = tw / w`. keep_ratio=True: one factor
    `s = min(target) / min(h, w)`, reduced to `max(target) / max(h, w)` when the long side would
    exceed `max(target)`. Resizes with `cv2.resize(fx=sx, fy=sy)` and sets
    `im_info["im_shape"]` = resized [h, w], `im_info["scale_factor"]` = [sy, sx] (float32)."""

    def __init__(self, target_size: int | Sequence[int], keep_ratio: bool = True,
                 interpolation: int | str = cv2.INTER_LINEAR):
        if isinstance(target_size, int):
            target_size = [target_size, target_size]
        if len(target_size) != 2 or min(target_size) <= 0:
            raise ValueError(f"target_size must be a positive int or [h, w], got {target_size!r}")
        self.target_size = list(target_size)
        self.keep_ratio = keep_ratio
        self.interpolation = imaging.interp_code(interpolation)

    def generate_scale(self, im: np.ndarray) -> tuple[float, float]:
        """(scale_y, scale_x) for this image."""
        h, w = im.shape[:2]
        if self.keep_ratio:
            s = imaging.keep_ratio_scale(h, w, self.target_size)
            return s, s
        return self.target_size[0] / float(h), self.target_size[1] / float(w)

    def __call__(self, im: np.ndarray, im_info: ImInfo | None = None):
        scale_y, scale_x = self.generate_scale(im)
        im = imaging.resize_by_scale(im, scale_y, scale_x, self.interpolation)
        if im_info is not None:
            im_info["im_shape"] = np.array(im.shape[:2], dtype=np.float32)
            im_info["scale_factor"] = np.array([scale_y, scale_x], dtype=np.float32)
        return im, im_info

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(target_size={self.target_size}, "
                f"keep_ratio={self.keep_ratio}, interpolation={self.interpolation})")


class DetectionPadStride:
    """Zero-pad a CHW image to multiples of `stride`; `im_info` unchanged.

    (Paddle Serving returned a bare image instead of `(im, im_info)` when `stride <= 0`, which
    broke `DetectionSequential`; this always returns the pair.)"""

    def __init__(self, stride: int = 0):
        self.coarsest_stride = stride

    def __call__(self, im: np.ndarray, im_info: ImInfo | None = None):
        return imaging.pad_chw_to_stride(im, self.coarsest_stride), im_info

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.coarsest_stride})"
