"""Op worker pools: threads (`is_thread_op: true`) or forked processes (`false`).

Both run the same loop: take up to `batch_size` queued requests (waiting at most
`auto_batching_timeout` for more; with no timeout, only what is already queued — Paddle Serving
blocked until the batch was full), run the Op on them, hand the results back.
"""

from __future__ import annotations

import copy
import logging
import multiprocessing
import os
import queue
import signal
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

from generator.runtime.errors import DagError, PredictorError
from generator.runtime.operator import Item, Op

_LOGGER = logging.getLogger("generator.runtime")

Emit = Callable[[Op, list[Item], list[tuple[Any, float]]], None]
_STOP = None


def _next_batch(q, batch_size: int, wait_s: float | None, poll: Callable[[], bool] | None = None):
    """Block for one item, then gather up to `batch_size`. Returns (items, stop_seen)."""
    while True:
        try:
            first = q.get(timeout=1.0)
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


def _device_plan(op: Op, resolve_devices: Callable[[dict], tuple[str, list[int]]]):
    device, ids = resolve_devices(op.local_service_conf)
    return device, ids or [-1]


class ThreadWorkers:
    """`concurrency` Op copies, each with its own predictor (clones share the weights).

    With `batch_size` 1 the calling thread runs the Op itself on a free copy (no hand-off
    between threads: that costs more than a small model's inference); callers waiting for a
    free copy form the queue that `channel_size` bounds. With auto-batching, `concurrency`
    threads pull batches from a queue.
    """

    def __init__(self, op: Op, emit: Emit, channel_size: int,
                 resolve_devices: Callable[[dict], tuple[str, list[int]]]):
        self.op = op
        self.queue: queue.Queue = queue.Queue(maxsize=channel_size)
        self._emit = emit
        self._resolve = resolve_devices
        self._threads: list[threading.Thread] = []
        self._inline = False
        self._free: queue.LifoQueue = queue.LifoQueue()
        self._channel_size = channel_size
        self._waiting = 0
        self._waiting_lock = threading.Lock()

    def start(self) -> None:
        op, workers = self.op, []
        base, device, ids = None, "cpu", [-1]
        by_device: dict[int, Any] = {}
        if op.with_serving:
            device, ids = _device_plan(op, self._resolve)
            base = op._build_client(device, ids[0])
            by_device[ids[0]] = base
        op.client = base
        _init_op(op)
        for idx in range(op.concurrency or 1):
            worker = copy.copy(op)
            worker._process_executor = None
            if base is not None:
                dev = ids[idx % len(ids)]
                if idx == 0:
                    worker.client = base
                elif dev not in by_device:
                    by_device[dev] = worker.client = op._build_client(device, dev)
                else:
                    worker.client = by_device[dev].clone()
            workers.append(worker)
        for predictor in by_device.values():
            try:
                predictor.warmup()
            except Exception as exc:  # noqa: BLE001 - warm-up is best effort
                _LOGGER.warning("[%s] warm-up failed: %s", op.name, exc)
        if op.batch_size <= 1:
            self._inline = True
            for worker in workers:
                self._free.put(worker)
            return
        for idx, worker in enumerate(workers):
            t = threading.Thread(target=self._loop, args=(worker,), daemon=True,
                                 name=f"op-{op.name}-{idx}")
            t.start()
            self._threads.append(t)

    def _loop(self, worker: Op) -> None:
        while True:
            items, stop = _next_batch(self.queue, worker.batch_size, worker.auto_batching_timeout_s)
            if items:
                self._emit(self.op, items, worker.run_batch(items))
            if stop:
                return

    def submit(self, item: Item) -> bool:
        if self._inline:
            return self._run_inline(item)
        try:
            self.queue.put_nowait(item)
            return True
        except queue.Full:
            return False

    def _run_inline(self, item: Item) -> bool:
        try:
            worker = self._free.get_nowait()
        except queue.Empty:
            with self._waiting_lock:
                if self._channel_size and self._waiting >= self._channel_size:
                    return False
                self._waiting += 1
            try:
                worker = self._free.get()
            finally:
                with self._waiting_lock:
                    self._waiting -= 1
        try:
            results = worker.run_batch([item])
        finally:
            self._free.put(worker)
        self._emit(self.op, [item], results)
        return True

    def stop(self, timeout: float) -> None:
        for _ in self._threads:
            self.queue.put(_STOP)
        deadline = time.monotonic() + timeout
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))


