"""Resizing with the exact size and rounding rules of Paddle Serving and the Paddle toolkits.

Size rules are separate pure functions (`*_size`, `*_scale`) so that callers and tests can see
the arithmetic; the `resize_*` functions apply them with OpenCV. Python's `round()` and
`np.round()` both round half to even, like OpenCV's `cvRound` used for `fx`/`fy` resizes."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from generator.imaging.limits import check_pixels

__all__ = [
    "INTERPOLATIONS",
    "interp_code",
    "keep_ratio_scale",
    "letterbox",
    "long_side_size",
    "ocr_factor_size",
    "resize_by_scale",
    "resize_to",
    "scaled_size",
    "seg_keep_ratio_size",
    "short_side_size",
]

#: OpenCV interpolation codes by the names the toolkits use (PaddleSeg upper case, PaddleClas
#: lower case, PaddleX/ppdet integer codes 0..4).
INTERPOLATIONS: dict[str, int] = {
    "NEAREST": cv2.INTER_NEAREST,
    "LINEAR": cv2.INTER_LINEAR,
    "BILINEAR": cv2.INTER_LINEAR,
    "CUBIC": cv2.INTER_CUBIC,
    "BICUBIC": cv2.INTER_CUBIC,
    "AREA": cv2.INTER_AREA,
    "LANCZOS4": cv2.INTER_LANCZOS4,
    "LANCZOS": cv2.INTER_LANCZOS4,
}
_VALID_CODES = {cv2.INTER_NEAREST, cv2.INTER_LINEAR, cv2.INTER_CUBIC, cv2.INTER_AREA,
                cv2.INTER_LANCZOS4}


def interp_code(value: int | str | None, default: int = cv2.INTER_LINEAR) -> int:
    """Return the OpenCV interpolation code for an int code (0 NEAREST, 1 LINEAR, 2 CUBIC,
    3 AREA, 4 LANCZOS4), a name (case-insensitive) or None (-> `default`)."""
    if value is None:
        return default
    if isinstance(value, bool):
        raise ValueError(f"interpolation must be an int code or a name, got {value!r}")
    if isinstance(value, (int, np.integer)):
        if int(value) not in _VALID_CODES:
            raise ValueError(f"unknown interpolation code {value!r}; use 0 NEAREST, 1 LINEAR, "
                             "2 CUBIC, 3 AREA or 4 LANCZOS4")
        return int(value)
    if isinstance(value, str):
        try:
            return INTERPOLATIONS[value.strip().upper()]
        except KeyError:
            raise ValueError(f"unknown interpolation {value!r}; use one of "
                             f"{sorted(INTERPOLATIONS)}") from None
    raise ValueError(f"interpolation must be an int code or a name, got {value!r}")


def resize_to(img: np.ndarray, width: int, height: int,
              interp: int = cv2.INTER_LINEAR) -> np.ndarray:
    """Resize to exactly `width` x `height` (`cv2.resize(img, (w, h))`)."""
    if width <= 0 or height <= 0:
        raise ValueError(f"resize target must be positive, got width={width}, height={height}")
    check_pixels(int(width), int(height), "the resized image")
    return cv2.resize(img, (int(width), int(height)), interpolation=interp)


def scaled_size(height: int, width: int, scale_y: float, scale_x: float) -> tuple[int, int]:
    """(h, w) that `cv2.resize(img, None, fx=scale_x, fy=scale_y)` produces: each side times its
    factor, rounded half to even."""
    return int(round(height * scale_y)), int(round(width * scale_x))


def resize_by_scale(img: np.ndarray, scale_y: float, scale_x: float,
                    interp: int = cv2.INTER_LINEAR) -> np.ndarray:
    """Resize by factors the way PaddleDetection does (`cv2.resize(im, None, None, fx, fy)`).

    OpenCV maps pixels with the given factors (not the rounded output size), so this is not
    always identical to `resize_to(scaled_size(...))`."""
    new_h, new_w = scaled_size(img.shape[0], img.shape[1], scale_y, scale_x)
    check_pixels(max(new_w, 1), max(new_h, 1), "the resized image")
    return cv2.resize(img, None, None, fx=float(scale_x), fy=float(scale_y),
                      interpolation=interp)


def short_side_size(height: int, width: int, short: int,
                    max_size: int | float | None = None) -> tuple[int, int]:
    """(h, w) with the short side scaled to `short`, keeping the aspect ratio.

    Paddle Serving `Resize(int, max_size)` and PaddleClas `ResizeImage(resize_short=...)`:
    `p = short / min(h, w)`; if `round(p * max(h, w)) > max_size`, `p = max_size / max(h, w)`;
    each side becomes `int(round(side * p))`."""
    percent = float(short) / min(height, width)
    if max_size is not None and np.round(percent * max(height, width)) > max_size:
        percent = float(max_size) / float(max(height, width))
    return int(round(height * percent)), int(round(width * percent))


def long_side_size(height: int, width: int, long: int) -> tuple[int, int]:
    """(h, w) with the long side scaled to `long` (PaddleSeg `ResizeByLong`)."""
    scale = float(long) / float(max(height, width))
    return int(round(height * scale)), int(round(width * scale))


def keep_ratio_scale(height: int, width: int, target: Sequence[int]) -> float:
    """PaddleDetection `Resize(keep_ratio=True)` factor, orientation-agnostic.

    `s = min(target) / min(h, w)`; if `round(s * max(h, w)) > max(target)`,
    `s = max(target) / max(h, w)`."""
    t_min, t_max = float(min(target)), float(max(target))
    scale = t_min / float(min(height, width))
    if np.round(scale * max(height, width)) > t_max:
        scale = t_max / float(max(height, width))
    return scale


def seg_keep_ratio_size(height: int, width: int, target_wh: Sequence[int]) -> tuple[int, int]:
    """(h, w) of PaddleSeg `Resize(keep_ratio=True)` (its `rescale_size`): with sizes as (w, h),
    `s = min(max(target) / max(img), min(target) / min(img))`, each side `round(side * s)`."""
    img = (width, height)
    scale = min(max(target_wh) / max(img), min(target_wh) / min(img))
    return int(round(height * scale)), int(round(width * scale))


def ocr_factor_size(height: int, width: int, factor: int = 32,
                    max_side_len: int = 2400) -> tuple[int, int]:
    """(h, w) of Paddle Serving's `ResizeByFactor` (PaddleOCR det, old style).

    The long side is first capped at `max_side_len` (`int()` truncation). A side already a
    multiple of `factor` is kept; a side below `2 * factor` becomes `factor`; otherwise it is
    rounded DOWN to `(side // factor - 1) * factor` (one step below the floor, as Paddle Serving
    does). Compatibility quirk: the height always uses 32 instead of `factor` in that last rule."""
    ratio = 1.0
    if max(height, width) > max_side_len:
        ratio = float(max_side_len) / (height if height > width else width)
    h = int(height * ratio)
    w = int(width * ratio)

    def snap(side: int, step: int) -> int:
        if side % factor == 0:
            return side
        if side // factor <= 1:
            return factor
        return (side // step - 1) * step

    return snap(h, 32), snap(w, factor)


def letterbox(img: np.ndarray, target_h: int, target_w: int,
              color: tuple[float, float, float] = (127.5, 127.5, 127.5),
              ) -> tuple[np.ndarray, float, tuple[int, int]]:
    """PaddleDetection `LetterBoxResize`: scale by `r = min(th/h, tw/w)` to
    `(round(w*r), round(h*r))` with INTER_AREA, then pad to the target with `color`, splitting
    the padding as `round(pad - 0.1)` before and `round(pad + 0.1)` after.

    Returns (image, r, (new_h, new_w))."""
    h, w = img.shape[:2]
    ratio = min(float(target_h) / h, float(target_w) / w)
    new_w, new_h = round(w * ratio), round(h * ratio)
    pad_w = (target_w - new_w) / 2
    pad_h = (target_h - new_h) / 2
    top, bottom = round(pad_h - 0.1), round(pad_h + 0.1)
    left, right = round(pad_w - 0.1), round(pad_w + 0.1)
    resized = cv2.resize(img, (new_w, new_h), interpolation=cv2.INTER_AREA)
    out = cv2.copyMakeBorder(resized, top, bottom, left, right, cv2.BORDER_CONSTANT,
                             value=color)
    return out, ratio, (new_h, new_w)
