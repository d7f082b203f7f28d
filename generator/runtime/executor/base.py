"""What every Op worker pool shares: the `WorkerPool` contract, taking a batch off a queue
(`next_batch`) and getting an Op ready in a worker (`prepare_op`: `init_op`, then warm-up).

A pool is driven by one thread of the DAG: `start` once, `submit` from request threads,
`health` from the readiness probe, `stop` once; results go back through the `Emit` callable."""

from __future__ import annotations

import queue
import time
from collections.abc import Callable
from typing import Any, Protocol

from generator.runtime.errors import DagError
from generator.runtime.inference.warmup import warm_up
from generator.runtime.pipeline.operator import Item, Op

Emit = Callable[[Op, list[Item], list[tuple[Any, float]]], None]


_STOP = None


def next_batch(q, batch_size: int, wait_s: float | None, poll: Callable[[], bool] | None = None,
               poll_s: float = 1.0):
    """Block for one item, then gather up to `batch_size`. Returns (items, stop_seen); stops
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
            if deadline is None:
                item = q.get_nowait()
            else:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                item = q.get(timeout=remaining)
        except queue.Empty:
            break
        if item is _STOP:
            stop = True
            break
        items.append(item)
    return items, stop


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
