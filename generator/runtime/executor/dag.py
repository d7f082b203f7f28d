"""The DAG executor: routes each request through the Ops and waits for its response.

A request gets a `data_id`; the first Ops receive `{"@DAGExecutor": request_dict}`; an Op with
several `input_ops` runs once all of them have produced their output for that `data_id`; the
last Op's output goes to the `ResponseOp`. Errors end the request at once.
"""

from __future__ import annotations

import concurrent.futures
import itertools
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from generator.runtime.config.loader import default_op_config
from generator.runtime.errors import (
    CustomException,
    DagError,
    ErrorCode,
    format_exception,
    short_text,
)
from generator.runtime.executor.base import WorkerPool
from generator.runtime.executor.kinds import worker_kind
from generator.runtime.executor.processes import ProcessWorkers
from generator.runtime.executor.threads import ThreadWorkers
from generator.runtime.metrics import Metrics
from generator.runtime.pipeline.channel_data import ChannelData
from generator.runtime.pipeline.io_ops import RequestOp, ResponseOp
from generator.runtime.pipeline.operator import DAG_EXECUTOR_NAME, Item, Op
from generator.runtime.proto import error_response
from generator.suggest import closest

_LOGGER = logging.getLogger(__name__)
#: longest err_msg a response carries
MAX_ERR_MSG_CHARS = 2000


class _Pending:
    __slots__ = ("event", "result", "joins", "log_id")

    def __init__(self, log_id: int):
        self.event: threading.Event | None = None  # created only if the caller must wait
        self.result: ChannelData | None = None
        self.joins: dict[str, dict[str, Any]] = {}
        self.log_id = log_id


def collect_ops(response_op: ResponseOp) -> tuple[RequestOp, list[Op]]:
    """The RequestOp and the user Ops reachable backwards from `response_op`, in topological
    order. Raises DagError on duplicate names, cycles or a graph without a RequestOp."""
    if not isinstance(response_op, ResponseOp):
        raise DagError(f"the response op must be a ResponseOp, found {type(response_op).__name__}")
    inputs = response_op.get_input_ops()
    if len(inputs) != 1:
        raise DagError(f"the ResponseOp needs exactly one input Op, found {len(inputs)}")
    order: list[Op] = []
    state: dict[int, str] = {}
    request_ops: set[int] = set()
    names: dict[str, Op] = {}

    def visit(op: Op, path: tuple[str, ...]) -> None:
        if isinstance(op, RequestOp):
            request_ops.add(id(op))
            order.append(op) if id(op) not in state else None
            state[id(op)] = "done"
            return
        if isinstance(op, ResponseOp):
            raise DagError("a ResponseOp cannot be the input of another Op")
        if state.get(id(op)) == "visiting":
            raise DagError(f"the Op graph has a cycle: {' -> '.join((*path, op.name))}")
        if state.get(id(op)) == "done":
            return
        if op.name == DAG_EXECUTOR_NAME:
            raise DagError(f"'{DAG_EXECUTOR_NAME}' is reserved for the RequestOp; rename the Op")
        if op.name in names and names[op.name] is not op:
            raise DagError(f"two Ops are named '{op.name}'; Op names must be unique")
        names[op.name] = op
        state[id(op)] = "visiting"
        if not op.get_input_ops():
            raise DagError(f"Op '{op.name}' has no input_ops; connect it to the read_op")
        for pred in op.get_input_ops():
            visit(pred, (*path, op.name))
        state[id(op)] = "done"
        order.append(op)

    visit(inputs[0], ())
    if len(request_ops) != 1:
        raise DagError(f"the Op graph must start from exactly one RequestOp, found {len(request_ops)}")
    request = next(op for op in order if isinstance(op, RequestOp))
    return request, [op for op in order if not isinstance(op, RequestOp)]


