"""Process-mode Op workers (`is_thread_op: false`), supervised.

Each worker process has its own pipe to the server process, which keeps the request queue,
forms the batches (`batch_size`, `auto_batching_timeout`) and hands one batch at a time to an
idle worker. No queue or lock is shared between processes, so a worker killed at any moment
cannot lock the others out. A monitor thread watches every worker: when one dies, the requests
it held are answered at once with an error (9000), it is restarted with back-off, logged and
counted, and `health()` is false until it is back. Workers die with the server process
(PR_SET_PDEATHSIG, plus a parent check while idle): no orphan keeps running.
"""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.connection
import os
import queue
import signal
import threading
import time
import traceback
import weakref
from collections.abc import Callable
from typing import Any

from generator.runtime.errors import DagError, ErrorCode, PredictorError
from generator.runtime.executor.base import Emit, InFlight, next_batch, prepare_op
from generator.runtime.executor.messages import (
    Batch,
    FromWorker,
    InitError,
    Ready,
    Results,
    Stop,
    ToWorker,
    WorkerState,
)
from generator.runtime.executor.supervision import DeathHistory, die_with_parent, exit_description
from generator.runtime.pipeline.channel_data import ChannelData
from generator.runtime.pipeline.operator import Item, Op

_LOGGER = logging.getLogger(__name__)

#: the server-side ends of every worker pipe in this process; a new worker closes its copies,
#: so that the death of the server gives every worker EOF
_PARENT_ENDS: weakref.WeakSet = weakref.WeakSet()
_POLL_S = 0.2