def _child_main(op: Op, idx: int, in_q, out_q, device: str, device_id: int, parent: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent drains, then stops us
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    op.concurrency_idx = idx
    op._process_executor = None
    try:
        op.client = op._build_client(device, device_id) if op.with_serving else None
        _init_op(op)
        if op.client is not None:
            try:
                op.client.warmup()
            except Exception as exc:  # noqa: BLE001
                _LOGGER.warning("[%s] warm-up failed: %s", op.name, exc)
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which exits non-zero
        out_q.put(("init_error", op.name, idx, f"{type(exc).__name__}: {exc}",
                   traceback.format_exc()))
        return
    out_q.put(("ready", op.name, idx))

    def parent_alive() -> bool:
        return os.getppid() == parent

    while True:
        items, stop = _next_batch(in_q, op.batch_size, op.auto_batching_timeout_s, parent_alive)
        if items:
            results = op.run_batch(items)
            out_q.put(("results", op.name, [(i[0], i[1]) for i in items], results))
        if stop:
            return


class ProcessWorkers:
    """`concurrency` forked processes; worker `i` uses device `devices[i % len(devices)]`."""

    def __init__(self, op: Op, emit: Emit, channel_size: int,
                 resolve_devices: Callable[[dict], tuple[str, list[int]]]):
        self.op = op
        ctx = multiprocessing.get_context("fork")
        self.queue = ctx.Queue(maxsize=channel_size)
        self._out = ctx.Queue()
        self._ctx = ctx
        self._emit = emit
        self._resolve = resolve_devices
        self._procs: list[multiprocessing.Process] = []
        self._router: threading.Thread | None = None

    def start(self) -> None:
        op = self.op
        device, ids = (_device_plan(op, self._resolve) if op.with_serving else ("cpu", [-1]))
        for idx in range(op.concurrency or 1):
            p = self._ctx.Process(
                target=_child_main, name=f"op-{op.name}-{idx}", daemon=True,
                args=(op, idx, self.queue, self._out, device, ids[idx % len(ids)], os.getpid()),
            )
            p.start()
            self._procs.append(p)
        ready = 0
        while ready < len(self._procs):
            try:
                msg = self._out.get(timeout=1.0)
            except queue.Empty:
                dead = [p for p in self._procs if p.exitcode is not None]
                if dead:
                    raise DagError(f"Op '{op.name}': worker process {dead[0].name} exited with "
                                   f"code {dead[0].exitcode} during start-up") from None
                continue
            if msg[0] == "init_error":
                self.stop(1.0)
                _LOGGER.debug("child traceback:\n%s", msg[4])
                raise PredictorError(f"Op '{op.name}' worker {msg[2]} failed to start: {msg[3]}")
            ready += 1
        self._router = threading.Thread(target=self._route, daemon=True, name=f"router-{op.name}")
        self._router.start()

    def _route(self) -> None:
        while True:
            msg = self._out.get()
            if msg is _STOP:
                return
            _, _, ids, results = msg
            self._emit(self.op, [(d, lg, {}) for d, lg in ids], results)

    def submit(self, item: Item) -> bool:
        try:
            self.queue.put_nowait(item)
            return True
        except queue.Full:
            return False

    def stop(self, timeout: float) -> None:
        for _ in self._procs:
            try:
                self.queue.put(_STOP, timeout=1.0)
            except queue.Full:
                break
        deadline = time.monotonic() + timeout
        for p in self._procs:
            p.join(max(0.0, deadline - time.monotonic()))
            if p.is_alive():
                p.terminate()
                p.join(1.0)
        if self._router is not None:
            self._out.put(_STOP)
            self._router.join(1.0)
