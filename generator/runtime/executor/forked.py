"""`build_dag_each_worker: true`: `worker_num` forked processes, each with its own DAG and
servers on the same ports (SO_REUSEPORT), supervised by the server process.

A worker that dies is restarted with back-off (logged, counted in /metrics); until it is back,
every worker's /health/ready is 503 with the reason (a shared-memory status array tells each
worker about its siblings), and one that keeps dying says so. A worker whose first start fails
stops the service (exit 1). Workers get SIGTERM (and drain) when the server process dies.
SIGTERM/SIGINT to the server drains every worker, then it returns.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable
from typing import Any

from generator.runtime.errors import RuntimeServingError
from generator.runtime.executor.messages import SiblingState
from generator.runtime.executor.supervision import (
    FLAP_WINDOW_S,
    DeathHistory,
    die_with_parent,
    exit_description,
)

_LOGGER = logging.getLogger(__name__)



class ForkedWorkers:
    """Runs `serve(idx, workers)` in `n` forked processes and keeps them running.

    `serve` starts the servers, calls `workers.mark_up(idx)`, blocks until SIGTERM and returns
    the exit code; `workers.siblings()` is (every worker up, why not) for readiness.
    `on_death(idx, pid, reason)` runs in the server process for every unexpected death.
    """

    def __init__(self, n: int, serve: Callable[[int, ForkedWorkers], int],
                 shutdown_timeout_s: float,
                 on_death: Callable[[int, int, str], None] | None = None):
        self.n = n
        self._serve = serve
        self._timeout = shutdown_timeout_s
        self._on_death = on_death
        self._state: Any = multiprocessing.RawArray("b", n)
        self._pids: dict[int, int] = {}  # pid -> idx
        self._history = [DeathHistory() for _ in range(n)]
        self._restart_at: dict[int, float] = {}
        self._signalled = threading.Event()

    def mark_up(self, idx: int) -> None:
        """In worker `idx`: its servers are up."""
        self._state[idx] = SiblingState.UP

    def siblings(self) -> tuple[bool, str]:
        """(every worker process is up, why not)."""
        states = [SiblingState(code) for code in self._state]
        for idx, code in enumerate(states):
            if code == SiblingState.FLAPPING:
                return False, (f"worker process {idx} of {self.n} keeps dying "
                               f"(build_dag_each_worker); see the service log")
            if code != SiblingState.UP:
                return False, f"worker process {idx} of {self.n} is (re)starting"
        return True, ""

    def _spawn(self, idx: int) -> None:
        parent = os.getpid()
        pid = os.fork()
        if pid == 0:  # the worker
            code = 1
            try:
                die_with_parent(parent, signal.SIGTERM)
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                signal.signal(signal.SIGINT, signal.SIG_DFL)
                code = self._serve(idx, self)
            except BaseException:  # noqa: BLE001 - logged; the exit code tells the parent
                _LOGGER.exception("worker process %d failed", idx)
            finally:
                os._exit(code)
        self._pids[pid] = idx

    def run(self) -> None:
        """Fork, supervise, and on SIGTERM/SIGINT drain every worker. Raises
        RuntimeServingError when a worker's first start fails or a worker did not drain."""
        for idx in range(self.n):
            self._spawn(idx)
        _LOGGER.info("started %d worker processes: %s", self.n, sorted(self._pids))
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: self._signalled.set())
        while not self._signalled.is_set():
            pid, status = os.waitpid(-1, os.WNOHANG)
            if pid == 0:
                self._restart_due()
                self._signalled.wait(0.1)
                continue
            code = os.waitstatus_to_exitcode(status)
            idx = self._pids.pop(pid)
            if self._history[idx].total == 0 and self._state[idx] != SiblingState.UP and code != 0:
                self._stop_all()
                self._wait_all()
                raise RuntimeServingError(f"worker process {idx} could not start "
                                          f"({exit_description(code)}); see the log above")
            reason = exit_description(code)
            delay = self._history[idx].record(reason)
            self._state[idx] = (SiblingState.FLAPPING if self._history[idx].flapping()
                                  else SiblingState.DOWN)
            _LOGGER.error("worker process %d (pid %d) died: %s; restarting in %.1f s (%d "
                          "death(s) in %d s)", idx, pid, reason, delay,
                          self._history[idx].recent(), FLAP_WINDOW_S)
            if self._on_death is not None:
                self._on_death(idx, pid, reason)
            self._restart_at[idx] = time.monotonic() + delay
        _LOGGER.info("signal received: draining %d worker processes (at most %ss)",
                     len(self._pids), self._timeout)
        self._stop_all()
        failed = self._wait_all()
        if failed:
            raise RuntimeServingError(f"{failed} worker process(es) failed or did not drain; "
                                      "see the log above")

    def _restart_due(self) -> None:
        now = time.monotonic()
        for idx, at in list(self._restart_at.items()):
            if at <= now:
                del self._restart_at[idx]
                self._spawn(idx)

    def _stop_all(self) -> None:
        for pid in self._pids:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    def _wait_all(self) -> int:
        """Reap every worker (SIGKILL past the drain limit); the number that failed."""
        failed = 0
        deadline = time.monotonic() + self._timeout + 5
        while self._pids:
            pid, status = os.waitpid(-1, os.WNOHANG)
            if pid == 0:
                if time.monotonic() > deadline:
                    for p in self._pids:
                        os.kill(p, signal.SIGKILL)
                    deadline = float("inf")
                time.sleep(0.05)
                continue
            self._pids.pop(pid, None)
            if os.waitstatus_to_exitcode(status) != 0:
                failed += 1
        return failed
