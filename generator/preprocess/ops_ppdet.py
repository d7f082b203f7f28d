"""PaddleDetection `Preprocess` ops (deploy/python/preprocess.py semantics) on RGB HWC images."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from generator import imaging
from generator.preprocess.base import ImInfo, PreprocessOp

__all__ = ["PPDET_OPS"]


def _pair(value: int | Sequence[int], what: str) -> list[int]:
    pair = [int(value), int(value)] if isinstance(value, (int, np.integer)) else \
        [int(v) for v in value]
    if len(pair) != 2 or min(pair) <= 0:
        raise ValueError(f"{what} must be a positive int or [h, w], got {value!r}")
    return pair


class Resize(PreprocessOp):
    """`target_size` int|[h, w], `keep_ratio`, `interp` (0 NEAREST, 1 LINEAR, 2 CUBIC, 3 AREA,
    4 LANCZOS4). Sets im_shape = resized [h, w], scale_factor = [sy, sx]."""

    name = "Resize"

    def __init__(self, target_size: int | Sequence[int], keep_ratio: bool = True,
                 interp: int = 1):
        self.target_size = _pair(target_size, "Resize.target_size")
        self.keep_ratio = bool(keep_ratio)
        self.interp = imaging.interp_code(interp)

    def __call__(self, im: np.ndarray, info: ImInfo) -> tuple[np.ndarray, ImInfo]:
        h, w = im.shape[:2]
        if self.keep_ratio:
            sy = sx = imaging.keep_ratio_scale(h, w, self.target_size)
        else:
            sy = self.target_size[0] / float(h)
            sx = self.target_size[1] / float(w)
        im = imaging.resize_by_scale(im, sy, sx, self.interp)
        info["im_shape"] = np.array(im.shape[:2], dtype=np.float32)
        info["scale_factor"] = np.array([sy, sx], dtype=np.float32)
        return im, info


class NormalizeImage(PreprocessOp):
    """float32; `* (1/255)` when `is_scale`; `(x - mean) / std` when `norm_type == 'mean_std'`."""

    name = "NormalizeImage"

    def __init__(self, mean: Sequence[float] = (0.485, 0.456, 0.406),
                 std: Sequence[float] = (0.229, 0.224, 0.225), is_scale: bool = True,
                 norm_type: str = "mean_std"):
        if norm_type not in ("mean_std", "none"):
            raise ValueError(f"NormalizeImage.norm_type must be 'mean_std' or 'none', got "
                             f"{norm_type!r}")
        self.mean = list(mean)
        self.std = list(std)
        self.is_scale = bool(is_scale)
        self.norm_type = norm_type

    def __call__(self, im: np.ndarray, info: ImInfo) -> tuple[np.ndarray, ImInfo]:
        return imaging.per_uint8_value(im, self._normalize, len(self.mean)), info

    def _normalize(self, im: np.ndarray) -> np.ndarray:
        im = imaging.multiply(im, 1.0 / 255.0) if self.is_scale else im.astype(np.float32)
        if self.norm_type == "mean_std":
            im = imaging.subtract_divide(im, self.mean, self.std)
        return im


class Permute(PreprocessOp):
    """HWC -> CHW."""

    name = "Permute"
    to_chw = True

    def __call__(self, im: np.ndarray, info: ImInfo) -> tuple[np.ndarray, ImInfo]:
        return imaging.hwc_to_chw(im), info


class PadStride(PreprocessOp):
    """Zero-pad CHW bottom/right to multiples of `stride`; <= 0 is a no-op."""

    name = "PadStride"

    def __init__(self, stride: int = 0):
        self.stride = int(stride)

    def __call__(self, im: np.ndarray, info: ImInfo) -> tuple[np.ndarray, ImInfo]:
        return imaging.pad_chw_to_stride(im, self.stride), info


class LetterBoxResize(PreprocessOp):
    """Aspect-preserving resize into `target_size` [h, w] padded with 127.5 (JDE/FairMOT)."""

    name = "LetterBoxResize"

    def __init__(self, target_size: int | Sequence[int]):
        self.target_size = _pair(target_size, "LetterBoxResize.target_size")

    def __call__(self, im: np.ndarray, info: ImInfo) -> tuple[np.ndarray, ImInfo]:
        h, w = im.shape[:2]
        im, ratio, _ = imaging.letterbox(im, self.target_size[0], self.target_size[1])
        info["im_shape"] = np.array([round(h * ratio), round(w * ratio)], dtype=np.float32)
        info["scale_factor"] = np.array([ratio, ratio], dtype=np.float32)
        return im, info


class Pad(PreprocessOp):
    """Place the HWC image at the top-left of a float32 `size` [h, w] canvas of `fill_value`
    (YOLOX); an image already of that size is only cast to float32."""

    name = "Pad"

    def __init__(self, size: int | Sequence[int],
                 fill_value: Sequence[float] = (114.0, 114.0, 114.0)):
        self.size = _pair(size, "Pad.size")
        self.fill_value = [float(v) for v in fill_value]

    def __call__(self, im: np.ndarray, info: ImInfo) -> tuple[np.ndarray, ImInfo]:
        h, w = self.size
        if im.shape[:2] == (h, w):
            return im.astype(np.float32), info
        return imaging.pad_bottom_right(im, h, w, self.fill_value), info


PPDET_OPS: dict[str, type[PreprocessOp]] = {
    op.name: op for op in (Resize, NormalizeImage, Permute, PadStride, LetterBoxResize, Pad)
}
