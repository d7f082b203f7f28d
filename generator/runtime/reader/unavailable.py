"""The error for Paddle Serving reader features that cannot run here (a missing optional
package, a file Paddle Serving would have downloaded, or a part that is not ported)."""

from __future__ import annotations

__all__ = ["ReaderNotAvailableError"]


class ReaderNotAvailableError(NotImplementedError):
    """A Paddle Serving reader (or reader option) that this runtime does not provide; the
    message says why and what to do instead."""