def _child_main(op: Op, idx: int, conn, device: str, device_id: int, parent: int,
                prepare: Callable[[Op], None]) -> None:
    die_with_parent(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the server drains, then stops us
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    for end in list(_PARENT_ENDS):
        end.close()
    op.concurrency_idx = idx
    op._process_executor = None
    try:
        op.client = op._build_client(device, device_id) if op.with_serving else None
        prepare(op)
    except Exception as exc:  # noqa: BLE001 - reported to the server
        conn.send(InitError(f"{type(exc).__name__}: {exc}", traceback.format_exc()))
        return
    conn.send(Ready())
    while True:
        if not conn.poll(1.0):
            if os.getppid() != parent:
                return
            continue
        try:
            msg: ToWorker = conn.recv()
        except (EOFError, OSError):
            return
        if isinstance(msg, Stop):
            return
        conn.send(Results(op.run_batch(msg.items)))


class _Worker:
    __slots__ = ("idx", "proc", "conn", "state", "busy", "history", "restart_at", "started",
                 "init_error")

    def __init__(self, idx: int) -> None:
        self.idx = idx
        self.proc: Any = None
        self.conn: Any = None
        self.state = WorkerState.NEW
        self.busy: list[Item] | None = None
        self.history = DeathHistory()
        self.restart_at = 0.0
        self.started = 0.0
        self.init_error = ""


class ProcessWorkers:
    """`concurrency` supervised worker processes; worker `i` uses device `devices[i % n]`.

    `prepare(op)` runs in each worker after its predictor is built (`init_op`, warm-up);
    `on_death(op_name, idx, reason)` is called for every unexpected death.
    """

    def __init__(self, op: Op, emit: Emit, channel_size: int,
                 resolve_devices: Callable[[dict], tuple[str, list[int]]],
                 prepare: Callable[[Op], None] | None = None,
                 on_death: Callable[[str, int, str], None] | None = None,
                 inflight: Callable[[], int] | None = None):
        self.op = op
        self._inflight = InFlight(inflight)
        self.queue: queue.Queue = queue.Queue(maxsize=channel_size)
        self._ctx = multiprocessing.get_context("fork")
        self._emit = emit
        self._resolve = resolve_devices
        self._prepare = prepare or prepare_op
        self._on_death = on_death
        self._workers = [_Worker(i) for i in range(op.concurrency or 1)]
        self._cond = threading.Condition()
        self._stopping = False
        self._device = "cpu"
        self._ids = [-1]
        self._threads: list[threading.Thread] = []
        self._wake_r, self._wake_w = self._ctx.Pipe(duplex=False)

    # ------------------------------------------------------------ life cycle
    def start(self) -> None:
        op = self.op
        if op.with_serving:
            self._device, ids = self._resolve(op.local_service_conf)
            self._ids = ids or [-1]
        for w in self._workers:
            self._spawn(w)
        try:
            self._await_start()
        except BaseException:
            self.stop(1.0)
            raise
        for target, name in ((self._monitor, "monitor"), (self._dispatch, "dispatch")):
            t = threading.Thread(target=target, daemon=True, name=f"{name}-{op.name}")
            t.start()
            self._threads.append(t)

    def _spawn(self, w: _Worker) -> None:
        parent_end, child_end = self._ctx.Pipe(duplex=True)
        _PARENT_ENDS.add(parent_end)
        proc = self._ctx.Process(
            target=_child_main, name=f"op-{self.op.name}-{w.idx}", daemon=True,
            args=(self.op, w.idx, child_end, self._device, self._ids[w.idx % len(self._ids)],
                  os.getpid(), self._prepare))
        proc.start()
        child_end.close()
        w.proc, w.conn, w.state, w.busy, w.started = proc, parent_end, WorkerState.STARTING, \
            None, time.monotonic()
        w.init_error = ""

    def _await_start(self) -> None:
        """Wait until every worker reported ready; a failure stops start-up."""
        pending = {w.conn: w for w in self._workers}
        while pending:
            ready = multiprocessing.connection.wait(
                [*pending, *(w.proc.sentinel for w in pending.values())], timeout=1.0)
            for r in ready:
                w = pending.get(r)
                if w is None:
                    continue
                try:
                    msg = r.recv()
                except (EOFError, OSError):
                    msg = None
                if isinstance(msg, InitError):
                    _LOGGER.debug("worker traceback:\n%s", msg.traceback)
                    raise PredictorError(
                        f"Op '{self.op.name}' worker {w.idx} failed to start: {msg.message}")
                if not isinstance(msg, Ready):
                    continue
                w.state = WorkerState.IDLE
                del pending[r]
            for w in list(pending.values()):
                if w.proc.exitcode is not None and not w.conn.poll(0):
                    raise DagError(f"Op '{self.op.name}': worker process {w.proc.name} "
                                   f"{exit_description(w.proc.exitcode)} during start-up")

    def stop(self, timeout: float) -> None:
        """Let busy workers finish (up to `timeout` s), stop them all, end the threads."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self._wake()
        deadline = time.monotonic() + timeout
        for t in self._threads[1:]:  # the dispatcher: sends nothing more once it returns
            t.join(max(0.1, deadline - time.monotonic()))
        with self._cond:
            while any(w.state is WorkerState.BUSY for w in self._workers) and time.monotonic() < deadline:
                self._cond.wait(min(_POLL_S, max(0.0, deadline - time.monotonic())))
            workers = [w for w in self._workers if w.proc is not None]
        for w in workers:
            try:
                w.conn.send(Stop())
            except (OSError, ValueError):
                pass
        for w in workers:
            w.proc.join(max(0.0, deadline - time.monotonic()))
            if w.proc.is_alive():
                w.proc.terminate()
                w.proc.join(1.0)
            w.state = WorkerState.STOPPED
        self._wake()
        for t in self._threads[:1]:
            t.join(2.0)

    def _wake(self) -> None:
        try:
            self._wake_w.send_bytes(b"x")
        except (OSError, ValueError):
            pass

    # --------------------------------------------------------------- requests
    def submit(self, item: Item) -> bool:
        try:
            self.queue.put_nowait(item)
            return True
        except queue.Full:
            return False

    def _take_idle(self) -> _Worker | None:
        with self._cond:
            while not self._stopping:
                for w in self._workers:
                    if w.state is WorkerState.IDLE:
                        return w
                self._cond.wait(_POLL_S)
        return None

    def _dispatch(self) -> None:
        op = self.op
        while True:
            if self._take_idle() is None:
                return
            items, stop = next_batch(self.queue, op.batch_size, op.auto_batching_timeout_s,
                                     lambda: not self._stopping, poll_s=_POLL_S,
                                     expect_more=self._inflight.expect_more)
            if items:
                self._send(items)
            if stop:
                return

    def _send(self, items: list[Item]) -> None:
        while True:
            w = self._take_idle()
            if w is None:
                self._fail(items, "the service is shutting down", ErrorCode.CLOSED_ERROR)
                return
            with self._cond:
                if w.state is not WorkerState.IDLE:
                    continue
                w.state, w.busy = WorkerState.BUSY, [(d, lg, {}) for d, lg, _ in items]
                self._inflight.add(len(items))
            try:
                w.conn.send(Batch(items))
                return
            except (OSError, ValueError):  # died meanwhile: the monitor answers its items
                return

    def _fail(self, items: list[Item], why: str, code: int = ErrorCode.CLIENT_ERROR) -> None:
        results = [(ChannelData(error_code=code, data_id=d, log_id=lg,
                                error_info=f"[{self.op.name}] {why}"), 0.0) for d, lg, _ in items]
        self._emit(self.op, items, results)

    # ------------------------------------------------------------ supervision
    def _monitor(self) -> None:
        while True:
            with self._cond:
                if self._stopping and all(w.state in (WorkerState.STOPPED, WorkerState.DEAD)
                                         for w in self._workers):
                    return
                live = [w for w in self._workers if w.state.live]
            conns = {w.conn: w for w in live}
            sentinels = {w.proc.sentinel: w for w in live}
            try:
                ready = multiprocessing.connection.wait(
                    [*conns, *sentinels, self._wake_r], timeout=_POLL_S)
            except (OSError, ValueError):
                ready = []
            for r in ready:
                if r is self._wake_r:
                    while self._wake_r.poll(0):
                        self._wake_r.recv_bytes()
                elif r in conns:
                    self._receive(conns[r])
            for r in ready:
                if r in sentinels:
                    w = sentinels[r]
                    while w.state is not WorkerState.DEAD and self._receive(w, block=False):
                        pass
                    self._died(w)
            self._restart_due()

    def _receive(self, w: _Worker, block: bool = True) -> bool:
        """Handle one message of `w`; False when there is none (or it died)."""
        try:
            if not block and not w.conn.poll(0):
                return False
            msg: FromWorker = w.conn.recv()
        except (EOFError, OSError, ValueError):
            self._died(w)
            return False
        if isinstance(msg, Results):
            with self._cond:
                items, w.busy = w.busy or [], None
                self._inflight.add(-len(items))
                if w.state is WorkerState.BUSY:
                    w.state = WorkerState.IDLE
                self._cond.notify_all()
            if items:
                self._emit(self.op, items, msg.results)
        elif isinstance(msg, Ready):
            with self._cond:
                if w.state is WorkerState.STARTING:
                    w.state = WorkerState.IDLE
                    _LOGGER.warning("Op '%s' worker %d restarted (pid %s)", self.op.name, w.idx,
                                    w.proc.pid)
                self._cond.notify_all()
        elif isinstance(msg, InitError):
            w.init_error = msg.message
            _LOGGER.error("Op '%s' worker %d failed to restart: %s", self.op.name, w.idx,
                          msg.message)
        return True

    def _died(self, w: _Worker) -> None:
        with self._cond:
            if w.state in (WorkerState.DEAD, WorkerState.STOPPED):
                return
            items, w.busy = w.busy, None
            self._inflight.add(-len(items or []))
            w.proc.join(0.5)
            reason = (f"failed to start: {w.init_error}" if w.init_error
                      else exit_description(w.proc.exitcode))
            stopping = self._stopping
            delay = 0.0
            if stopping:
                w.state = WorkerState.STOPPED
            else:
                delay = w.history.record(reason)
                w.state, w.restart_at = WorkerState.DEAD, time.monotonic() + delay
            self._cond.notify_all()
        if stopping:
            if items:
                self._fail(items, f"the worker process running this request died ({reason})")
            return
        try:
            w.conn.close()
        except OSError:
            pass
        _LOGGER.error("Op '%s' worker %d (pid %s) died: %s; %d request(s) failed; restarting "
                      "in %.1f s", self.op.name, w.idx, w.proc.pid, reason, len(items or []),
                      delay)
        if self._on_death is not None:
            self._on_death(self.op.name, w.idx, reason)
        if items:
            self._fail(items, f"the worker process running this request died ({reason}); it "
                              "is being restarted: retry the request")

    def _restart_due(self) -> None:
        now = time.monotonic()
        with self._cond:
            due = [w for w in self._workers
                   if w.state is WorkerState.DEAD and w.restart_at <= now and not self._stopping]
            for w in due:
                self._spawn(w)

    # --------------------------------------------------------------- health
    def health(self) -> tuple[bool, str]:
        """(all workers up, why not)."""
        with self._cond:
            down = [w for w in self._workers if not w.state.up]
            if not down or self._stopping:
                return not down, ""
            w = down[0]
            if w.history.flapping():
                why = (f"Op '{self.op.name}' worker {w.idx} keeps dying: "
                       f"{w.history.recent()} deaths in 60 s, last {w.history.last_reason}")
            else:
                why = (f"Op '{self.op.name}' worker {w.idx} is restarting "
                       f"(died: {w.history.last_reason or 'starting'})")
            return False, why

    def pids(self) -> list[int]:
        """Worker pids (for tests and tools)."""
        with self._cond:
            return [w.proc.pid for w in self._workers if w.proc is not None]
