"""Channel order, memory layout, cropping and padding of image arrays."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = [
    "center_crop",
    "hwc_to_chw",
    "pad_bottom_right",
    "pad_chw_to_stride",
    "reverse_channels",
    "stack_padded",
]


def reverse_channels(img: np.ndarray) -> np.ndarray:
    """Reverse the last axis of an HWC image: BGR <-> RGB (one function serves both ways)."""
    if img.ndim != 3:
        raise ValueError(f"expected an HWC image with 3 dimensions, got shape {img.shape}")
    return img[:, :, ::-1]


def hwc_to_chw(img: np.ndarray) -> np.ndarray:
    """HWC -> CHW as a contiguous copy (PaddleDetection `Permute`, PaddleClas `ToCHWImage`)."""
    if img.ndim != 3:
        raise ValueError(f"expected an HWC image with 3 dimensions, got shape {img.shape}")
    return np.ascontiguousarray(img.transpose((2, 0, 1)))


def center_crop(img: np.ndarray, width: int, height: int) -> np.ndarray:
    """Crop `width` x `height` at the centre of an HWC image: starts at `(W - w) // 2` and
    `(H - h) // 2`. Raises when the image is smaller than the crop."""
    img_h, img_w = img.shape[:2]
    if img_h < height or img_w < width:
        raise ValueError(f"cannot center-crop {width}x{height} (w x h) from an image of "
                         f"{img_w}x{img_h}; resize it first (e.g. short side >= crop size)")
    x0 = (img_w - width) // 2
    y0 = (img_h - height) // 2
    return img[y0:y0 + height, x0:x0 + width, ...]


def pad_chw_to_stride(img: np.ndarray, stride: int) -> np.ndarray:
    """Zero-pad a CHW image bottom/right to multiples of `stride` as float32
    (`ceil(h / s) * s`); `stride <= 0` returns the image unchanged."""
    if stride <= 0:
        return img
    if img.ndim != 3:
        raise ValueError(f"PadStride expects a CHW image (after Permute/Transpose), got shape "
                         f"{img.shape}")
    c, h, w = img.shape
    pad_h = int(np.ceil(float(h) / stride) * stride)
    pad_w = int(np.ceil(float(w) / stride) * stride)
    out = np.zeros((c, pad_h, pad_w), dtype=np.float32)
    out[:, :h, :w] = img
    return out


def pad_bottom_right(img: np.ndarray, height: int, width: int,
                     value: float | Sequence[float] = 0.0) -> np.ndarray:
    """Place an HWC image at the top-left of a float32 `height` x `width` canvas filled with
    `value` (a scalar or one value per channel). Raises if the image is larger than the canvas."""
    img_h, img_w = img.shape[:2]
    if img_h > height or img_w > width:
        raise ValueError(f"cannot pad an image of {img_w}x{img_h} (w x h) to the smaller size "
                         f"{width}x{height}")
    channels = 1 if img.ndim == 2 else img.shape[2]
    shape = (height, width) if img.ndim == 2 else (height, width, channels)
    canvas = np.ones(shape, dtype=np.float32)
    canvas *= np.asarray(value, dtype=np.float32)
    canvas[:img_h, :img_w, ...] = img.astype(np.float32, copy=False)
    return canvas


def stack_padded(images: Sequence[np.ndarray]) -> np.ndarray:
    """Stack CHW images into NCHW; when sizes differ each is zero-padded bottom/right to the
    batch's max H and W (PaddleDetection `create_inputs` batching)."""
    if not images:
        raise ValueError("cannot stack an empty list of images")
    if len({im.shape for im in images}) == 1:
        return np.stack(images)
    if len({im.shape[0] for im in images}) != 1 or any(im.ndim != 3 for im in images):
        raise ValueError("images to batch must all be CHW with the same channel count, got "
                         f"shapes {[im.shape for im in images]}")
    max_h = max(im.shape[1] for im in images)
    max_w = max(im.shape[2] for im in images)
    out = np.zeros((len(images), images[0].shape[0], max_h, max_w), dtype=images[0].dtype)
    for i, im in enumerate(images):
        out[i, :, :im.shape[1], :im.shape[2]] = im
    return out