class DagExecutor:
    """Runs the Op graph for each request (`call`)."""

    def __init__(self, response_op: ResponseOp, config: dict, metrics: Metrics, source: str,
                 resolve_devices: Callable[[dict], tuple[str, list[int]]]):
        self._response_op = response_op
        self._request_op, self._ops = collect_ops(response_op)
        self._last = response_op.get_input_ops()[0]
        self._metrics = metrics
        dag = config["dag"]
        self._retry = dag["retry"]
        self._preds: dict[str, list[str]] = {}
        self._succ: dict[str, list[Op]] = {DAG_EXECUTOR_NAME: []}
        for op in self._ops:
            # validated once by the loader; an Op config.yml does not mention gets the defaults
            op.init_from_dict(config["op"].get(op.name) or default_op_config())
            self._preds[op.name] = [p.name for p in op.get_input_ops()]
            for pred in op.get_input_ops():
                self._succ.setdefault(pred.name, []).append(op)
        unused = sorted(set(config["op"]) - {op.name for op in self._ops})
        for name in unused:
            close = closest(name, [op.name for op in self._ops])
            hint = f"; did you mean '{close}'?" if close else ""
            _LOGGER.warning("%s: op.%s matches no Op of the service graph (Ops: %s)%s", source,
                            name, [op.name for op in self._ops], hint)
        #: every request ends within this many seconds (config.yml request_timeout_s)
        self.request_timeout_s = float(config["request_timeout_s"])
        self._pending: dict[int, _Pending] = {}
        self._pools: dict[str, WorkerPool] = {}
        for op in self._ops:
            op_conf = config["op"].get(op.name) or default_op_config()
            if worker_kind(op_conf, dag["is_thread_op"]) == "thread":
                pool = ThreadWorkers(op, self._on_results, dag["channel_size"], resolve_devices,
                                     wait_s=self.request_timeout_s, inflight=self._in_flight)
            else:
                pool = ProcessWorkers(op, self._on_results, dag["channel_size"], resolve_devices,
                                      on_death=metrics.worker_died, inflight=self._in_flight)
            self._pools[op.name] = pool
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._fanout = concurrent.futures.ThreadPoolExecutor(
            max_workers=max(4, config["worker_num"]), thread_name_prefix="fanout")
        self.ready = False

    def _in_flight(self) -> int:
        """Requests started and not yet answered (the batchers wait for company only then)."""
        return len(self._pending)

    @property
    def ops(self) -> list[Op]:
        return list(self._ops)

    def start(self) -> None:
        """Build predictors, run `init_op`, start the workers; raises on any failure."""
        started = []
        # process pools fork before any thread Op builds a predictor in this process
        order = sorted(self._ops, key=lambda op: isinstance(self._pools[op.name], ThreadWorkers))
        try:
            for op in order:
                self._pools[op.name].start()
                started.append(op.name)
        except BaseException:
            for name in started:
                self._pools[name].stop(2.0)
            raise
        self.ready = True

    def health(self) -> tuple[bool, str]:
        """(every Op's workers are up, why not); False before start and after stop."""
        if not self.ready:
            return False, "the Op graph is not running"
        for pool in self._pools.values():
            ok, why = pool.health()
            if not ok:
                return False, why
        return True, ""

    def stop(self, timeout: float = 5.0) -> None:
        self.ready = False
        for pool in self._pools.values():
            pool.stop(timeout)
        self._fanout.shutdown(wait=False)

    def copy_runner(self, op_name: str) -> Callable[[Callable[[Any], Any]], Any] | None:
        """`run(fn)`: `fn(predictor)` on one of the Op's copies, within its bounds (see
        `ThreadWorkers.run_on_copy`); None when the copies are out of reach here (process
        mode, auto-batching)."""
        pool = self._pools[op_name]
        if isinstance(pool, ThreadWorkers) and pool.runs_copies_here:
            return pool.run_on_copy
        return None

    # ----------------------------------------------------------------- flow
    def _finish(self, data_id: int, result: ChannelData) -> None:
        with self._lock:
            pending = self._pending.pop(data_id, None)
            if pending is None:
                return
            pending.result = result
            event = pending.event
        if event is not None:
            event.set()

    def _deliver(self, op: Op, data_id: int, pred: str, payload: Any) -> None:
        with self._lock:
            pending = self._pending.get(data_id)
            if pending is None:
                return
            joined = pending.joins.setdefault(op.name, {})
            joined[pred] = payload
            if len(joined) < len(self._preds[op.name]):
                return
            del pending.joins[op.name]
            log_id = pending.log_id
        inputs = {name: joined[name] for name in self._preds[op.name]}
        if not self._pools[op.name].submit((data_id, log_id, inputs)):
            self._finish(data_id, ChannelData(
                error_code=ErrorCode.OVERLOADED, data_id=data_id, log_id=log_id,
                error_info=(f"server overloaded: the queue of Op '{op.name}' is full "
                            "(dag.channel_size); retry later, add concurrency or raise "
                            "dag.channel_size in config.yml"),
            ))

    def _on_results(self, op: Op, items: list[Item], results: list[tuple[ChannelData, float]]) -> None:
        for (data_id, _log_id, _), (data, infer_s) in zip(items, results, strict=True):
            if infer_s > 0:
                self._metrics.inference_done(op.name, infer_s)
            if data.error_code != ErrorCode.OK or op is self._last:
                self._finish(data_id, data)
                continue
            payload = data.parse()
            successors = self._succ.get(op.name, [])
            for succ in successors[:-1]:  # branches run in parallel; the last one right here
                self._fanout.submit(self._deliver, succ, data_id, op.name, payload)
            if successors:
                self._deliver(successors[-1], data_id, op.name, payload)

    def _run_once(self, request_dict: dict, log_id: int, deadline: float) -> ChannelData:
        data_id = next(self._ids)
        pending = _Pending(log_id)
        with self._lock:
            self._pending[data_id] = pending
        entry = self._succ[DAG_EXECUTOR_NAME]
        for op in entry[:-1]:
            self._fanout.submit(self._deliver, op, data_id, DAG_EXECUTOR_NAME, request_dict)
        self._deliver(entry[-1], data_id, DAG_EXECUTOR_NAME, request_dict)
        with self._lock:  # inline Ops usually finished the request already
            if pending.result is None:
                pending.event = threading.Event()
            event = pending.event
        if event is not None and not event.wait(max(0.0, deadline - time.monotonic())):
            with self._lock:
                expired = self._pending.pop(data_id, None) is not None
            if expired:
                return ChannelData(error_code=ErrorCode.TIMEOUT, data_id=data_id, log_id=log_id,
                                   error_info=(
                                       f"request deadline of {self.request_timeout_s:g} s "
                                       "exceeded; raise request_timeout_s in config.yml or "
                                       "lower the load"))
        return pending.result

    def call(self, request) -> Any:
        """Serve one `Request` message; always returns a `Response` (errors in `err_no`)."""
        started = time.perf_counter()
        self._metrics.request_started()
        response = None
        try:
            response = self._call(request)
            if len(response.err_msg) > MAX_ERR_MSG_CHARS:  # never echo a huge value back
                response.err_msg = short_text(response.err_msg, MAX_ERR_MSG_CHARS)
            return response
        finally:
            err_no = response.err_no if response is not None else int(ErrorCode.UNKNOW)
            self._metrics.request_finished(time.perf_counter() - started, err_no)

    def _call(self, request) -> Any:
        log_id = getattr(request, "logid", 0)
        try:
            request_dict, log_id, prod_code, prod_info = \
                self._request_op.unpack_request_package(request)
        except CustomException as exc:
            return error_response(exc.code, exc.message)
        except Exception as exc:  # noqa: BLE001 - a bad request must not kill the server
            return error_response(ErrorCode.RPC_PACKAGE_ERROR, format_exception(
                exc, log_id, type(self._request_op).__name__, "unpack_request_package",
                DAG_EXECUTOR_NAME))
        if prod_code is not None:
            return error_response(getattr(prod_code, "value", prod_code), prod_info or "")
        deadline = time.monotonic() + self.request_timeout_s
        for _attempt in range(max(1, self._retry)):
            result = self._run_once(request_dict, log_id or 0, deadline)
            if result.error_code != ErrorCode.TIMEOUT or time.monotonic() >= deadline:
                break
        try:
            return self._response_op.pack_response_package(result)
        except Exception as exc:  # noqa: BLE001
            return error_response(ErrorCode.UNKNOW, format_exception(
                exc, log_id, type(self._response_op).__name__, "pack_response_package",
                DAG_EXECUTOR_NAME))

