"""`cv2.warpPerspective(img, M, size, flags=INTER_CUBIC, borderMode=BORDER_REPLICATE)` of a uint8
image exactly as OpenCV 4.x computes it (the OpenCV PaddleX 3.7.2 pins, 4.10), in NumPy, so the
OCR crops do not depend on the installed OpenCV (5.x rounds the cubic warp differently, by a
few gray levels: enough to flip a character of a low-confidence recognizer).

OpenCV 4.x's algorithm: the inverse map of each output pixel in double precision, scaled by
INTER_TAB_SIZE (32) and rounded to an integer (round half to even), split into the integer
source pixel and a 5-bit fraction per axis; the 4 x 4 bicubic weights (A = -0.75) of that
fraction from a table of fixed-point (Q15) coefficients whose sum is corrected to exactly 1;
the weighted sum over the replicated-border neighbourhood rounded and saturated to uint8. The
16 neighbours are gathered with OpenCV's nearest-neighbour remap at integer positions (an exact
copy in every version); the arithmetic is NumPy's.
"""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

_BITS = 5
_TAB = 1 << _BITS  # INTER_TAB_SIZE
_COEF_BITS = 15
_COEF_SCALE = 1 << _COEF_BITS  # INTER_REMAP_COEF_SCALE


def _cubic_coeffs(x: np.float32) -> np.ndarray:
    a = np.float32(-0.75)
    x = np.float32(x)
    one = np.float32(1)
    c0 = ((a * (x + one) - np.float32(5) * a) * (x + one) + np.float32(8) * a) * (x + one) \
        - np.float32(4) * a
    c1 = ((a + np.float32(2)) * x - (a + np.float32(3))) * x * x + one
    c2 = ((a + np.float32(2)) * (one - x) - (a + np.float32(3))) * (one - x) * (one - x) + one
    c3 = one - c0 - c1 - c2
    return np.array([c0, c1, c2, c3], dtype=np.float32)


@lru_cache(maxsize=1)
def _table() -> np.ndarray:
    """[TAB * TAB, 4, 4] int32 fixed-point bicubic weights (OpenCV's initInterTab2D)."""
    one_d = [_cubic_coeffs(np.float32(i) / np.float32(_TAB)) for i in range(_TAB)]
    tab = np.zeros((_TAB * _TAB, 4, 4), np.int32)
    for iy in range(_TAB):
        for ix in range(_TAB):
            w = np.outer(one_d[iy], one_d[ix]).astype(np.float32)
            itab = np.rint(w * np.float32(_COEF_SCALE)).astype(np.int32)
            itab = np.clip(itab, -32768, 32767)
            diff = int(itab.sum()) - _COEF_SCALE
            if diff:
                mk, big = (2, 2), (2, 2)  # OpenCV looks at [ksize/2, ksize/2 + 2)
                for k1 in (2, 3):
                    for k2 in (2, 3):
                        if itab[k1, k2] < itab[mk]:
                            mk = (k1, k2)
                        elif itab[k1, k2] > itab[big]:
                            big = (k1, k2)
                if diff < 0:
                    itab[big] -= diff
                else:
                    itab[mk] -= diff
            tab[iy * _TAB + ix] = itab
    return tab


@lru_cache(maxsize=1)
def _taps() -> np.ndarray:
    """`_table()` as [16, TAB * TAB]: one contiguous row of weights per tap."""
    return np.ascontiguousarray(_table().reshape(_TAB * _TAB, 16).T)


