"""Typed states and messages of the process workers: what a worker process is doing
(`WorkerState`), what the server sends it (`Batch`, `Stop`) and what it answers (`Ready`,
`InitError`, `Results`), plus the state of a forked whole-server worker (`SiblingState`).

Messages cross a `multiprocessing` pipe (pickled), so they are small frozen dataclasses.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from generator.runtime.pipeline.operator import Item


class WorkerState(enum.Enum):
    """Life cycle of one Op worker process, as its supervisor sees it."""

    NEW = "new"
    STARTING = "starting"
    IDLE = "idle"
    BUSY = "busy"
    DEAD = "dead"  # waiting for its restart
    STOPPED = "stopped"

    @property
    def up(self) -> bool:
        """Serving (idle or busy)."""
        return self in (WorkerState.IDLE, WorkerState.BUSY)

    @property
    def live(self) -> bool:
        """A process is running (starting, idle or busy)."""
        return self in (WorkerState.STARTING, WorkerState.IDLE, WorkerState.BUSY)


class SiblingState(enum.IntEnum):
    """State of a forked whole-server worker (`build_dag_each_worker`), kept in shared memory
    as a signed byte."""

    FLAPPING = -1
    DOWN = 0
    UP = 1


# ------------------------------------------------------------------ server -> worker


@dataclass(frozen=True)
class Batch:
    """Run the Op on these requests."""

    items: list[Item]


@dataclass(frozen=True)
class Stop:
    """Finish: the worker process exits."""


# ------------------------------------------------------------------ worker -> server


@dataclass(frozen=True)
class Ready:
    """The predictor is built, `init_op` ran and the warm-up passed."""


@dataclass(frozen=True)
class InitError:
    """The worker could not start; `message` is one line, `traceback` the details."""

    message: str
    traceback: str


@dataclass(frozen=True)
class Results:
    """The outputs of the last `Batch`: (ChannelData, seconds) per request."""

    results: list[tuple[Any, float]]


ToWorker = Batch | Stop
FromWorker = Ready | InitError | Results
