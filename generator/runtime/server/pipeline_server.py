"""`PipelineServer`: the gRPC service, the HTTP/JSON gateway (same process, pure Python), health,
metrics and graceful shutdown around a `DagExecutor`."""

from __future__ import annotations

import logging
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from typing import Any

import grpc

from generator.runtime import config as pipeline_config
from generator.runtime.errors import (
    CONFIG_STAGE,
    START_STAGE,
    DagError,
    ErrorCode,
    RuntimeServingError,
    exit_with_error,
    shorten,
)
from generator.runtime.executor.dag import DagExecutor
from generator.runtime.inference.devices import DevicePolicy
from generator.runtime.logs import setup_logging
from generator.runtime.metrics import Metrics
from generator.runtime.pipeline.io_ops import ResponseOp
from generator.runtime.proto import error_response
from generator.runtime.server import listeners
from generator.runtime.server.health import GrpcHealth, backend_warnings, readiness, system_routes

_LOGGER = logging.getLogger(__name__)

NAME_ERROR = "Failed to inference: Service name error."
#: seconds the interpreter may take to exit after the drain before the process exits anyway
EXIT_GRACE_S = 2.0


def _exit_if_stuck(grace_s: float) -> None:
    """After the drain: if the interpreter's exit is still blocked `grace_s` later (a thread
    stuck in user code past its request's deadline), exit 0 anyway."""

    def watchdog() -> None:
        time.sleep(grace_s)
        stuck = [t.name for t in threading.enumerate()
                 if t.is_alive() and not t.daemon and t is not threading.main_thread()]
        _LOGGER.warning("exiting with %d thread(s) still busy after the drain: %s",
                        len(stuck), stuck[:8])
        logging.shutdown()
        os._exit(0)

    threading.Thread(target=watchdog, daemon=True, name="exit-watchdog").start()


