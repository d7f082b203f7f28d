"""The one "did you mean" helper: the closest known name to a mistyped one.

A leaf: imports only the standard library, so every layer (config, runtime, export, scaffold)
may use it.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

#: How alike a name must be to be suggested (difflib ratio).
DEFAULT_CUTOFF = 0.6


def closest(word: object, choices: Iterable[str], cutoff: float = DEFAULT_CUTOFF) -> str | None:
    """The known name closest to `word`, or None when none is alike enough."""
    match = difflib.get_close_matches(str(word), list(choices), n=1, cutoff=cutoff)
    return match[0] if match else None


def did_you_mean(word: object, choices: Iterable[str], cutoff: float = DEFAULT_CUTOFF) -> str:
    """` (did you mean 'x'?)` when a close match exists, else ''."""
    match = closest(word, choices, cutoff)
    return f" (did you mean {match!r}?)" if match else ""
