"""Per-request image limits: the largest decoded (or resized) image, in pixels, and the most
images one request may carry. The server sets them from config.yml (`max_image_pixels`,
`max_images_per_request`); decoding checks the image header before decoding any pixel, and
every resize checks its output size, so a tiny file cannot expand into gigabytes."""

from __future__ import annotations

import functools
import io
import warnings
from dataclasses import dataclass

from generator.imaging.errors import ImageDecodeError

__all__ = ["LIMITS", "ImageLimitError", "check_count", "check_pixels", "configure",
           "header_size"]


class ImageLimitError(ImageDecodeError):
    """An image (or the number of images) is over a configured limit (err_no 5000)."""


@dataclass
class ImageLimits:
    max_pixels: int = 40_000_000
    max_images: int = 64


LIMITS = ImageLimits()


def configure(max_pixels: int | None = None, max_images: int | None = None) -> None:
    """Set the process-wide limits (worker processes forked later inherit them)."""
    if max_pixels is not None:
        LIMITS.max_pixels = int(max_pixels)
    if max_images is not None:
        LIMITS.max_images = int(max_images)


def check_pixels(width: int, height: int, what: str = "the image") -> None:
    """Raise ImageLimitError if `width` x `height` is over `max_image_pixels` (or empty)."""
    if width <= 0 or height <= 0:
        raise ImageLimitError(f"{what} is empty ({width}x{height} pixels)")
    if width * height > LIMITS.max_pixels:
        raise ImageLimitError(
            f"{what} is {width}x{height} = {width * height:,} pixels, over the limit of "
            f"{LIMITS.max_pixels:,} (max_image_pixels in config.yml raises it)")


def check_count(count: int) -> None:
    """Raise ImageLimitError if a request carries more than `max_images_per_request` images."""
    if count > LIMITS.max_images:
        raise ImageLimitError(
            f"the request carries {count} images, over the limit of {LIMITS.max_images} per "
            "request (max_images_per_request in config.yml raises it)")


def header_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) read from an encoded image's header without decoding its pixels; None
    when Pillow does not recognise the format."""
    from PIL import Image, UnidentifiedImageError

    _ignore_bomb_warnings()
    try:
        with Image.open(io.BytesIO(data)) as img:
            return img.size
    except Image.DecompressionBombError:
        return _bomb_size(data)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        return None


@functools.cache
def _ignore_bomb_warnings() -> None:
    """Silence Pillow's DecompressionBombWarning once, process-wide: the pixel limit here is
    the check (`warnings.catch_warnings` per call is not thread safe and costs each request)."""
    from PIL import Image

    warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)


def _bomb_size(data: bytes) -> tuple[int, int]:
    """The size of an image Pillow refused to open as a decompression bomb."""
    from PIL import Image

    saved = Image.MAX_IMAGE_PIXELS
    try:
        Image.MAX_IMAGE_PIXELS = None  # header only: no pixel is decoded here
        with Image.open(io.BytesIO(data)) as img:
            return img.size
    finally:
        Image.MAX_IMAGE_PIXELS = saved
