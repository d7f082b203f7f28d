"""The thread pool of an Op (`is_thread_op: true`); supervised processes (`false`) are in
`processes`, and what both share (`WorkerPool`, `next_batch`, `prepare_op`) in `base`.

Both take up to `batch_size` queued requests (waiting at most `auto_batching_timeout` for more;
with no timeout, only what is already queued — Paddle Serving blocked until the batch was
full), run the Op on them and hand the results back. Every predictor is warmed up before the
service is ready; a model whose warm-up outputs are empty or malformed stops start-up.
"""

from __future__ import annotations

import concurrent.futures
import copy
import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from generator.runtime.errors import OverloadedError
from generator.runtime.executor.base import (
    _STOP,
    Emit,
    InFlight,
    _device_plan,
    _init_op,
    next_batch,
)
from generator.runtime.inference.warmup import warm_up
from generator.runtime.pipeline.operator import Item, Op

__all__ = ["ThreadWorkers"]

_LOGGER = logging.getLogger(__name__)


class ThreadWorkers:
    """`concurrency` Op copies, each with its own predictor (clones share the weights).

    With `batch_size` 1 each request runs on a free copy in one of `concurrency` runner
    threads, and its caller waits at most the request deadline: a user hook that never returns
    costs its copy and runner (until it returns) and its request a timeout answer (6000), not
    the caller. Callers waiting for a free copy form the queue that `channel_size` bounds, and
    wait at most the request deadline too. With auto-batching, `concurrency` threads pull
    batches from a queue.
    """

    def __init__(self, op: Op, emit: Emit, channel_size: int,
                 resolve_devices: Callable[[dict], tuple[str, list[int]]], *, wait_s: float,
                 inflight: Callable[[], int] | None = None):
        self.op = op
        self._inflight = InFlight(inflight)
        self.queue: queue.Queue = queue.Queue(maxsize=channel_size)
        self._emit = emit
        self._resolve = resolve_devices
        self._threads: list[threading.Thread] = []
        self._inline = False
        self._free: queue.LifoQueue = queue.LifoQueue()
        self._channel_size = channel_size
        self._waiting = 0
        self._waiting_lock = threading.Lock()
        #: longest wait for a free Op copy, and for its run (the server's request deadline)
        self.wait_s = wait_s
        self._runners: concurrent.futures.ThreadPoolExecutor | None = None

    def start(self) -> None:
        op, workers = self.op, []
        base, device, ids = None, "cpu", [-1]
        by_device: dict[int, Any] = {}
        copies = op.concurrency or 1
        if op.with_serving:
            device, ids = _device_plan(op, self._resolve)
            base = op._build_client(device, ids[0], _share(copies, len(ids)))
            by_device[ids[0]] = base
        op.client = base
        _init_op(op)
        for idx in range(copies):
            worker = copy.copy(op)
            worker._process_executor = None
            if base is not None:
                dev = ids[idx % len(ids)]
                if idx == 0:
                    worker.client = base
                elif dev not in by_device:
                    by_device[dev] = worker.client = op._build_client(
                        device, dev, _share(copies, len(ids)))
                else:
                    worker.client = by_device[dev].clone()
            workers.append(worker)
        for predictor in by_device.values():
            warm_up(op.name, predictor)
        if op.batch_size <= 1:
            self._inline = True
            self._runners = concurrent.futures.ThreadPoolExecutor(
                max_workers=len(workers), thread_name_prefix=f"op-{op.name}")
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
            items, stop = next_batch(self.queue, worker.batch_size, worker.auto_batching_timeout_s,
                                     expect_more=self._inflight.expect_more)
            if items:
                self._inflight.add(len(items))
                try:
                    self._emit(self.op, items, worker.run_batch(items))
                finally:
                    self._inflight.add(-len(items))
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

    def _take(self) -> Op | None:
        """A free Op copy: at once, or after waiting at most `wait_s` while fewer than
        `channel_size` callers wait (0: no bound); None when there is none."""
        try:
            return self._free.get_nowait()
        except queue.Empty:
            pass
        with self._waiting_lock:
            if self._channel_size and self._waiting >= self._channel_size:
                return None
            self._waiting += 1
        try:
            return self._free.get(timeout=self.wait_s)
        except queue.Empty:
            return None
        finally:
            with self._waiting_lock:
                self._waiting -= 1

    @property
    def runs_copies_here(self) -> bool:
        """True when `run_on_copy` works (thread mode with `batch_size` 1)."""
        return self._inline

    def run_on_copy(self, fn: Callable[[Any], Any]) -> Any:
        """`fn(predictor)` on a free Op copy's predictor, in the Op's runner threads, within the
        pipeline's bounds (so the bare model of the Open Inference Protocol adds no thread or
        predictor of its own). Raises OverloadedError when no copy is free in time, and
        concurrent.futures.TimeoutError when `fn` runs past `wait_s`."""
        worker = self._take() if self._inline else None
        if worker is None:
            raise OverloadedError(
                f"server overloaded: every copy of Op '{self.op.name}' is busy and "
                f"{'dag.channel_size' if self._channel_size else 'the request deadline'} "
                "is reached; retry later, or raise the Op's concurrency in config.yml")
        try:
            future = self._runners.submit(fn, worker.client)
        except RuntimeError:  # the pool is shut down: the service is stopping
            self._free.put(worker)
            raise OverloadedError("the service is shutting down") from None
        future.add_done_callback(lambda _: self._free.put(worker))
        return future.result(timeout=self.wait_s)

    def _run_inline(self, item: Item) -> bool:
        worker = self._take()
        if worker is None:
            return False

        def done(future: concurrent.futures.Future) -> None:
            self._free.put(worker)  # also when a hung hook returns after the deadline

        try:
            future = self._runners.submit(worker.run_batch, [item])
        except RuntimeError:  # the pool is shut down: the service is stopping
            self._free.put(worker)
            return False
        future.add_done_callback(done)
        try:
            results = future.result(timeout=self.wait_s)
        except concurrent.futures.TimeoutError:
            # the request's deadline answers it (DagExecutor); the copy comes back when done
            _LOGGER.warning("[%s] an Op call is still running after %.0f s; its request gets "
                            "a timeout answer", self.op.name, self.wait_s)
            return True
        self._emit(self.op, [item], results)
        return True

    def health(self) -> tuple[bool, str]:
        """Threads do not die on their own: always (True, "")."""
        return True, ""

    def stop(self, timeout: float) -> None:
        if self._runners is not None:
            self._runners.shutdown(wait=False)
        for _ in self._threads:
            self.queue.put(_STOP)
        deadline = time.monotonic() + timeout
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))


def _share(copies: int, devices: int) -> int:
    """Copies of an Op on one device (its copies go round-robin over the devices)."""
    return max(1, -(-copies // max(1, devices)))
