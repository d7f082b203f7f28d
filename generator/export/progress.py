"""Progress lines with elapsed time, written to stderr."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

PREFIX = "[export]"


@contextmanager
def step(label: str, stream: TextIO | None = None) -> Iterator[None]:
    """Print `[export] <label> ...` before a long step and `... done (1.23 s)` or `failed` after."""
    out = stream if stream is not None else sys.stderr
    start = time.perf_counter()
    print(f"{PREFIX} {label} ...", file=out, flush=True)
    try:
        yield
    except BaseException:
        print(f"{PREFIX} {label} failed after {time.perf_counter() - start:.2f} s", file=out,
              flush=True)
        raise
    print(f"{PREFIX} {label} done ({time.perf_counter() - start:.2f} s)", file=out, flush=True)


def note(message: str, stream: TextIO | None = None) -> None:
    """Print one `[export]` line to stderr."""
    print(f"{PREFIX} {message}", file=stream if stream is not None else sys.stderr, flush=True)