def _invert3(a: np.ndarray) -> np.ndarray:
    """OpenCV's 3 x 3 inverse (explicit cofactors times 1 / det, not LU)."""
    d = a[0, 0] * (a[1, 1] * a[2, 2] - a[2, 1] * a[1, 2]) \
        - a[0, 1] * (a[1, 0] * a[2, 2] - a[2, 0] * a[1, 2]) \
        + a[0, 2] * (a[1, 0] * a[2, 1] - a[2, 0] * a[1, 1])
    if d == 0:
        return np.zeros((3, 3))
    d = 1.0 / d
    t = np.empty((3, 3))
    t[0, 0] = (a[1, 1] * a[2, 2] - a[1, 2] * a[2, 1]) * d
    t[0, 1] = (a[0, 2] * a[2, 1] - a[0, 1] * a[2, 2]) * d
    t[0, 2] = (a[0, 1] * a[1, 2] - a[0, 2] * a[1, 1]) * d
    t[1, 0] = (a[1, 2] * a[2, 0] - a[1, 0] * a[2, 2]) * d
    t[1, 1] = (a[0, 0] * a[2, 2] - a[0, 2] * a[2, 0]) * d
    t[1, 2] = (a[0, 2] * a[1, 0] - a[0, 0] * a[1, 2]) * d
    t[2, 0] = (a[1, 0] * a[2, 1] - a[1, 1] * a[2, 0]) * d
    t[2, 1] = (a[0, 1] * a[2, 0] - a[0, 0] * a[2, 1]) * d
    t[2, 2] = (a[0, 0] * a[1, 1] - a[0, 1] * a[1, 0]) * d
    return t


def warp_perspective_cubic(image: np.ndarray, matrix: np.ndarray,
                           size: tuple[int, int]) -> np.ndarray:
    """The uint8 HxWxC (or HxW) `image` warped by the 3x3 `matrix` (source -> destination) to
    `size` = (width, height), bicubic, replicated border: OpenCV 4.x's result."""
    src = np.asarray(image)
    if src.dtype != np.uint8:
        raise ValueError(f"expected a uint8 image, got {src.dtype}")
    width, height = int(size[0]), int(size[1])
    m = _invert3(np.asarray(matrix, dtype=np.float64)).ravel()
    # OpenCV walks the output in blocks of about 32 x 32 pixels: each row of a block starts
    # from its block's first column (x), then adds M[0] * x1 for the x1-th pixel of the block
    bh0 = min(16, height)
    bw0 = min(1024 // bh0, width)
    ys = np.arange(height, dtype=np.float64)[:, None]
    xcol = np.arange(width)
    xb = (xcol // bw0 * bw0).astype(np.float64)[None, :]
    x1 = (xcol % bw0).astype(np.float64)[None, :]
    x0 = m[0] * xb + m[1] * ys + m[2] + m[0] * x1
    y0 = m[3] * xb + m[4] * ys + m[5] + m[3] * x1
    w = m[6] * xb + m[7] * ys + m[8] + m[6] * x1
    with np.errstate(divide="ignore", invalid="ignore"):
        w = np.where(w != 0, _TAB / w, 0.0)
    limit = float(np.iinfo(np.int32).max)
    fx = np.clip(x0 * w, -limit - 1, limit)
    fy = np.clip(y0 * w, -limit - 1, limit)
    ix = np.rint(fx).astype(np.int64)
    iy = np.rint(fy).astype(np.int64)
    sx = np.clip(ix >> _BITS, -32768, 32767).astype(np.intp)
    sy = np.clip(iy >> _BITS, -32768, 32767).astype(np.intp)
    alpha = (iy & (_TAB - 1)) * _TAB + (ix & (_TAB - 1))
    taps = _taps()  # [16, TAB * TAB] int32: tap k's weight for each fraction
    img = src.reshape(src.shape[0], src.shape[1], -1)
    total = np.zeros((height, width, img.shape[2]), np.int32)  # |sum| < 2^31: exact
    for i in range(4):
        for j in range(4):
            # the neighbour (j - 1, i - 1) of every sample, border replicated: a gather
            # (OpenCV's nearest-neighbour remap at integer positions copies pixels exactly)
            where = np.dstack([sx + (j - 1), sy + (i - 1)]).astype(np.int16)
            tap = cv2.remap(img, where, None, cv2.INTER_NEAREST,
                            borderMode=cv2.BORDER_REPLICATE).reshape(height, width, -1)
            total += taps[i * 4 + j][alpha][:, :, None] * tap
    if src.ndim == 2:
        total = total[:, :, 0]
    out = (total + (1 << (_COEF_BITS - 1))) >> _COEF_BITS
    return np.clip(out, 0, 255).astype(np.uint8)
