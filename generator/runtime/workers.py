"""Op worker pools: threads (`is_thread_op: true`) here, supervised processes (`false`) in
`process_workers`.

Both take up to `batch_size` queued requests (waiting at most `auto_batching_timeout` for more;
with no timeout, only what is already queued — Paddle Serving blocked until the batch was
full), run the Op on them and hand the results back. Every predictor is warmed up before the
service is ready; a model whose warm-up outputs are empty or malformed stops start-up.
"""

from __future__ import annotations

import concurrent.futures
import copy
import logging
import math
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from generator.runtime.errors import DagError, PredictorError
from generator.runtime.operator import Item, Op
from generator.runtime.process_workers import ProcessWorkers

__all__ = ["ProcessWorkers", "ThreadWorkers", "next_batch", "prepare_op", "warm_up"]

_LOGGER = logging.getLogger("generator.runtime")

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


def warm_up(op_name: str, predictor: Any) -> None:
    """One inference on the predictor's warm-up inputs. Raises PredictorError when the outputs
    are empty, not finite, or not of the per-sample size the model declares (a truncated or
    mismatched weights file); an input the model rejects is only a warning."""
    feed_of = getattr(predictor, "warmup_feed", None)
    feed = feed_of() if feed_of is not None else None
    if feed is None:
        return
    try:
        out = predictor.predict(feed, batch=True, log_id=-1)
    except Exception as exc:  # noqa: BLE001 - the synthetic input may not suit the model
        _LOGGER.warning("[%s] warm-up inference failed (not checked): %s", op_name, exc)
        return
    problem = _malformed(out, getattr(predictor, "fetch_vars", []), batch=1)
    if problem:
        raise PredictorError(
            f"Op '{op_name}': the model at {getattr(predictor, 'model_dir', '?')} gives "
            f"{problem} for a valid warm-up input ({', '.join(f'{k} {v.shape}' for k, v in feed.items())}); "
            "its weights file may be truncated or not match the program: re-export the model")


def _malformed(out: dict, fetch_vars: list, batch: int) -> str:
    """Why warm-up outputs look broken ('' when they look fine)."""
    arrays = {k: v for k, v in out.items() if isinstance(v, np.ndarray) and not k.endswith(".lod")}
    if not arrays:
        return "no outputs"
    if all(v.size == 0 for v in arrays.values()):
        return "only empty outputs (" + ", ".join(f"{k} {v.shape}" for k, v in arrays.items()) + ")"
    for key, value in arrays.items():
        if value.dtype.kind in "fc" and not np.isfinite(value).all():
            return f"non-finite values (NaN or inf) in output '{key}'"
    declared = {v.alias_name: v for v in fetch_vars}
    for key, value in arrays.items():
        var = declared.get(key)
        if (var is None or var.is_lod_tensor or not var.shape or min(var.shape) <= 0
                or value.ndim < 1 or value.shape[0] != batch):
            continue
        if value.ndim - 1 != len(var.shape):  # the prototxt keeps only the fixed dims (a DB
            continue  # map [-1, 1, -1, -1] is declared [1]): nothing to compare
        want = math.prod(var.shape)
        if math.prod(value.shape[1:]) != want:
            return (f"output '{key}' of shape {value.shape} where the model declares "
                    f"{list(var.shape)} per sample (serving_server_conf.prototxt)")
    return ""


def prepare_op(op: Op) -> None:
    """In a worker: `init_op`, then warm up the Op's predictor (if it has one)."""
    _init_op(op)
    if op.client is not None:
        warm_up(op.name, op.client)


def _device_plan(op: Op, resolve_devices: Callable[[dict], tuple[str, list[int]]]):
    device, ids = resolve_devices(op.local_service_conf)
    return device, ids or [-1]


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
        #: longest wait for a free Op copy, and for its run (the server's request deadline)
        self.wait_s: float = 30.0
        self._runners: concurrent.futures.ThreadPoolExecutor | None = None

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
            items, stop = next_batch(self.queue, worker.batch_size, worker.auto_batching_timeout_s)
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
                worker = self._free.get(timeout=self.wait_s)
            except queue.Empty:
                return False
            finally:
                with self._waiting_lock:
                    self._waiting -= 1
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
