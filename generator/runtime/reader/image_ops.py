"""Paddle Serving's plain image operators (`paddle_serving_app.reader.image_reader`): each is a
callable object taking and returning one image (HWC uint8 BGR after decoding)."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

import cv2
import numpy as np

from generator import imaging

__all__ = [
    "BGR2RGB",
    "Base64ToImage",
    "CenterCrop",
    "Div",
    "File2Image",
    "ImageReader",
    "Lambda",
    "Normalize",
    "PadStride",
    "RGB2BGR",
    "Resize",
    "ResizeByFactor",
    "Sequential",
    "String2Image",
    "Transpose",
    "URL2Image",
    "URLFetchNotAllowedError",
]

#: Environment variable that lets `URL2Image` fetch URLs when set to 1/true/yes.
ALLOW_URL_FETCH_ENV = "SCAFFOLD_ALLOW_URL_FETCH"


class Sequential:
    """Apply transforms in order: `Sequential([Resize(256), CenterCrop(224)])(img)`."""

    def __init__(self, transforms: Sequence[Callable[[Any], Any]]):
        self.transforms = list(transforms)

    def __call__(self, img: Any) -> Any:
        for transform in self.transforms:
            img = transform(img)
        return img

    def __repr__(self) -> str:
        inner = "".join(f"\n    {t!r}" for t in self.transforms)
        return f"{type(self).__name__}({inner}\n)"


class _NoArgOp:
    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class String2Image(_NoArgOp):
    """Encoded image bytes -> HWC uint8 BGR (`cv2.imdecode`, IMREAD_COLOR)."""

    def __call__(self, img_buffer: bytes) -> np.ndarray:
        return imaging.decode_bytes(img_buffer)


class File2Image(_NoArgOp):
    """Image file path -> HWC uint8 BGR."""

    def __call__(self, img_path: str | os.PathLike[str]) -> np.ndarray:
        return imaging.decode_file(img_path)


class Base64ToImage(_NoArgOp):
    """Base64 text of an encoded image file -> HWC uint8 BGR."""

    def __call__(self, img_base64: str | bytes) -> np.ndarray:
        return imaging.decode_base64(img_base64)


class URLFetchNotAllowedError(PermissionError):
    """`URL2Image` was called while URL fetching is disabled (the default)."""


class URL2Image:
    """Image URL -> HWC uint8 BGR.

    Unlike Paddle Serving, the runtime does not fetch URLs by default (a service fetching
    arbitrary client-supplied URLs is a server-side request forgery risk). Enable it with
    `URL2Image(allow_network=True)` or the environment variable `SCAFFOLD_ALLOW_URL_FETCH=1`."""

    def __init__(self, allow_network: bool | None = None, timeout: float = 10.0):
        self.allow_network = allow_network
        self.timeout = timeout

    def _allowed(self) -> bool:
        if self.allow_network is not None:
            return self.allow_network
        return os.environ.get(ALLOW_URL_FETCH_ENV, "").strip().lower() in {"1", "true", "yes"}

    def __call__(self, img_url: str) -> np.ndarray:
        if not self._allowed():
            raise URLFetchNotAllowedError(
                f"URL2Image refused to fetch {img_url!r}: the runtime does not download URLs "
                "unless explicitly allowed. Send the image bytes base64-encoded instead, or "
                f"enable fetching with URL2Image(allow_network=True) or {ALLOW_URL_FETCH_ENV}=1.")
        import urllib.request

        with urllib.request.urlopen(img_url, timeout=self.timeout) as resp:
            return imaging.decode_bytes(resp.read())

    def __repr__(self) -> str:
        return f"{type(self).__name__}(allow_network={self.allow_network})"


class RGB2BGR(_NoArgOp):
    """Reverse the channel axis of an HWC image.

    Paddle Serving's `RGB2BGR` and `BGR2RGB` are the same `img[:, :, ::-1]`; that is correct for
    both (swapping R and B is its own inverse), so this is documented, not a bug to fix."""

    def __call__(self, img: np.ndarray) -> np.ndarray:
        return imaging.reverse_channels(img)


class BGR2RGB(RGB2BGR):
    """Reverse the channel axis of an HWC image (identical to `RGB2BGR`, see there)."""


class Div:
    """`float32(img) / value`."""

    def __init__(self, value: float):
        self.value = value

    def __call__(self, img: np.ndarray) -> np.ndarray:
        return imaging.divide(img, self.value)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.value})"


class Normalize:
    """`(float32(img) - mean) / std` per channel; `channel_first=True` for a CHW image
    (mean shaped (3,1,1)), else HWC ((1,1,3))."""

    def __init__(self, mean: Sequence[float], std: Sequence[float], channel_first: bool = False):
        self.mean = mean
        self.std = std
        self.channel_first = channel_first

    def __call__(self, img: np.ndarray) -> np.ndarray:
        return imaging.subtract_divide(img, self.mean, self.std,
                                       channel_first=self.channel_first)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(mean={self.mean}, std={self.std})"


class Transpose:
    """`img.transpose(order)`, e.g. `Transpose((2, 0, 1))` for HWC -> CHW."""

    def __init__(self, transpose_target: Sequence[int]):
        self.transpose_target = tuple(transpose_target)

    def __call__(self, img: np.ndarray) -> np.ndarray:
        return img.transpose(self.transpose_target)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.transpose_target})"


class CenterCrop:
    """Square `size` x `size` crop at the centre of an HWC image."""

    def __init__(self, size: int):
        self.size = size

    def __call__(self, img: np.ndarray) -> np.ndarray:
        return imaging.center_crop(img, self.size, self.size)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(size={self.size})"


class Resize:
    """Resize an HWC image.

    * `size` int: the short side becomes `size` keeping the aspect ratio, reduced so that the
      long side stays <= `max_size` (sides rounded with `round()`);
    * `size` tuple `(w, h)`: exactly `min(w, max_size)` x `min(h, max_size)`.

    `interpolation` None -> INTER_LINEAR. Compatibility: like Paddle Serving, a falsy value
    (None or 0 = INTER_NEAREST) means the default INTER_LINEAR; pass `"NEAREST"` to get nearest
    neighbour."""

    def __init__(self, size: int | Sequence[int], max_size: int = 2147483647,
                 interpolation: int | str | None = None):
        self.size = size
        self.max_size = max_size
        self.interpolation = interpolation

    def _interp(self) -> int:
        if not self.interpolation:
            return cv2.INTER_LINEAR
        return imaging.interp_code(self.interpolation)

    def __call__(self, img: np.ndarray) -> np.ndarray:
        if isinstance(self.size, (tuple, list)):
            width = min(int(self.size[0]), self.max_size)
            height = min(int(self.size[1]), self.max_size)
        else:
            height, width = imaging.short_side_size(img.shape[0], img.shape[1], int(self.size),
                                                    self.max_size)
        return imaging.resize_to(img, width, height, self._interp())

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(size={self.size}, max_size={self.max_size}, "
                f"interpolation={self.interpolation})")


class PadStride:
    """Zero-pad a CHW image bottom/right to multiples of `stride` (float32); 0 = no-op."""

    def __init__(self, stride: int):
        self.coarsest_stride = stride

    def __call__(self, img: np.ndarray) -> np.ndarray:
        return imaging.pad_chw_to_stride(img, self.coarsest_stride)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.coarsest_stride})"


class ResizeByFactor:
    """Resize to sides that are multiples of `factor` (PaddleOCR det, old style); see
    `generator.imaging.resize.ocr_factor_size` for the exact (compatible) rounding rules."""

    def __init__(self, factor: int = 32, max_side_len: int = 2400):
        self.factor = factor
        self.max_side_len = max_side_len

    def __call__(self, img: np.ndarray) -> np.ndarray:
        height, width = imaging.ocr_factor_size(img.shape[0], img.shape[1], self.factor,
                                                self.max_side_len)
        if height <= 0 or width <= 0:
            raise ValueError(f"ResizeByFactor computed an empty size {width}x{height} for an "
                             f"image of shape {img.shape}")
        return imaging.resize_to(img, width, height)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(factor={self.factor}, "
                f"max_side_len={self.max_side_len})")


class Lambda:
    """Wrap a user function as a transform."""

    def __init__(self, lambd: Callable[[Any], Any]):
        if not callable(lambd):
            raise TypeError(f"Lambda needs a callable, got {type(lambd).__name__}")
        self.lambd = lambd

    def __call__(self, img: Any) -> Any:
        return self.lambd(img)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class ImageReader:
    """ImageNet-style classification preprocessing in one object: decode, resize short side,
    centre crop to `image_shape[1]`, BGR -> RGB, CHW, /255, (x - mean) / std."""

    def __init__(self, image_shape: Sequence[int] = (3, 224, 224),
                 image_mean: Sequence[float] = (0.485, 0.456, 0.406),
                 image_std: Sequence[float] = (0.229, 0.224, 0.225),
                 resize_short_size: int = 256, interpolation: int | None = None,
                 crop_center: bool = True):
        if not crop_center:
            raise NotImplementedError("ImageReader(crop_center=False) is a random crop (a "
                                      "training augmentation) and is not provided for serving")
        self.image_shape = list(image_shape)
        self.image_mean = image_mean
        self.image_std = image_std
        self.resize_short_size = resize_short_size
        self.interpolation = interpolation

    def resize_short(self, img: np.ndarray, target_size: int,
                     interpolation: int | None = None) -> np.ndarray:
        """Resize so that the short side is `target_size`."""
        height, width = imaging.short_side_size(img.shape[0], img.shape[1], target_size)
        interp = interpolation if interpolation else cv2.INTER_LINEAR
        return imaging.resize_to(img, width, height, interp)

    def crop_image(self, img: np.ndarray, target_size: int, center: bool = True) -> np.ndarray:
        """Centre crop `target_size` x `target_size`."""
        return imaging.center_crop(img, target_size, target_size)

    def process_image(self, sample: bytes) -> np.ndarray:
        """Encoded image bytes -> normalised CHW float32."""
        img = imaging.decode_bytes(sample)
        crop_size = self.image_shape[1]
        if crop_size > 0:
            img = self.resize_short(img, self.resize_short_size, self.interpolation)
            img = self.crop_image(img, crop_size)
        chw = imaging.hwc_to_chw(imaging.reverse_channels(img))
        return imaging.subtract_divide(imaging.divide(chw, 255), self.image_mean,
                                       self.image_std, channel_first=True)
