"""HTTP/JSON gateway in front of the Pipeline service, in-process (replaces the Go grpc-gateway).

Behaviour matches Paddle Serving 0.9's `libproxy_server.so` (grpc-gateway v1 with
`JSONPb{OrigName: true, EmitDefaults: true}`), see 3.2 of the fact sheet:

* `POST /{name}/{method}` with a JSON `Request` body -> 200 `application/json` with the JSON
  `Response` (all five fields always present), also for application errors (`err_no != 0`);
* unknown path -> 404 `text/plain` "Not Found"; other HTTP methods on a prediction path -> 405;
* malformed JSON -> 400 `{"error", "code": 3, "message", "details"}`; a failing handler -> 500 with
  code 13; a body over `max_body_bytes` -> 413 with code 8 (the Go gateway had no such limit, the
  gRPC server rejected large requests instead).

The server is uvicorn (HTTP/1.1 parsed by httptools/llhttp, one event loop (uvloop when installed) in a
background thread, no thread per connection) with the limits of `connection` (connection cap,
header and body deadlines, JSON error answers) and the app of `app`. `stop()` closes the
listener and idle or half-sent connections at once and waits only for requests being handled.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import uvicorn

from generator.runtime.protocols.http.app import GatewayApp, GetRoute, Router
from generator.runtime.protocols.http.connection import LimitedHttpToolsProtocol, Limits
from generator.runtime.protocols.http.host import host_guard
from generator.runtime.protocols.http.pipeline_json import (
    JsonMappingError,
    request_from_json,
    response_to_json,
)

__all__ = [
    "GetRoute",
    "HttpGateway",
    "JsonMappingError",
    "Limits",
    "request_from_json",
    "response_to_json",
]
# (the JSON mapping lives in pipeline_json; its names are re-exported here)

_LOGGER = logging.getLogger(__name__)


class HttpGateway:
    """Paddle Serving compatible HTTP/JSON front end calling `handler(request) -> Response`.

    `start()` binds and serves in a background thread; `port` is the bound port (pass port=0 to
    pick a free one); `stop(timeout)` stops accepting, lets in-flight requests finish and closes
    every connection. `reuse_port=True` sets SO_REUSEPORT so that several worker processes can
    serve the same port. `routers` add endpoints (see `app.Router`); `max_workers` bounds
    the threads running handlers; `limits` bounds connections and request deadlines;
    `inline_budget_s` (0: never) lets handlers that recently ran faster than that run on the
    event loop while no other request is in progress (see `app`).
    """

    def __init__(
        self,
        handler: Callable[[Any], Any],
        *,
        host: str = "0.0.0.0",
        port: int,
        max_body_bytes: int = 256 << 20,
        get_routes: dict[str, GetRoute] | None = None,
        reuse_port: bool = False,
        routers: list[Router] | None = None,
        max_workers: int = 32,
        limits: Limits | None = None,
        keep_alive_s: int = 75,
        inline_budget_s: float = 0.001,
        observe: Callable[[int | str], None] | None = None,
    ):
        if reuse_port and not hasattr(socket, "SO_REUSEPORT"):
            raise OSError("reuse_port=True needs SO_REUSEPORT, which this platform lacks")
        self._handler = handler
        self.reuse_port = reuse_port
        self.host = host
        self._port = port
        self.max_body_bytes = max_body_bytes
        self._get_routes: dict[str, GetRoute] = dict(get_routes or {})
        self._routers = list(routers or [])
        self._max_workers = max_workers
        self.limits = limits or Limits()
        self._keep_alive_s = keep_alive_s
        self._inline_budget_s = inline_budget_s
        #: called with every answer's status (and "dropped" for a connection lost before it)
        self._observe = observe
        self._server: uvicorn.Server | None = None
        self._app: GatewayApp | None = None
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._thread: threading.Thread | None = None
        self._stopping = False

    @property
    def port(self) -> int:
        """The bound port once started (the configured one before)."""
        return self._port

    @property
    def running(self) -> bool:
        return self._server is not None and not self._stopping

    def _bind(self) -> socket.socket:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        # proto=IPPROTO_TCP: asyncio sets TCP_NODELAY only on such sockets (without it a
        # response's head and body segments meet the client's delayed ACK: +40 ms)
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if self.reuse_port:  # several processes accept on one port (build_dag_each_worker)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind((self.host.strip("[]"), self._port))
            sock.listen(2048)
        except OSError as exc:
            sock.close()
            raise OSError(
                exc.errno,
                f"HTTP gateway cannot listen on {self.host}:{self._port}: {exc.strerror}; "
                "choose another http_port or stop the process using it",
            ) from exc
        sock.setblocking(False)
        return sock

    def start(self) -> None:
        """Bind `host:port` and serve in a daemon thread; returns once the port accepts."""
        if self._server is not None:
            raise RuntimeError("HttpGateway.start() called twice")
        sock = self._bind()
        self._port = sock.getsockname()[1]
        self._executor = concurrent.futures.ThreadPoolExecutor(
            self._max_workers, thread_name_prefix=f"http:{self._port}")
        self._app = GatewayApp(self._handler, max_body_bytes=self.max_body_bytes,
                               get_routes=self._get_routes, routers=self._routers,
                               executor=self._executor, inline_budget_s=self._inline_budget_s)
        self._app.observe = self._observe
        guard = host_guard(self.host)
        self._app.host_check = (guard, self.host) if guard is not None else None
        protocol = type("_Protocol", (LimitedHttpToolsProtocol,),
                        {"limits": self.limits, "observe": staticmethod(self._observe)
                         if self._observe else None})
        config = uvicorn.Config(
            self._app, http=protocol, loop="auto", lifespan="off", interface="asgi3",
            log_config=None, log_level="warning", access_log=False, server_header=False,
            timeout_keep_alive=self._keep_alive_s, backlog=2048,
            headers=[("server", "paddle-serving-scaffold")])
        server = uvicorn.Server(config)
        self._server = server
        failed: list[BaseException] = []

        def run() -> None:
            try:
                asyncio.run(self._serve(server, sock))
            except BaseException as exc:  # noqa: BLE001 - reported to start() or logged
                failed.append(exc)
                _LOGGER.exception("HTTP server on port %s stopped with an error", self._port)

        self._thread = threading.Thread(target=run, name=f"http-gateway:{self._port}", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 30
        while not server.started and self._thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.005)
        if not server.started:
            self._server = None
            raise OSError(f"HTTP gateway on port {self._port} did not start: "
                          f"{failed[0] if failed else 'timed out'}")

    @staticmethod
    async def _serve(server: uvicorn.Server, sock: socket.socket) -> None:
        try:
            await server.serve(sockets=[sock])
        finally:
            for connection in list(server.server_state.connections):
                connection.transport.close()  # those still busy after the graceful timeout
            await asyncio.sleep(0)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop accepting connections, close idle and half-received ones, wait up to `timeout` s
        for requests being handled (their responses are delivered), then close the rest.
        Idempotent."""
        server = self._server
        if server is None or self._stopping:
            return
        self._stopping = True
        if self._app is not None:
            self._app.stopping = True
        server.config.timeout_graceful_shutdown = max(timeout, 0.1)
        server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=max(timeout, 0.1) + 5)
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)

    def __enter__(self) -> HttpGateway:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