class PipelineServer:
    """Serves one Op graph over gRPC (`PipelineService/inference`) and HTTP (`POST /{name}/{method}`).

    `name` is the HTTP path segment. Unlike Paddle Serving, a server created without a name
    accepts every name instead of rejecting every HTTP request.
    """

    def __init__(self, name: str | None = None):
        self._name = name
        self._response_op: ResponseOp | None = None
        self._conf: dict | None = None
        self._source = "<yml_dict>"
        self._dag: DagExecutor | None = None
        self._grpc: grpc.Server | None = None
        self._http: Any = None
        self._prom: Any = None
        self._health: GrpcHealth | None = None
        self._metrics = Metrics(name or "default")
        self._stopping = threading.Event()
        self._stopped = threading.Event()
        self._tracer_stop = threading.Event()
        #: set by run_server: SIGTERM/SIGINT set it; installed before any port reports ready
        self._signal_stop: threading.Event | None = None
        self.rpc_port: int | None = None
        self.http_port: int | None = None
        #: Start-up warnings meant for operators (e.g. a GPU config running on CPU); logged
        #: once by prepare_server and listed in the /health/ready body under "warnings".
        self.startup_warnings: list[str] = []
        self._device_policy = DevicePolicy()
        self.models: Any = None
        #: build_dag_each_worker: () -> (every sibling worker process is up, why not)
        self._siblings: Any = None

    # ------------------------------------------------------------- set-up
    # The public, script-facing methods (set_response_op, prepare_server, run_server) report a
    # configuration or start-up error as WebService does: one `error:` line, exit status 1.
    # The underscored variants raise instead (WebService and embedding code use them).
    def set_response_op(self, response_op: ResponseOp) -> None:
        """Set the graph's end (a ResponseOp); exits with an `error:` line if it is not one."""
        try:
            self._set_response_op(response_op)
        except RuntimeServingError as exc:
            exit_with_error(exc, CONFIG_STAGE)

    def _set_response_op(self, response_op: ResponseOp) -> None:
        if not isinstance(response_op, ResponseOp):
            raise DagError(f"set_response_op needs a ResponseOp, found {type(response_op).__name__}")
        self._response_op = response_op

    def prepare_server(self, yml_file: str | None = None, yml_dict: dict | None = None) -> None:
        """Load and validate config.yml (or the dict) and the graph; nothing starts yet. A
        problem prints one `error:` line and exits with status 1."""
        try:
            self._prepare_server(yml_file=yml_file, yml_dict=yml_dict)
        except RuntimeServingError as exc:
            exit_with_error(exc, CONFIG_STAGE)

    def _prepare_server(self, yml_file: str | None = None, yml_dict: dict | None = None) -> None:
        self._conf = pipeline_config.load_pipeline_config(yml_file=yml_file, yml_dict=yml_dict)
        self._source = str(yml_file) if yml_file is not None else "<yml_dict>"
        self._device_policy = DevicePolicy(strict=self._conf["strict_device"])
        if self._response_op is None:
            raise DagError("call set_response_op() before prepare_server()")
        # Validates the graph and every Op's config now, before anything starts.
        self._dag = self._new_dag()
        self.startup_warnings = self._device_policy.check(
            {op.name: op.local_service_conf for op in self._dag.ops if op.with_serving},
            self._source)
        for warning in self.startup_warnings:
            _LOGGER.warning("%s", warning)

    @property
    def config(self) -> dict:
        if self._conf is None:
            raise DagError("prepare_server() has not been called")
        return self._conf

    def _new_dag(self) -> DagExecutor:
        conf = self.config
        if conf["build_dag_each_worker"]:
            conf = {**conf, "op": {name: {**(op or {}), "batch_size": 1}
                                   for name, op in conf["op"].items()}}
        return DagExecutor(self._response_op, conf, self._metrics, self._source,
                           self._device_policy.resolve)

    # ------------------------------------------------------------ serving
    def _inference(self, request, context=None, protocol: str = "http"):
        """Answer one pipeline request (counted by protocol and err_no). A call that reaches
        this point was accepted by its transport, so it is served while the server drains."""
        response = self._answer(request)
        self._metrics.answered(protocol, response.err_no)
        return response

    def _grpc_inference(self, request, context=None):
        return self._inference(request, context, "grpc")

    def _answer(self, request):
        if request.name and self._name and request.name != self._name:
            return error_response(ErrorCode.NO_SERVICE, (
                f"{NAME_ERROR} This service is '{self._name}'; the request asked for "
                f"'{shorten(request.name)}' (POST /{self._name}/prediction)."))
        if self._dag is None or not self._dag.ready:
            return error_response(ErrorCode.CLOSED_ERROR,
                                  "the service is not ready or is shutting down")
        return self._dag.call(request)

    def _ready(self) -> bool:
        return self._health_state()[0]

    def _health_state(self) -> tuple[bool, str]:
        """(ready, why not): the graph runs, every worker is up, the server is not stopping."""
        state, why = self._readiness()
        return state == "ready", why

    def _readiness(self) -> tuple[str, str]:
        return readiness(self._dag, self._stopping.is_set(), self._siblings)

    def _warnings(self) -> list[str]:
        return [*self.startup_warnings,
                *backend_warnings(self._dag.ops if self._dag is not None else [])]

    def start(self, reuse_port: bool = False) -> None:
        """Build the DAG (predictors, workers), then open the gRPC and HTTP ports. Non-blocking."""
        from generator.imaging.limits import configure as configure_image_limits

        conf = self.config
        if self._dag is None or self._dag.ready:  # not prepared, or started once already
            self._dag = self._new_dag()
        configure_image_limits(conf["max_image_pixels"], conf["max_images_per_request"])
        # a thread waiting for the GIL gets it after this long at most (Python: 5 ms), so the
        # gRPC threads do not wait a full interval behind an Op thread at each hand-over
        sys.setswitchinterval(conf["gil_switch_interval_ms"] / 1000.0)
        self._dag.start()
        if self._signal_stop is not None:
            # Models are loaded (Paddle imported, its fatal SIGTERM handler installed): drain on
            # SIGTERM from the moment readiness can be seen, not only once start() returns.
            self._install_signals(self._signal_stop)
        self.models = self._model_registry()  # Open Inference Protocol, gRPC and REST
        self._grpc = listeners.build_grpc(conf, self._grpc_inference, self.models,
                                          self._metrics, reuse_port)
        self._health = GrpcHealth(self._grpc)
        try:
            self.rpc_port = listeners.bind_grpc(self._grpc, conf)
        except RuntimeServingError:
            self._dag.stop(2.0)
            raise
        self._grpc.start()
        ops = self._dag.ops
        routes = system_routes(self._name or "default", self._readiness, self._warnings,
                               self._metrics, self.models,
                               getattr(ops[-1], "task", None) if ops else None)
        last = ops[-1] if ops else None
        paddlex = listeners.build_paddlex(
            getattr(last, "task", None), lambda request: self._inference(request, None, "paddlex"),
            getattr(last, "paddlex_settings", lambda: None)())
        self._http = listeners.build_http(conf, self._inference, routes, self.models,
                                          self._metrics, reuse_port, paddlex)
        if self._http is not None:
            listeners.start_listener(self._http, "HTTP", "http_port", lambda: self.stop(1.0))
            self.http_port = self._http.port
        self._prom = listeners.build_prometheus(conf, self._inference, routes, reuse_port)
        if self._prom is not None:
            listeners.start_listener(self._prom, "Prometheus", "dag.prometheus_port",
                                     lambda: self.stop(1.0))
        self._health.set(True)
        self._start_tracer(conf["dag"]["tracer"]["interval_s"])
        _LOGGER.info("service '%s' ready: gRPC port %s, HTTP port %s (POST /%s/prediction)",
                     self._name or "*", self.rpc_port, self.http_port, self._name or "{name}")

    def _model_registry(self) -> Any:
        """The Open Inference Protocol models: `{name}` (the pipeline), `{name}-model`."""
        from generator import __version__
        from generator.runtime.protocols.oip.models import build_registry

        dag = self._dag
        return build_registry(self._name or "default",
                              lambda request: self._inference(request, None, "oip"), self._ready,
                              dag.ops if dag is not None else [], __version__,
                              dag.copy_runner if dag is not None else None,
                              self.config["dag"]["channel_size"],
                              dag.request_timeout_s if dag is not None else 30.0)

    def _start_tracer(self, interval_s: int) -> None:
        if interval_s < 1:
            return
        tracer = logging.getLogger("generator.tracer")

        def run() -> None:
            while not self._tracer_stop.wait(interval_s):
                tracer.info("[%s] %s", self._name or "pipeline", self._metrics.snapshot())

        threading.Thread(target=run, daemon=True, name="tracer").start()

    def stop(self, timeout: float | None = None) -> None:
        """Stop accepting, let in-flight requests finish (up to `timeout` s), stop the workers."""
        if self._stopped.is_set():
            return
        timeout = self.config["shutdown_timeout_s"] if timeout is None else timeout
        self._stopping.set()
        if self._health is not None:
            self._health.set(False)
        deadline = time.monotonic() + timeout
        done = self._grpc.stop(grace=timeout) if self._grpc is not None else None
        for gateway in (self._http, self._prom):
            if gateway is not None:
                gateway.stop(max(0.1, deadline - time.monotonic()))
        if done is not None:
            done.wait(max(0.1, deadline - time.monotonic()))
        self._tracer_stop.set()
        for model in (self.models.models.values() if self.models is not None else ()):
            getattr(model, "close", lambda: None)()
        if self._dag is not None:
            self._dag.stop(max(1.0, deadline - time.monotonic()))
        self._stopped.set()
        _LOGGER.info("service '%s' stopped", self._name or "*")

    # -------------------------------------------------------- foreground
    def run_server(self) -> None:
        """Serve until SIGTERM/SIGINT, then drain and return (the process exits 0). A start-up
        failure (model, port, init_op) prints one `error:` line and exits with status 1."""
        try:
            self._run_server()
        except RuntimeServingError as exc:
            exit_with_error(exc, START_STAGE)

    def _run_server(self) -> None:
        setup_logging()
        if self.config["build_dag_each_worker"] and self.config["worker_num"] > 1:
            self._run_workers()
            return
        stop = self._signal_stop = threading.Event()
        self.start()
        # Again after start(): importing Paddle replaces SIGTERM/SIGINT handlers with its own
        # fatal handler, which would abort instead of draining.
        self._install_signals(stop)
        stop.wait()
        _LOGGER.info("signal received: draining in-flight requests (at most %ss)",
                     self.config["shutdown_timeout_s"])
        self.stop()
        _exit_if_stuck(EXIT_GRACE_S)

    def _install_signals(self, stop: threading.Event) -> None:
        def handler(signum, _frame):
            if stop.is_set():
                _LOGGER.warning("second signal: exiting now")
                os._exit(1)
            stop.set()

        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)

    def _run_workers(self) -> None:
        """`build_dag_each_worker`: `worker_num` supervised forked processes, each with its own
        DAG and servers on the same ports (SO_REUSEPORT); see `executor.forked`."""
        from generator.runtime.executor.forked import ForkedWorkers

        def serve(idx: int, workers: ForkedWorkers) -> int:
            stop = self._signal_stop = threading.Event()
            self._siblings = workers.siblings
            try:
                self.start(reuse_port=True)
            except RuntimeServingError as exc:
                _LOGGER.error("worker %d: %s", idx, exc)
                return 1
            workers.mark_up(idx)
            self._install_signals(stop)  # after Paddle's import (see run_server)
            stop.wait()
            self.stop()
            return 0  # the caller exits with os._exit: stuck threads cannot hold it

        def died(idx: int, pid: int, reason: str) -> None:
            self._metrics.process_dead(pid)
            self._metrics.worker_died("build_dag_each_worker", idx, reason)

        metrics_dir = tempfile.mkdtemp(prefix="pd-metrics-")
        self._metrics.enable_multiprocess(metrics_dir)  # one /metrics for every worker
        try:
            ForkedWorkers(self.config["worker_num"], serve, self.config["shutdown_timeout_s"],
                          on_death=died).run()
        finally:
            shutil.rmtree(metrics_dir, ignore_errors=True)
