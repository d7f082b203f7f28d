"""NumPy 1's binary `np.fromstring`, for unchanged Paddle Serving services under `scaffold run`.

17 of Paddle Serving's 24 Pipeline example servers decode images with
``np.fromstring(data, np.uint8)``. NumPy 2 removed that binary mode (it raises ValueError), so
every request would fail. `install()` — called by `scaffold run` only, nowhere else — wraps
`numpy.fromstring` so that a bytes-like argument with no `sep` returns what NumPy 1 returned:
a new writable array, ``np.frombuffer(data, dtype, count).copy()``. Text mode (`sep` given)
and `str` input go to NumPy's own function unchanged.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

__all__ = ["install", "installed", "uninstall"]

_ORIGINAL = np.fromstring


@functools.wraps(_ORIGINAL)
def _fromstring(string: Any, dtype: Any = float, count: int = -1, *, sep: str = "",
                **kwargs: Any) -> np.ndarray:
    if sep == "" and isinstance(string, bytes | bytearray | memoryview):
        return np.frombuffer(string, dtype=dtype, count=count).copy()
    return _ORIGINAL(string, dtype=dtype, count=count, sep=sep, **kwargs)


_fromstring.__doc__ = ("numpy.fromstring with NumPy 1's binary mode for bytes (installed by "
                       "scaffold run; see generator.runtime.compat.numpy_legacy).")


def install() -> None:
    """Make `np.fromstring(bytes, dtype)` behave as in NumPy 1 (idempotent)."""
    np.fromstring = _fromstring


def uninstall() -> None:
    """Restore NumPy's own `fromstring`."""
    np.fromstring = _ORIGINAL


def installed() -> bool:
    """Whether the NumPy 1 shim is active."""
    return np.fromstring is _fromstring
