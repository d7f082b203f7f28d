"""The server's listeners, built from the validated config and the callables the server hands
over: the gRPC server (PipelineService, the Open Inference Protocol, the admission guard), the
HTTP gateway (with PaddleX's API for the tasks it covers) and the optional Prometheus listener.

Imports `proto` and `protocols`; never `pipeline_server`.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import grpc

from generator.runtime.errors import RuntimeServingError
from generator.runtime.metrics import Metrics
from generator.runtime.proto import pipeline_service_handler
from generator.runtime.protocols.grpc_guard import REFUSAL_THREADS, GrpcGuard, default_limit
from generator.runtime.protocols.http.gateway import HttpGateway, Limits
from generator.runtime.protocols.oip.grpc_service import OipGrpcService
from generator.runtime.protocols.oip.rest import OipRestRouter
from generator.runtime.protocols.paddlex.router import PaddleXRouter, paddlex_path

__all__ = ["bind_grpc", "build_grpc", "build_http", "build_paddlex", "build_prometheus",
           "start_listener"]


def message_limit(conf: Mapping[str, Any]) -> int:
    """The gRPC message and HTTP body limit in bytes."""
    return conf["max_message_size_mb"] << 20


def build_grpc(conf: Mapping[str, Any], inference: Callable, models: Any, metrics: Metrics,
               reuse_port: bool = False) -> grpc.Server:
    """A gRPC server answering PipelineService (`inference`) and the OIP (`models`), behind
    the admission guard; not bound, not started."""
    limit = message_limit(conf)
    options = [("grpc.max_send_message_length", limit),
               ("grpc.max_receive_message_length", limit),
               ("grpc.so_reuseport", 1 if reuse_port else 0)]
    rpcs = conf["max_concurrent_rpcs"] or default_limit(conf["worker_num"],
                                                        conf["dag"]["channel_size"])
    # past rpcs + REFUSAL_THREADS calls, gRPC itself refuses (RESOURCE_EXHAUSTED) instead of
    # queueing them in the pool (each with its request message)
    server = grpc.server(
        concurrent.futures.ThreadPoolExecutor(max_workers=rpcs + REFUSAL_THREADS,
                                              thread_name_prefix="grpc"),
        interceptors=[GrpcGuard(rpcs, metrics)], options=options,
        maximum_concurrent_rpcs=rpcs + REFUSAL_THREADS)
    server.add_generic_rpc_handlers((pipeline_service_handler(inference),))
    server.add_generic_rpc_handlers((OipGrpcService(models).handler(),))
    return server


def bind_grpc(server: grpc.Server, conf: Mapping[str, Any]) -> int | None:
    """Bind `rpc_host:rpc_port` (None when no rpc_port is set); a port that cannot be bound
    raises `RuntimeServingError` saying how to fix it."""
    if not conf.get("rpc_port"):
        return None
    address = f"{conf['rpc_host']}:{conf['rpc_port']}"
    try:
        bound = server.add_insecure_port(address)
    except RuntimeError as exc:
        bound, err = 0, exc
    else:
        err = None
    if not bound:
        raise RuntimeServingError(
            f"cannot listen for gRPC on {address} ({err or 'port in use?'}); free the port "
            "or change rpc_port in config.yml")
    return bound


def build_http(conf: Mapping[str, Any], inference: Callable, routes: dict, models: Any,
               metrics: Metrics, reuse_port: bool = False,
               extra_routers: Sequence[Any] = ()) -> HttpGateway | None:
    """The HTTP gateway on `http_host:http_port` (None when no http_port is set); not started.
    `extra_routers` (PaddleX's API) are consulted before the Open Inference Protocol's."""
    if not conf.get("http_port"):
        return None
    return HttpGateway(inference, host=conf["http_host"], port=conf["http_port"],
                       max_body_bytes=message_limit(conf), get_routes=routes,
                       routers=[*extra_routers, OipRestRouter(models)],
                       max_workers=max(32, conf["worker_num"]),
                       limits=Limits(conf["http_max_connections"], conf["http_header_timeout_s"],
                                     conf["http_body_timeout_s"]),
                       observe=metrics.http_response,
                       **({"reuse_port": True} if reuse_port else {}))


def build_prometheus(conf: Mapping[str, Any], inference: Callable, routes: dict,
                     reuse_port: bool = False) -> HttpGateway | None:
    """The separate `/metrics` listener of `dag.enable_prometheus` (not in forked workers)."""
    port = conf["dag"]["prometheus_port"]
    if not (conf["dag"]["enable_prometheus"] and port) or reuse_port:
        return None
    return HttpGateway(inference, host=conf["http_host"], port=port,
                       get_routes={"/metrics": routes["/metrics"]})


def build_paddlex(task: str | None, inference: Callable, settings: Any) -> list[Any]:
    """PaddleX basic serving's API for a service whose last Op has a PaddleX `task` (none
    for other services); `settings` are the Op's `paddlex_settings` (OCR)."""
    if paddlex_path(task) is None:
        return []
    return [PaddleXRouter(task, inference, settings)]


def start_listener(gateway: Any, what: str, key: str, on_failure: Callable[[], None]) -> None:
    """Start `gateway`; if its port cannot be opened, run `on_failure` and raise a
    `RuntimeServingError` naming the config key to change."""
    try:
        gateway.start()
    except OSError as exc:
        on_failure()
        raise RuntimeServingError(
            f"cannot listen for {what} on port {getattr(gateway, '_port', '?')}"
            f" ({exc}); free the port or change {key} in config.yml") from exc
