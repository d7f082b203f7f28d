"""What every Op worker pool shares: the `WorkerPool` contract, taking a batch off a queue
(`next_batch`) and getting an Op ready in a worker (`prepare_op`: `init_op`, then warm-up).

A pool is driven by one thread of the DAG: `start` once, `submit` from request threads,
`health` from the readiness probe, `stop` once; results go back through the `Emit` callable."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from generator.runtime.errors import DagError
from generator.runtime.inference.warmup import warm_up
from generator.runtime.pipeline.operator import Item, Op

Emit = Callable[[Op, list[Item], list[tuple[Any, float]]], None]


_STOP = None
#: while waiting to fill a batch, look again this often whether more requests are coming
_RECHECK_S = 0.005


def next_batch(q, batch_size: int, wait_s: float | None, poll: Callable[[], bool] | None = None,
               poll_s: float = 1.0, expect_more: Callable[[int], bool] | None = None):
    """Block for one item, then gather up to `batch_size`: what is queued, then — for at most
    `wait_s` — what arrives, but only while `expect_more(gathered)` says other requests are on
    their way (so a lone request never waits for company). Returns (items, stop_seen); stops
    when `poll()` turns false."""
    while True:
        try:
            first = q.get(timeout=poll_s)
            break
        except queue.Empty:
            if poll is not None and not poll():
                return [], True
    if first is _STOP:
        return [], True
    items, stop = [first], False
    deadline = None if wait_s is None else time.monotonic() + wait_s
    while len(items) < batch_size:
        try:
            item = q.get_nowait()
        except queue.Empty:
            if deadline is None or (expect_more is not None and not expect_more(len(items))):
                break
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                item = q.get(timeout=min(remaining, _RECHECK_S))
            except queue.Empty:
                continue
        if item is _STOP:
            stop = True
            break
        items.append(item)
    return items, stop


class InFlight:
    """Counts the requests a pool's workers are running, to tell the batcher whether more
    requests are on their way: the DAG's in-flight count (`total()`) minus those."""

    def __init__(self, total: Callable[[], int] | None):
        self._total = total
        self._running = 0
        self._lock = threading.Lock()

    def add(self, n: int) -> None:
        with self._lock:
            self._running += n

    def expect_more(self, gathered: int) -> bool:
        """True when requests beyond the `gathered` ones and those running are in flight."""
        if self._total is None:
            return True
        return self._total() > gathered + self._running


def _init_op(op: Op) -> None:
    """`op.init_op()`; a failure stops start-up with the Op named (Paddle Serving's 3003)."""
    try:
        op.init_op()
    except Exception as exc:
        raise DagError(f"Op '{op.name}': init_op failed: {type(exc).__name__}: {exc}") from exc


def prepare_op(op: Op) -> None:
    """In a worker: `init_op`, then warm up the Op's predictor (if it has one)."""
    _init_op(op)
    if op.client is not None:
        warm_up(op.name, op.client)


def _device_plan(op: Op, resolve_devices: Callable[[dict], tuple[str, list[int]]]):
    device, ids = resolve_devices(op.local_service_conf)
    return device, ids or [-1]


class WorkerPool(Protocol):
    """An Op's workers (threads or processes), as the DAG drives them."""

    def start(self) -> None:
        """Start every worker and warm it up; raise (DagError/PredictorError) if one cannot."""

    def submit(self, item: Item) -> bool:
        """Queue one request; False when the pool is at its `channel_size` bound."""

    def health(self) -> tuple[bool, str]:
        """(every worker is up, why not)."""

    def stop(self, timeout: float) -> None:
        """Stop taking work, finish what is queued within `timeout` seconds, end the workers."""
