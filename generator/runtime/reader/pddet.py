"""`paddle_serving_app.reader.pddet` (`image_tool`): the PaddleDetection 1.x image transforms
`Resize`, `Normalize`, `Permute` and `PadStride`, with the 0.9.0 semantics.

`Detection` (the whole config-driven PaddleDetection 1.x client helper: `infer_cfg.yml`
parsing, its own preprocess chain, COCO mask encoding with pycocotools, drawing) is not ported
and raises `ReaderNotAvailableError`; no Paddle Serving 0.9 example uses it. Use
`DetectionSequential` and `RCNNPostprocess` from `generator.runtime.reader` instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NoReturn

import cv2
import numpy as np
from PIL import Image

from generator.imaging.limits import check_pixels
from generator.runtime.reader.unavailable import ReaderNotAvailableError

__all__ = ["Detection", "Normalize", "PadStride", "Permute", "Resize"]


class Resize:
    """Scale an HWC image: short side to `target_size` with the long side capped at `max_size`
    (when `max_size` is set; optional zero padding to a `max_size` square with `image_shape`),
    else to a `target_size` square. Returns `(image, x scale)`."""

    def __init__(self, target_size: int, max_size: int = 0, interp: int = cv2.INTER_LINEAR,
                 use_cv2: bool = True, image_shape: Sequence[int] | None = None) -> None:
        self.target_size = target_size
        self.max_size = max_size
        self.interp = interp
        self.use_cv2 = use_cv2
        self.image_shape = image_shape

    def __call__(self, im: np.ndarray) -> tuple[np.ndarray, float]:
        h, w, channels = im.shape[0], im.shape[1], im.shape[2]
        if self.max_size != 0:
            scale = float(self.target_size) / float(min(h, w))
            if np.round(scale * max(h, w)) > self.max_size:
                scale = float(self.max_size) / float(max(h, w))
            scale_x = scale_y = scale
            out_w, out_h = int(scale * float(w)), int(scale * float(h))
        else:
            scale_x, scale_y = float(self.target_size) / float(w), float(self.target_size) / float(h)
            out_w = out_h = self.target_size
        check_pixels(int(out_w), int(out_h), "the resized image")
        if self.use_cv2:
            im = cv2.resize(im, None, None, fx=scale_x, fy=scale_y, interpolation=self.interp)
        else:
            if self.max_size != 0:
                raise TypeError("If you set max_size to cap the maximum size of image, please "
                                "set use_cv2 to True to resize the image.")
            im = np.array(Image.fromarray(im.astype("uint8")).resize((int(out_w), int(out_h)),
                                                                     self.interp))
        if self.max_size != 0 and self.image_shape is not None:
            padded = np.zeros((self.max_size, self.max_size, channels), dtype=np.float32)
            padded[:im.shape[0], :im.shape[1], :] = im
            im = padded
        return im, scale_x


class Normalize:
    """float32, optionally / 255, then `(x - mean) / std` per channel (HWC or CHW)."""

    def __init__(self, mean: Sequence[float], std: Sequence[float], is_scale: bool = True,
                 is_channel_first: bool = False) -> None:
        self.mean = mean
        self.std = std
        self.is_scale = is_scale
        self.is_channel_first = is_channel_first

    def __call__(self, im: np.ndarray) -> np.ndarray:
        shape = (-1, 1, 1) if self.is_channel_first else (1, 1, -1)
        im = im.astype(np.float32, copy=False)
        if self.is_scale:
            im = im / 255.0
        im -= np.array(self.mean).reshape(shape)
        im /= np.array(self.std).reshape(shape)
        return im


class Permute:
    """HWC -> CHW (`channel_first`), then optionally reverse the channels (`to_bgr`); a copy."""

    def __init__(self, to_bgr: bool = False, channel_first: bool = True) -> None:
        self.to_bgr = to_bgr
        self.channel_first = channel_first

    def __call__(self, im: np.ndarray) -> np.ndarray:
        if self.channel_first:
            im = im.transpose((2, 0, 1))
        if self.to_bgr:
            im = im[[2, 1, 0], :, :]
        return im.copy()


class PadStride:
    """Zero-pad a CHW image (float32) up to multiples of `stride`; 0 leaves it as is."""

    def __init__(self, stride: int = 0) -> None:
        if stride < 0:
            raise ValueError(f"Unsupported stride: {stride}, the stride in PadStride must be "
                             "greater or equal to 0")
        self.coarsest_stride = stride

    def __call__(self, im: np.ndarray) -> np.ndarray:
        stride = self.coarsest_stride
        if stride == 0:
            return im
        c, h, w = im.shape
        padded = np.zeros((c, int(np.ceil(h / stride) * stride), int(np.ceil(w / stride) * stride)),
                          dtype=np.float32)
        padded[:, :h, :w] = im
        return padded


class Detection:
    """Not ported (see the module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise ReaderNotAvailableError(
            "paddle_serving_app.reader.pddet.Detection (the PaddleDetection 1.x infer_cfg.yml "
            "client helper, with pycocotools mask encoding) is not provided by this runtime; "
            "use DetectionSequential and RCNNPostprocess from generator.runtime.reader")
