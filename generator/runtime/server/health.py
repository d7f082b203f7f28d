"""Health of one server, in one place: its readiness (`readiness`), the `grpc.health.v1`
statuses (`GrpcHealth`) and the system GET routes (`system_routes`: `/health/live`,
`/health/ready`, `/metrics`, and the pages and OpenAPI document once models are known).

Imports `proto`, `protocols` and `metrics`; never `pipeline_server`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from typing import Any

from generator.runtime.metrics import Metrics
from generator.runtime.proto import SERVICE_FULL_NAME as PIPELINE_SERVICE
from generator.runtime.protocols.oip.messages import SERVICE_FULL_NAME as OIP_SERVICE
from generator.runtime.protocols.status import UNAVAILABLE

__all__ = ["GrpcHealth", "backend_warnings", "readiness", "system_routes"]

#: The gRPC services whose health is reported ("" is the server as a whole).
HEALTH_SERVICES = ("", PIPELINE_SERVICE, OIP_SERVICE)
JSON = "application/json"


def readiness(dag: Any, stopping: bool, siblings: Callable[[], tuple[bool, str]] | None
              ) -> tuple[str, str]:
    """(state, why not): state is "ready", "stopping", "starting" or "degraded" (the graph ran
    but a worker, or a sibling worker process, is down)."""
    if stopping:
        return "stopping", ""
    if dag is None:
        return "starting", ""
    ok, why = dag.health()
    if ok and siblings is not None:
        ok, why = siblings()
    if ok:
        return "ready", ""
    return ("degraded" if why and dag.ready else "starting"), why


def backend_warnings(ops: Sequence[Any]) -> list[str]:
    """Backend fallbacks of the predictors of `ops` (thread mode: they live in this process)."""
    return [f"Op '{op.name}': {op.client.fallback_reason}" for op in ops
            if getattr(getattr(op, "client", None), "fallback_reason", "")]


def system_routes(name: str, state: Callable[[], tuple[str, str]],
                  warnings: Callable[[], list[str]], metrics: Metrics,
                  models: Any = None, task: str | None = None) -> dict[str, Callable]:
    """The GET routes every server has; with `models`, also the pages and `/openapi.json`."""

    def live():
        return 200, JSON, b'{"status": "alive"}'

    def ready():
        found = warnings()
        extra: dict[str, Any] = {"warnings": found} if found else {}
        # scaffold verify/bench: the per-start token they gave this process, echoed so they
        # can tell their own service from another one answering on the port
        if os.environ.get("SCAFFOLD_START_TOKEN"):
            extra["start_token"] = os.environ["SCAFFOLD_START_TOKEN"]
        status, why = state()
        if status == "ready":
            return 200, JSON, json.dumps({"status": "ready", **extra}).encode()
        if why:
            extra["reason"] = why
        return UNAVAILABLE.http, JSON, json.dumps({"status": status, **extra}).encode()

    def render_metrics():
        return 200, "text/plain; version=0.0.4; charset=utf-8", metrics.render()

    routes = {"/health/live": live, "/health/ready": ready, "/metrics": render_metrics}
    if models is not None:  # OpenAPI (/openapi.json, /docs) and the try page (/)
        from generator import __version__
        from generator.runtime.protocols.http.pages import web_routes

        routes.update(web_routes(name, __version__, models, task))
    return routes


class GrpcHealth:
    """`grpc.health.v1` on a gRPC server: NOT_SERVING until `set(True)`."""

    def __init__(self, server: Any) -> None:
        try:
            from grpc_health.v1 import health, health_pb2_grpc
        except ImportError:  # pragma: no cover - grpcio-health-checking is a dependency
            self._servicer = None
            return
        self._servicer = health.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self._servicer, server)
        self.set(False)

    def set(self, serving: bool) -> None:
        """Report every service in `HEALTH_SERVICES` as SERVING or NOT_SERVING."""
        if self._servicer is None:
            return
        from grpc_health.v1 import health_pb2

        status = (health_pb2.HealthCheckResponse.SERVING if serving
                  else health_pb2.HealthCheckResponse.NOT_SERVING)
        for service in HEALTH_SERVICES:
            self._servicer.set(service, status)
