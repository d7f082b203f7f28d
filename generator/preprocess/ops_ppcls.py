"""PaddleClas `PreProcess.transform_ops` (deploy/python/preprocess.py semantics) on RGB HWC
images. Resizes record `im_shape`/`scale_factor` for information only (classifiers take `x`)."""

from __future__ import annotations

import re
from collections.abc import Sequence

import cv2
import numpy as np

from generator import imaging
from generator.preprocess.base import ImInfo, PreprocessOp, rescale_info

__all__ = ["PPCLS_OPS", "parse_scale"]

_CV2_NAMES = {"nearest": cv2.INTER_NEAREST, "bilinear": cv2.INTER_LINEAR,
              "area": cv2.INTER_AREA, "bicubic": cv2.INTER_CUBIC, "lanczos": cv2.INTER_LANCZOS4}
_PIL_NAMES = ("nearest", "bilinear", "bicubic", "box", "lanczos", "hamming")
_SCALE_RE = re.compile(r"^\s*([0-9.eE+-]+)\s*(?:/\s*([0-9.eE+-]+)\s*)?$")


def parse_scale(value: float | str | None) -> float:
    """PaddleClas writes `scale` as a number or a string such as "1.0/255.0"; parse both
    without `eval`. None means 1/255."""
    if value is None:
        return 1.0 / 255.0
    if isinstance(value, str):
        match = _SCALE_RE.match(value)
        if not match:
            raise ValueError(f"NormalizeImage.scale {value!r} is not a number or 'a/b'")
        num = float(match.group(1))
        return num / float(match.group(2)) if match.group(2) else num
    return float(value)


class DecodeImage(PreprocessOp):
    """The decode step when a list keeps it: the input is already RGB HWC; `to_rgb=False`
    turns it back to BGR, `channel_first` transposes."""

    name = "DecodeImage"

    def __init__(self, to_rgb: bool = True, to_np: bool = False, channel_first: bool = False):
        self.to_rgb = bool(to_rgb)
        self.channel_first = bool(channel_first)
        self.to_chw = self.channel_first

    def __call__(self, im: np.ndarray, info: ImInfo) -> tuple[np.ndarray, ImInfo]:
        if not self.to_rgb:
            im = imaging.reverse_channels(im)
        if self.channel_first:
            im = imaging.hwc_to_chw(im)
        return im, info


class ResizeImage(PreprocessOp):
    """`resize_short` (short side, `round()` per side) or `size` (int or [w, h]);
    `interpolation` a cv2/PIL name or code (None = bilinear); `backend` "cv2" or "pil"."""

    name = "ResizeImage"

    def __init__(self, size: int | Sequence[int] | None = None, resize_short: int | None = None,
                 interpolation: str | int | None = None, backend: str = "cv2",
                 return_numpy: bool = True):
        if resize_short is not None and resize_short > 0:
            self.resize_short, self.size = int(resize_short), None
        elif size is not None:
            self.resize_short = None
            self.size = (int(size), int(size)) if isinstance(size, int) else \
                (int(size[0]), int(size[1]))
        else:
            raise ValueError("ResizeImage needs 'resize_short' or 'size'")
        self.backend = backend.lower()
        if self.backend not in ("cv2", "pil"):
            raise ValueError(f"ResizeImage.backend must be 'cv2' or 'pil', got {backend!r}")
        if isinstance(interpolation, str) and interpolation.lower() == "random":
            raise ValueError("ResizeImage interpolation 'random' is a training augmentation; "
                             "choose a fixed interpolation for inference")
        if self.backend == "cv2":
            self.interpolation = (cv2.INTER_LINEAR if interpolation is None else
                                  _CV2_NAMES[interpolation.lower()]
                                  if isinstance(interpolation, str) and
                                  interpolation.lower() in _CV2_NAMES
                                  else imaging.interp_code(interpolation))
        else:
            if interpolation is not None and (not isinstance(interpolation, str)
                                              or interpolation.lower() not in _PIL_NAMES):
                raise ValueError(f"ResizeImage PIL interpolation must be one of {_PIL_NAMES}")
            self.interpolation = (interpolation or "bilinear").lower()

    def __call__(self, im: np.ndarray, info: ImInfo) -> tuple[np.ndarray, ImInfo]:
        img_h, img_w = im.shape[:2]
        if self.resize_short is not None:
            h, w = imaging.short_side_size(img_h, img_w, self.resize_short)
        else:
            w, h = self.size
        if self.backend == "cv2":
            out = imaging.resize_to(im, w, h, self.interpolation)
        else:
            from PIL import Image

            resample = getattr(Image.Resampling, self.interpolation.upper())
            imaging.check_pixels(w, h, "the resized image")
            out = np.asarray(Image.fromarray(np.ascontiguousarray(im)).resize((w, h), resample))
        rescale_info(info, (img_h, img_w), (h, w))
        return out, info


class CropImage(PreprocessOp):
    """Centre crop `size` (int or [w, h]); errors when the image is smaller."""

    name = "CropImage"

    def __init__(self, size: int | Sequence[int]):
        self.size = (int(size), int(size)) if isinstance(size, int) else \
            (int(size[0]), int(size[1]))

    def __call__(self, im: np.ndarray, info: ImInfo) -> tuple[np.ndarray, ImInfo]:
        w, h = self.size
        im = imaging.center_crop(im, w, h)
        info["im_shape"] = np.array([h, w], dtype=np.float32)
        return im, info


class NormalizeImage(PreprocessOp):
    """`(float32(x) * scale - mean) / std` in float32; `order` 'chw' for a CHW image, anything
    else (PaddleClas exports write '') for HWC; `channel_num` 4 appends a zero channel;
    `output_fp16` gives float16."""

    name = "NormalizeImage"

    def __init__(self, scale: float | str | None = None, mean: Sequence[float] | None = None,
                 std: Sequence[float] | None = None, order: str = "chw",
                 output_fp16: bool = False, channel_num: int = 3):
        if channel_num not in (3, 4):
            raise ValueError(f"NormalizeImage.channel_num must be 3 or 4, got {channel_num!r}")
        self.scale = parse_scale(scale)
        self.mean = list(mean) if mean is not None else [0.485, 0.456, 0.406]
        self.std = list(std) if std is not None else [0.229, 0.224, 0.225]
        self.order = order
        self.output_fp16 = bool(output_fp16)
        self.channel_num = channel_num

    def __call__(self, im: np.ndarray, info: ImInfo) -> tuple[np.ndarray, ImInfo]:
        chw = self.order == "chw"
        im = imaging.per_uint8_value(
            im, lambda x: imaging.scale_subtract_divide_f32(x, self.scale, self.mean, self.std,
                                                            channel_first=chw),
            len(self.mean), channel_first=chw)
        if self.channel_num == 4:
            axis = 0 if chw else 2
            zeros_shape = list(im.shape)
            zeros_shape[axis] = 1
            im = np.concatenate((im, np.zeros(zeros_shape, dtype=im.dtype)), axis=axis)
        return im.astype(np.float16 if self.output_fp16 else np.float32), info


class ToCHWImage(PreprocessOp):
    """HWC -> CHW."""

    name = "ToCHWImage"
    to_chw = True

    def __call__(self, im: np.ndarray, info: ImInfo) -> tuple[np.ndarray, ImInfo]:
        return imaging.hwc_to_chw(im), info


PPCLS_OPS: dict[str, type[PreprocessOp]] = {
    op.name: op for op in (DecodeImage, ResizeImage, CropImage, NormalizeImage, ToCHWImage)
}
