"""PaddleSeg `Deploy.transforms` (paddleseg/transforms semantics). PaddleSeg works on a float32
RGB image from the start and transposes to CHW after the last op; sizes are (w, h)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from generator import imaging
from generator.preprocess.base import ImInfo, PreprocessOp, rescale_info

__all__ = ["PPSEG_OPS"]

_SEG_INTERP = ("NEAREST", "LINEAR", "CUBIC", "AREA", "LANCZOS4")


def _wh(value: int | Sequence[int], what: str) -> tuple[int, int]:
    if isinstance(value, (int, np.integer)):
        return int(value), int(value)
    if len(value) != 2:
        raise ValueError(f"{what} must have 2 elements (w, h), got {value!r}")
    return int(value[0]), int(value[1])


class Resize(PreprocessOp):
    """`target_size` (w, h) (note: width first); `keep_ratio` fits inside it (PaddleSeg
    `rescale_size`); `size_divisor` rounds each side up to a multiple; `interp` a name."""

    name = "Resize"

    def __init__(self, target_size: Sequence[int] = (512, 512), keep_ratio: bool = False,
                 size_divisor: int | None = None, interp: str = "LINEAR"):
        if not isinstance(target_size, (list, tuple)):
            raise ValueError(f"Resize.target_size must be [w, h], got {target_size!r}")
        self.target_size = _wh(target_size, "Resize.target_size")
        if interp == "RANDOM":
            raise ValueError("Resize interp 'RANDOM' is a training augmentation; choose one of "
                             f"{_SEG_INTERP} for inference")
        if interp not in _SEG_INTERP:
            raise ValueError(f"Resize.interp must be one of {_SEG_INTERP}, got {interp!r}")
        self.keep_ratio = bool(keep_ratio)
        self.size_divisor = size_divisor
        self.interp = interp

    def __call__(self, im: np.ndarray, info: ImInfo) -> tuple[np.ndarray, ImInfo]:
        h, w = im.shape[:2]
        tw, th = self.target_size
        if self.keep_ratio:
            th, tw = imaging.seg_keep_ratio_size(h, w, self.target_size)
        if self.size_divisor:
            tw = math.ceil(tw / self.size_divisor) * self.size_divisor
            th = math.ceil(th / self.size_divisor) * self.size_divisor
        im = imaging.resize_to(im, tw, th, imaging.interp_code(self.interp))
        rescale_info(info, (h, w), (th, tw))
        return im, info


class ResizeByShort(PreprocessOp):
    """Short side to `short_size`, reduced so the long side stays <= `max_size`."""

    name = "ResizeByShort"

    def __init__(self, short_size: int, max_size: float = 1e10):
        if isinstance(short_size, list):
            raise ValueError("ResizeByShort with a list of sizes picks one at random (training "
                             "only); give one int for inference")
        self.short_size = int(short_size)
        self.max_size = max_size

    def __call__(self, im: np.ndarray, info: ImInfo) -> tuple[np.ndarray, ImInfo]:
        h, w = im.shape[:2]
        short = self.short_size
        # PaddleSeg stored the reduced size on the op, shrinking every later image too;
        # it is computed per image here.
        if short / min(h, w) * max(h, w) > self.max_size:
            short = int((self.max_size / max(h, w)) * min(h, w))
        nh, nw = imaging.short_side_size(h, w, short)
        im = imaging.resize_to(im, nw, nh)
        rescale_info(info, (h, w), (nh, nw))
        return im, info


class ResizeByLong(PreprocessOp):
    """Long side to `long_size`."""

    name = "ResizeByLong"

    def __init__(self, long_size: int):
        self.long_size = int(long_size)

    def __call__(self, im: np.ndarray, info: ImInfo) -> tuple[np.ndarray, ImInfo]:
        h, w = im.shape[:2]
        nh, nw = imaging.long_side_size(h, w, self.long_size)
        im = imaging.resize_to(im, nw, nh)
        rescale_info(info, (h, w), (nh, nw))
        return im, info


class LimitLong(PreprocessOp):
    """Resize the long side into [min_long, max_long] when it is outside."""

    name = "LimitLong"

    def __init__(self, max_long: int | None = None, min_long: int | None = None):
        if max_long is not None and min_long is not None and min_long > max_long:
            raise ValueError(f"LimitLong.min_long {min_long} > max_long {max_long}")
        self.max_long = max_long
        self.min_long = min_long

    def __call__(self, im: np.ndarray, info: ImInfo) -> tuple[np.ndarray, ImInfo]:
        h, w = im.shape[:2]
        long_edge = target = max(h, w)
        if self.max_long is not None and long_edge > self.max_long:
            target = self.max_long
        elif self.min_long is not None and long_edge < self.min_long:
            target = self.min_long
        if target != long_edge:
            nh, nw = imaging.long_side_size(h, w, target)
            im = imaging.resize_to(im, nw, nh)
            rescale_info(info, (h, w), (nh, nw))
        return im, info


class Normalize(PreprocessOp):
    """`(x / 255 - mean) / std` (mean/std of 1 or 3 values)."""

    name = "Normalize"

    def __init__(self, mean: Sequence[float] = (0.5,), std: Sequence[float] = (0.5,)):
        if len(mean) not in (1, 3) or len(std) not in (1, 3):
            raise ValueError("Normalize.mean and std must have 1 or 3 values")
        if any(float(s) == 0 for s in std):
            raise ValueError(f"Normalize.std must not contain 0, got {list(std)}")
        self.mean = list(mean)
        self.std = list(std)

    def __call__(self, im: np.ndarray, info: ImInfo) -> tuple[np.ndarray, ImInfo]:
        return imaging.per_uint8_value(
            im, lambda x: imaging.subtract_divide(imaging.divide(x, 255.0), self.mean, self.std),
            3), info


class Padding(PreprocessOp):
    """Pad bottom/right to `target_size` (w, h) with `im_padding_value`; errors if the image is
    larger. im_shape keeps the unpadded size."""

    name = "Padding"

    def __init__(self, target_size: int | Sequence[int], im_padding_value: float = 127.5,
                 label_padding_value: int = 255):
        self.target_size = _wh(target_size, "Padding.target_size")
        self.im_padding_value = float(im_padding_value)

    def __call__(self, im: np.ndarray, info: ImInfo) -> tuple[np.ndarray, ImInfo]:
        tw, th = self.target_size
        return imaging.pad_bottom_right(im, th, tw, self.im_padding_value), info


PPSEG_OPS: dict[str, type[PreprocessOp]] = {
    op.name: op for op in (Resize, ResizeByShort, ResizeByLong, LimitLong, Normalize, Padding)
}
