"""The rule that turns interleaved timings into a backend choice, kept apart from the measuring
so that it is tested on given samples, not on timing luck.

Every candidate is timed in the same rounds as the reference (Paddle, oneDNN off): round r of
each candidate runs right after round r of the previous one, so a burst of load on a shared
machine hits all of them. A candidate replaces the reference only when

* its median over the rounds is at least `MARGIN` (10 %) below the reference's, and
* it was faster than the reference in more than half of the rounds (paired by round).

Among those, the fastest median wins, except that an earlier candidate (the simpler one: the
candidate list is ordered) within `MARGIN` of it is preferred, so that two backends inside the
machine's noise of each other do not flip from one run to the next.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

#: how much faster (on the median) a backend must be to replace the one it is compared with
MARGIN = 0.10


@dataclass(frozen=True)
class Spread:
    """A candidate's per-round figures: median, fastest and slowest round (seconds)."""

    median: float
    low: float
    high: float

    def text(self) -> str:
        """`12.3 ms [11.9-13.0]`."""
        return f"{self.median * 1e3:8.1f} ms [{self.low * 1e3:.1f}-{self.high * 1e3:.1f}]"


def spread(rounds: Sequence[float]) -> Spread:
    """Median, min and max of per-round times (nan for no rounds)."""
    if not len(rounds):
        return Spread(float("nan"), float("nan"), float("nan"))
    arr = np.asarray(rounds, dtype=float)
    return Spread(float(np.median(arr)), float(arr.min()), float(arr.max()))


def _wins(rounds: Sequence[float], reference: Sequence[float]) -> int:
    return sum(1 for a, b in zip(rounds, reference, strict=False) if a < b)


def decide(reference: Sequence[float], candidates: Mapping[str, Sequence[float]], *,
           margin: float = MARGIN) -> tuple[str | None, str]:
    """(the label that replaces the reference or None to keep it, why), from per-round times
    of the reference and of each usable candidate (in preference order, round-paired)."""
    if not 0 <= margin < 1:
        raise ValueError(f"margin must be in [0, 1), got {margin}")
    ref = spread(reference).median
    if not candidates:
        return None, "no other candidate with the same outputs"
    eligible: dict[str, float] = {}
    near: list[str] = []
    for label, rounds in candidates.items():
        med = spread(rounds).median
        if not np.isfinite(med):
            continue
        faster = med <= (1 - margin) * ref
        majority = _wins(rounds, reference) * 2 > min(len(rounds), len(reference))
        if faster and majority:
            eligible[label] = med
        elif med < ref:
            near.append(label)
    if not eligible:
        why = f"none faster than the reference by >= {margin:.0%} on the median"
        return None, why + (f" ({', '.join(near)} within that margin)" if near else "")
    best = min(eligible, key=eligible.__getitem__)
    # preference order: an earlier candidate within the margin of the fastest is kept
    chosen = next(label for label, med in eligible.items()
                  if med * (1 - margin) <= eligible[best])
    why = f"{ref / eligible[chosen]:.2f}x the reference's median"
    return chosen, why + (f"; {best} is within {margin:.0%} of it" if chosen != best else "")
