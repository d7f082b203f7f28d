"""`PipelineServer`: the gRPC service, the HTTP/JSON gateway (same process, pure Python), health,
metrics and graceful shutdown around a `DagExecutor`."""

from __future__ import annotations

import concurrent.futures
import json
import logging
import os
import shutil
import signal
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
)
from generator.runtime.executor.dag import DagExecutor
from generator.runtime.inference.devices import DevicePolicy
from generator.runtime.logs import setup_logging
from generator.runtime.metrics import Metrics
from generator.runtime.pipeline.io_ops import ResponseOp

_LOGGER = logging.getLogger("generator.runtime")

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
        self._health: Any = None
        self._metrics = Metrics(name or "default")
        self._stopping = threading.Event()
        self._stopped = threading.Event()
        self._tracer_stop = threading.Event()
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
                                   for name, op in conf.get("op", {}).items()}}
        return DagExecutor(self._response_op, conf, self._metrics, self._source,
                           pipeline_config.op_config, self._device_policy.resolve)

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
            from generator.runtime.proto import Response

            return Response(err_no=int(ErrorCode.NO_SERVICE), err_msg=(
                f"{NAME_ERROR} This service is '{self._name}'; the request asked for "
                f"'{request.name}' (POST /{self._name}/prediction)."))
        if self._dag is None or not self._dag.ready:
            from generator.runtime.proto import Response

            return Response(err_no=int(ErrorCode.CLOSED_ERROR),
                            err_msg="the service is not ready or is shutting down")
        return self._dag.call(request)

    def _ready(self) -> bool:
        return self._health_state()[0]

    def _health_state(self) -> tuple[bool, str]:
        """(ready, why not): the graph runs, every worker is up, the server is not stopping."""
        if self._dag is None or self._stopping.is_set():
            return False, ""
        ok, why = self._dag.health()
        if ok and self._siblings is not None:
            ok, why = self._siblings()
        return ok, why

    def _backend_warnings(self) -> list[str]:
        """Backend fallbacks of this server's predictors (thread mode: they live here)."""
        ops = self._dag.ops if self._dag is not None else []
        return [f"Op '{op.name}': {op.client.fallback_reason}" for op in ops
                if getattr(getattr(op, "client", None), "fallback_reason", "")]

    def _get_routes(self) -> dict:
        def live():
            return 200, "application/json", b'{"status": "alive"}'

        def ready():
            warnings = [*self.startup_warnings, *self._backend_warnings()]
            extra = {"warnings": warnings} if warnings else {}
            # scaffold verify/bench: the per-start token they gave this process, echoed so they
            # can tell their own service from another one answering on the port
            if os.environ.get("SCAFFOLD_START_TOKEN"):
                extra["start_token"] = os.environ["SCAFFOLD_START_TOKEN"]
            ok, why = self._health_state()
            if ok:
                return 200, "application/json", json.dumps({"status": "ready", **extra}).encode()
            state = "stopping" if self._stopping.is_set() else (
                "degraded" if why and self._dag is not None and self._dag.ready else "starting")
            if why:
                extra["reason"] = why
            return 503, "application/json", json.dumps({"status": state, **extra}).encode()

        def metrics():
            return 200, "text/plain; version=0.0.4; charset=utf-8", self._metrics.render()

        routes = {"/health/live": live, "/health/ready": ready, "/metrics": metrics}
        if self.models is not None:  # OpenAPI (/openapi.json, /docs) and the try page (/)
            from generator import __version__
            from generator.runtime.protocols.http.pages import web_routes

            ops = self._dag.ops if self._dag is not None else []
            routes.update(web_routes(self._name or "default", __version__, self.models,
                                     getattr(ops[-1], "task", None) if ops else None))
        return routes

    def start(self, reuse_port: bool = False) -> None:
        """Build the DAG (predictors, workers), then open the gRPC and HTTP ports. Non-blocking."""
        from generator.runtime.proto import pipeline_service_handler
        from generator.runtime.protocols.grpc_guard import REFUSAL_THREADS, GrpcGuard, default_limit
        from generator.runtime.protocols.http.gateway import HttpGateway, Limits
        from generator.runtime.protocols.oip.grpc_service import OipGrpcService
        from generator.runtime.protocols.oip.rest import OipRestRouter

        conf = self.config
        if self._dag is None or self._dag.ready:  # not prepared, or started once already
            self._dag = self._new_dag()
        from generator.imaging.limits import configure as configure_image_limits

        configure_image_limits(conf["max_image_pixels"], conf["max_images_per_request"])
        self._dag.start()
        limit = conf["max_message_size_mb"] << 20
        options = [("grpc.max_send_message_length", limit),
                   ("grpc.max_receive_message_length", limit),
                   ("grpc.so_reuseport", 1 if reuse_port else 0)]
        rpcs = conf["max_concurrent_rpcs"] or default_limit(conf["worker_num"],
                                                            conf["dag"]["channel_size"])
        self._grpc = grpc.server(
            concurrent.futures.ThreadPoolExecutor(max_workers=rpcs + REFUSAL_THREADS,
                                                  thread_name_prefix="grpc"),
            interceptors=[GrpcGuard(rpcs, self._metrics)], options=options)
        self._grpc.add_generic_rpc_handlers((pipeline_service_handler(self._grpc_inference),))
        self.models = self._model_registry()  # Open Inference Protocol, gRPC and REST
        self._grpc.add_generic_rpc_handlers((OipGrpcService(self.models).handler(),))
        self._add_health()
        if conf.get("rpc_port"):
            address = f"{conf['rpc_host']}:{conf['rpc_port']}"
            try:
                bound = self._grpc.add_insecure_port(address)
            except RuntimeError as exc:
                bound, err = 0, exc
            else:
                err = None
            if not bound:
                self._dag.stop(2.0)
                raise RuntimeServingError(
                    f"cannot listen for gRPC on {address} ({err or 'port in use?'}); free the port "
                    "or change rpc_port in config.yml")
            self.rpc_port = bound
        self._grpc.start()
        routes = self._get_routes()
        if conf.get("http_port"):
            self._http = HttpGateway(self._inference, host=conf["http_host"],
                                     port=conf["http_port"], max_body_bytes=limit,
                                     get_routes=routes, routers=[OipRestRouter(self.models)],
                                     max_workers=max(32, conf["worker_num"]),
                                     limits=Limits(conf.get("http_max_connections", 1000),
                                                   conf.get("http_header_timeout_s", 15),
                                                   conf.get("http_body_timeout_s", 120)),
                                     observe=self._metrics.http_response,
                                     **({"reuse_port": True} if reuse_port else {}))
            self._start_listener(self._http, "HTTP", "http_port")
            self.http_port = self._http.port
        prom_port = conf["dag"].get("prometheus_port")
        if conf["dag"].get("enable_prometheus") and prom_port and not reuse_port:
            self._prom = HttpGateway(self._inference, host=conf["http_host"], port=prom_port,
                                     get_routes={"/metrics": routes["/metrics"]})
            self._start_listener(self._prom, "Prometheus", "dag.prometheus_port")
        if self._health is not None:
            self._set_health(True)
        self._start_tracer(conf["dag"]["tracer"]["interval_s"])
        _LOGGER.info("service '%s' ready: gRPC port %s, HTTP port %s (POST /%s/prediction)",
                     self._name or "*", self.rpc_port, self.http_port, self._name or "{name}")

    def _model_registry(self) -> Any:
        """The Open Inference Protocol models: `{name}` (the pipeline), `{name}-model`."""
        from generator import __version__
        from generator.runtime.protocols.oip.models import build_registry

        return build_registry(self._name or "default",
                              lambda request: self._inference(request, None, "oip"), self._ready,
                              self._dag.ops if self._dag is not None else [], __version__)

    def _start_listener(self, gateway: Any, what: str, key: str) -> None:
        try:
            gateway.start()
        except OSError as exc:
            self.stop(1.0)
            raise RuntimeServingError(
                f"cannot listen for {what} on port {gateway._port if hasattr(gateway, '_port') else '?'}"
                f" ({exc}); free the port or change {key} in config.yml") from exc

    def _add_health(self) -> None:
        try:
            from grpc_health.v1 import health, health_pb2_grpc
        except ImportError:  # pragma: no cover - grpcio-health-checking is a dependency
            return
        self._health = health.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self._health, self._grpc)
        self._set_health(False)

    def _set_health(self, serving: bool) -> None:
        from grpc_health.v1 import health_pb2

        status = (health_pb2.HealthCheckResponse.SERVING if serving
                  else health_pb2.HealthCheckResponse.NOT_SERVING)
        for service in ("", "baidu.paddle_serving.pipeline_serving.PipelineService",
                        "inference.GRPCInferenceService"):
            self._health.set(service, status)

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
            self._set_health(False)
        deadline = time.monotonic() + timeout
        done = self._grpc.stop(grace=timeout) if self._grpc is not None else None
        for gateway in (self._http, self._prom):
            if gateway is not None:
                gateway.stop(max(0.1, deadline - time.monotonic()))
        if done is not None:
            done.wait(max(0.1, deadline - time.monotonic()))
        self._tracer_stop.set()
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
        stop = threading.Event()
        self.start()
        # After start(): importing Paddle replaces SIGTERM/SIGINT handlers with its own fatal
        # handler, which would abort instead of draining.
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
        DAG and servers on the same ports (SO_REUSEPORT); see `dag_workers`."""
        from generator.runtime.executor.forked import ForkedWorkers

        def serve(idx: int, workers: ForkedWorkers) -> int:
            stop = threading.Event()
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
