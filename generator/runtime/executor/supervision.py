"""Helpers shared by the supervisors of worker processes (process-mode Ops and
`build_dag_each_worker`): restart back-off, a death history that decides when a worker "keeps
dying", exit descriptions, and tying a child's life to its parent's."""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import time
from collections import deque

#: deaths within `FLAP_WINDOW_S` that make a worker "keep dying" (readiness says so)
FLAP_DEATHS = 3
FLAP_WINDOW_S = 60.0
#: first restart delay and its cap (doubling per recent death)
BACKOFF_FIRST_S = 0.2
BACKOFF_MAX_S = 10.0

_PR_SET_PDEATHSIG = 1


def exit_description(exitcode: int | None) -> str:
    """'exit code 3' / 'killed by signal 9 (SIGKILL)' for a `Process.exitcode`-style value."""
    if exitcode is None:
        return "still running"
    if exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = "?"
        return f"killed by signal {-exitcode} ({name})"
    return f"exit code {exitcode}"


def die_with_parent(parent_pid: int, sig: int = signal.SIGKILL) -> None:
    """In a freshly forked child: get `sig` when the parent dies (Linux prctl), and exit now if
    it already did. Elsewhere only the check is made (callers also poll `os.getppid()`)."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
        except (OSError, AttributeError):  # pragma: no cover - no prctl: polling remains
            pass
    if os.getppid() != parent_pid:
        os._exit(0)


class DeathHistory:
    """Deaths of one worker slot: the back-off before its next restart and whether it flaps."""

    def __init__(self) -> None:
        self._deaths: deque[float] = deque(maxlen=32)
        self.total = 0
        self.last_reason = ""

    def record(self, reason: str, now: float | None = None) -> float:
        """Note a death; returns the delay (s) before restarting it."""
        now = time.monotonic() if now is None else now
        self._deaths.append(now)
        self.total += 1
        self.last_reason = reason
        recent = self.recent(now)
        return min(BACKOFF_MAX_S, BACKOFF_FIRST_S * 2 ** (recent - 1))

    def recent(self, now: float | None = None) -> int:
        now = time.monotonic() if now is None else now
        return sum(1 for t in self._deaths if now - t <= FLAP_WINDOW_S)

    def flapping(self, now: float | None = None) -> bool:
        return self.recent(now) >= FLAP_DEATHS
