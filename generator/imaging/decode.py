"""Decoding encoded image files (bytes, base64 text, paths) into HWC uint8 arrays.

OpenCV decodes to BGR; every function takes `to_rgb` so callers state the channel order they
need (Paddle Serving's readers keep BGR, the toolkits' deploy code converts to RGB)."""

from __future__ import annotations

import base64
import binascii
import io
import os

import cv2
import numpy as np

from generator.imaging.errors import ImageDecodeError
from generator.imaging.limits import ImageLimitError, check_pixels, header_size

__all__ = [
    "ImageDecodeError",
    "ImageLimitError",
    "decode_base64",
    "decode_bytes",
    "decode_file",
    "encode_png",
]


def decode_bytes(data: bytes | bytearray | memoryview | np.ndarray, *, to_rgb: bool = False,
                 backend: str = "cv2") -> np.ndarray:
    """Decode an encoded image file's bytes into an HWC uint8 3-channel array.

    backend "cv2" uses `cv2.imdecode(..., IMREAD_COLOR)` (what Paddle Serving and the toolkits'
    `deploy/python` use); "pil" uses `PIL.Image.open(...).convert("RGB")` (what PaddleDetection's
    serving example uses). The result is BGR unless `to_rgb` is true. The size in the header
    is checked against `max_image_pixels` before any pixel is decoded (ImageLimitError)."""
    if isinstance(data, np.ndarray):
        buf = np.ascontiguousarray(data, dtype=np.uint8).reshape(-1)
    else:
        buf = np.frombuffer(bytes(data), dtype=np.uint8)
    if buf.size == 0:
        raise ImageDecodeError("cannot decode an image from 0 bytes: the input is empty")
    if backend not in ("cv2", "pil"):
        raise ValueError(f"unknown decode backend {backend!r}; use 'cv2' or 'pil'")
    size = header_size(data if isinstance(data, bytes) else buf.tobytes())
    if size is not None:
        check_pixels(*size)
    if backend == "cv2":
        try:
            img = cv2.imdecode(buf, cv2.IMREAD_COLOR)
        except cv2.error as exc:  # e.g. over OpenCV's own pixel limit; no source paths
            raise ImageDecodeError(f"cannot decode an image from {buf.size} bytes: "
                                   f"{_short_cv2_error(exc)}") from None
        if img is None:
            raise ImageDecodeError(
                f"cannot decode an image from {buf.size} bytes (starting {bytes(buf[:8])!r}): "
                "not a format OpenCV reads (JPEG, PNG, BMP, WebP, TIFF...)")
        if size is None:  # a format only OpenCV reads: checked once decoded
            check_pixels(img.shape[1], img.shape[0])
        return cv2.cvtColor(img, cv2.COLOR_BGR2RGB) if to_rgb else img
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(buf.tobytes())) as pil:
            rgb = np.asarray(pil.convert("RGB"))
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as exc:
        raise ImageDecodeError(
            f"cannot decode an image from {buf.size} bytes with Pillow: {exc}") from exc
    return rgb if to_rgb else np.ascontiguousarray(rgb[:, :, ::-1])


def _short_cv2_error(exc: Exception) -> str:
    """OpenCV's message without its source path and line ("... error: (-215) what")."""
    text = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
    return text.split(" error: ", 1)[-1][:200]


def decode_base64(text: str | bytes, *, to_rgb: bool = False, backend: str = "cv2") -> np.ndarray:
    """Decode the base64 text of an encoded image file (as sent by Paddle Serving clients)."""
    if isinstance(text, str):
        text = text.encode("ascii", errors="ignore")
    try:
        raw = base64.b64decode(text, validate=False)
    except (binascii.Error, ValueError) as exc:
        raise ImageDecodeError(f"the value is not valid base64: {exc}") from exc
    return decode_bytes(raw, to_rgb=to_rgb, backend=backend)


def decode_file(path: str | os.PathLike[str], *, to_rgb: bool = False,
                backend: str = "cv2") -> np.ndarray:
    """Read and decode an image file (works for non-ASCII paths, unlike `cv2.imread`)."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except OSError as exc:
        raise ImageDecodeError(f"cannot read image file {os.fspath(path)!r}: {exc}") from exc
    try:
        return decode_bytes(raw, to_rgb=to_rgb, backend=backend)
    except ImageDecodeError as exc:
        raise ImageDecodeError(f"{os.fspath(path)!r}: {exc}") from exc


def encode_png(img: np.ndarray) -> bytes:
    """Encode a 2-D (single channel) or HWC array as PNG bytes (lossless)."""
    ok, buf = cv2.imencode(".png", np.ascontiguousarray(img))
    if not ok:
        raise ValueError(f"cv2.imencode could not encode an array of shape {img.shape} "
                         f"and dtype {img.dtype} as PNG")
    return buf.tobytes()
