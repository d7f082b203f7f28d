"""HTTP/JSON gateway in front of the Pipeline service, in-process (replaces the Go grpc-gateway).

Behaviour matches Paddle Serving 0.9's `libproxy_server.so` (grpc-gateway v1 with
`JSONPb{OrigName: true, EmitDefaults: true}`), see 3.2 of the fact sheet:

* `POST /{name}/{method}` with a JSON `Request` body -> 200 `application/json` with the JSON
  `Response` (all five fields always present), also for application errors (`err_no != 0`);
* unknown path -> 404 `text/plain` "Not Found"; other HTTP methods on a prediction path -> 405;
* malformed JSON -> 400 `{"error", "code": 3, "message", "details"}`; a failing handler -> 500 with
  code 13; a body over `max_body_bytes` -> 413 with code 8 (the Go gateway had no such limit, the
  gRPC server rejected large requests instead).

The server is the stdlib `ThreadingHTTPServer` (one thread per connection, HTTP/1.1 keep-alive,
each response written with a single `send`), with access logging off and a graceful `stop()`.
"""

from __future__ import annotations

import logging
import socket
import socketserver
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

from generator.runtime.http_json import (
    JsonMappingError,
    error_json,
    request_from_json,
    response_to_json,
)

_LOGGER = logging.getLogger(__name__)

__all__ = [
    "GetRoute",
    "HttpGateway",
    "JsonMappingError",
    "request_from_json",
    "response_to_json",
]
# (the JSON mapping lives in http_json; its names are re-exported here)

#: grpc status codes used in error bodies (as grpc-gateway does).
GRPC_INVALID_ARGUMENT = 3
GRPC_RESOURCE_EXHAUSTED = 8
GRPC_INTERNAL = 13

#: A GET route: returns (HTTP status, content type, body).
GetRoute = Callable[[], tuple[int, str, bytes]]


# ---------------------------------------------------------------------------------------------
# HTTP server
# ---------------------------------------------------------------------------------------------

_JSON = "application/json"
_TEXT = "text/plain; charset=utf-8"
_PREDICT_HEADERS = (("Grpc-Metadata-Content-Type", "application/grpc"),)
_MIB = 1 << 20
_DRAIN_LIMIT = 64 * _MIB  # bodies over the limit but under this are read and dropped


class _BodyTooLarge(Exception):
    def __init__(self, size: int | None):
        super().__init__(size)
        self.size = size


class _BadBody(Exception):
    pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 512
    gateway: HttpGateway
    reuse_port = False

    def server_bind(self) -> None:
        if self.reuse_port:  # several processes accept on one port (build_dag_each_worker)
            self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        # HTTPServer.server_bind calls socket.getfqdn(), a reverse DNS lookup that can hang.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = port


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "paddle-serving-scaffold"
    sys_version = ""
    timeout = 75  # idle keep-alive connections are closed after this many seconds
    server: _Server

    # -- connection bookkeeping -----------------------------------------------------------
    def setup(self) -> None:
        super().setup()
        try:
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
        self.server.gateway._register(self)

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:
            pass
        finally:
            self.server.gateway._unregister(self)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        """Access and error logging is off: no stderr output per request."""

    def handle_one_request(self) -> None:
        gateway = self.server.gateway
        try:
            self.raw_requestline = self.rfile.readline(65537)
        except OSError:  # idle timeout, or the socket was shut down by stop()
            self.close_connection = True
            return
        if not self.raw_requestline:
            self.close_connection = True
            return
        if not gateway._begin_request(self):
            self.close_connection = True
            return
        try:
            if len(self.raw_requestline) > 65536:
                self.requestline = self.request_version = self.command = ""
                self.send_error(414)
                return
            if not self.parse_request():
                return
            self._dispatch()
            self.wfile.flush()
        except OSError:
            self.close_connection = True
        finally:
            gateway._end_request(self)

    def handle_expect_100(self) -> bool:
        length = self.headers.get("Content-Length")
        limit = self.server.gateway.max_body_bytes
        if length is not None and length.strip().isdigit() and int(length) > limit:
            self.close_connection = True
            self._reply(413, _JSON, self._too_large_body(int(length)))
            return False
        return super().handle_expect_100()

    # -- responses ------------------------------------------------------------------------
    def _reply(
        self,
        status: int,
        content_type: str,
        body: bytes,
        extra_headers: tuple[tuple[str, str], ...] = (),
    ) -> None:
        if self.server.gateway._stopping:
            self.close_connection = True
        reason = self.responses.get(status, ("",))[0]
        head = [
            f"HTTP/1.1 {status} {reason}",
            f"Content-Type: {content_type}",
            f"Content-Length: {len(body)}",
            f"Date: {self.date_time_string()}",
        ]
        head.extend(f"{name}: {value}" for name, value in extra_headers)
        if self.close_connection:
            head.append("Connection: close")
        elif self.request_version == "HTTP/1.0":  # 1.0 client that asked for keep-alive
            head.append("Connection: keep-alive")
        data = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1")
        if self.command != "HEAD":
            data += body
        self.wfile.write(data)

    def _too_large_body(self, size: int | None) -> bytes:
        limit = self.server.gateway.max_body_bytes
        got = f"{size} bytes" if size is not None else "a chunked body"
        mib = f" ({limit / _MIB:g} MiB)" if limit >= _MIB else ""
        message = (
            f"request body too large: {got} exceeds the limit of {limit} bytes{mib}; "
            "raise max_message_size_mb in config.yml to accept larger requests"
        )
        return error_json(GRPC_RESOURCE_EXHAUSTED, message)

    # -- request handling -----------------------------------------------------------------
    def _route(self) -> tuple[str, list[str] | None]:
        path = self.path.split("?", 1)[0].split("#", 1)[0]
        if path.startswith(("http://", "https://")):  # absolute-form request target
            path = "/" + path.split("/", 3)[-1] if path.count("/") >= 3 else "/"
        segments = path[1:].split("/") if path.startswith("/") else []
        if len(segments) == 2 and all(segments):
            return path, [unquote(s) for s in segments]
        return path, None

    def _dispatch(self) -> None:
        path, segments = self._route()
        if self.command == "POST" and segments is not None:
            self._predict(segments[0], segments[1])
            return
        if self.command == "GET":
            route = self.server.gateway._get_routes.get(path)
            if route is not None:
                self._get(route, path)
                return
        self._discard_body()
        if segments is not None:
            self._reply(405, _TEXT, b"Method Not Allowed\n")
        else:
            self._reply(404, _TEXT, b"Not Found\n")

    do_POST = do_GET = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _dispatch

    def _get(self, route: GetRoute, path: str) -> None:
        try:
            status, content_type, body = route()
        except Exception as exc:
            _LOGGER.exception("GET %s route failed", path)
            self._reply(500, _TEXT, f"GET {path} failed: {type(exc).__name__}: {exc}\n".encode())
            return
        self._reply(status, content_type, body)

    def _predict(self, name: str, method: str) -> None:
        gateway = self.server.gateway
        try:
            body = self._read_body()
        except _BodyTooLarge as exc:
            self._reply(413, _JSON, self._too_large_body(exc.size))
            return
        except _BadBody as exc:
            self.close_connection = True
            self._reply(400, _JSON, error_json(GRPC_INVALID_ARGUMENT, str(exc)))
            return
        try:
            request = request_from_json(body)
        except JsonMappingError as exc:
            self._reply(400, _JSON, error_json(GRPC_INVALID_ARGUMENT, str(exc)))
            return
        request.name = name
        request.method = method
        try:
            payload = response_to_json(gateway._handler(request))
        except Exception as exc:
            _LOGGER.exception("prediction handler failed for POST /%s/%s", name, method)
            message = f"prediction handler failed: {type(exc).__name__}: {exc}"
            self._reply(500, _JSON, error_json(GRPC_INTERNAL, message))
            return
        self._reply(200, _JSON, payload, _PREDICT_HEADERS)

    def _read_body(self) -> bytes:
        limit = self.server.gateway.max_body_bytes
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked(limit)
        length_text = self.headers.get("Content-Length")
        if length_text is None:
            return b""
        try:
            length = int(length_text)
            if length < 0:
                raise ValueError
        except ValueError:
            raise _BadBody(f"invalid Content-Length header: {length_text!r}") from None
        if length > limit:
            if length <= _DRAIN_LIMIT:
                self._drain(length)  # keeps the connection usable and the 413 deliverable
            else:
                self.close_connection = True
            raise _BodyTooLarge(length)
        body = self.rfile.read(length)
        if len(body) != length:
            self.close_connection = True
            raise _BadBody(f"request body ended after {len(body)} of {length} bytes")
        return body

    def _drain(self, length: int) -> None:
        remaining = length
        while remaining > 0:
            chunk = self.rfile.read(min(remaining, _MIB))
            if not chunk:
                self.close_connection = True
                return
            remaining -= len(chunk)

    def _discard_body(self) -> None:
        length_text = self.headers.get("Content-Length")
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self.close_connection = True
        elif length_text:
            try:
                length = int(length_text)
            except ValueError:
                self.close_connection = True
                return
            if 0 < length <= _DRAIN_LIMIT:
                self._drain(length)
            elif length:
                self.close_connection = True

    def _read_chunked(self, limit: int) -> bytes:
        parts: list[bytes] = []
        total = 0
        while True:
            line = self.rfile.readline(1024)
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise _BadBody("malformed chunked request body") from None
            if size == 0:
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass  # trailers are ignored
                return b"".join(parts)
            total += size
            if total > limit:
                self.close_connection = True
                raise _BodyTooLarge(None)
            chunk = self.rfile.read(size)
            if len(chunk) != size or self.rfile.readline(3) not in (b"\r\n", b"\n"):
                raise _BadBody("malformed chunked request body")
            parts.append(chunk)


class HttpGateway:
    """Paddle Serving compatible HTTP/JSON front end calling `handler(request) -> Response`.

    `start()` binds and serves in background threads; `port` is the bound port (pass port=0 to
    pick a free one); `stop(timeout)` stops accepting, lets in-flight requests finish and closes
    every connection. `reuse_port=True` sets SO_REUSEPORT so that several worker processes can
    serve the same port.
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
    ):
        if reuse_port and not hasattr(socket, "SO_REUSEPORT"):
            raise OSError("reuse_port=True needs SO_REUSEPORT, which this platform lacks")
        self._handler = handler
        self.reuse_port = reuse_port
        self.host = host
        self._port = port
        self.max_body_bytes = max_body_bytes
        self._get_routes: dict[str, GetRoute] = dict(get_routes or {})
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Condition()
        self._connections: dict[_Handler, bool] = {}  # handler -> busy (a request in progress)
        self._stopping = False

    @property
    def port(self) -> int:
        """The bound port once started (the configured one before)."""
        return self._port

    @property
    def running(self) -> bool:
        return self._server is not None and not self._stopping

    def start(self) -> None:
        """Bind `host:port` and serve in a daemon thread; returns at once."""
        if self._server is not None:
            raise RuntimeError("HttpGateway.start() called twice")
        server_cls = _Server
        if ":" in self.host:
            server_cls = type("_Server6", (_Server,), {"address_family": socket.AF_INET6})
        server = server_cls((self.host, self._port), _Handler, bind_and_activate=False)
        server.reuse_port = self.reuse_port
        try:
            server.server_bind()
            server.server_activate()
        except OSError as exc:
            server.server_close()
            raise OSError(
                exc.errno,
                f"HTTP gateway cannot listen on {self.host}:{self._port}: {exc.strerror}; "
                "choose another http_port or stop the process using it",
            ) from exc
        server.gateway = self
        self._server = server
        self._port = server.server_address[1]
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name=f"http-gateway:{self._port}",
            daemon=True,
        )
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop accepting connections, wait up to `timeout` s for in-flight requests (their
        responses are delivered), then close all connections. Idempotent."""
        with self._lock:
            if self._server is None or self._stopping:
                return
            self._stopping = True
            idle = [h for h, busy in self._connections.items() if not busy]
        server = self._server
        server.shutdown()
        server.server_close()
        for handler in idle:
            _shutdown(handler.connection)
        deadline = time.monotonic() + max(timeout, 0.0)
        with self._lock:
            while any(self._connections.values()):
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._lock.wait(left)
            remaining = list(self._connections)
        for handler in remaining:
            _shutdown(handler.connection)
        if self._thread is not None:
            self._thread.join(timeout=1.0)

    def __enter__(self) -> HttpGateway:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- called from handler threads --------------------------------------------------------
    def _register(self, handler: _Handler) -> None:
        with self._lock:
            self._connections[handler] = False

    def _unregister(self, handler: _Handler) -> None:
        with self._lock:
            self._connections.pop(handler, None)
            self._lock.notify_all()

    def _begin_request(self, handler: _Handler) -> bool:
        with self._lock:
            if self._stopping:
                return False
            self._connections[handler] = True
            return True

    def _end_request(self, handler: _Handler) -> None:
        with self._lock:
            if handler in self._connections:
                self._connections[handler] = False
            if self._stopping:
                handler.close_connection = True
            self._lock.notify_all()


def _shutdown(connection: socket.socket) -> None:
    try:
        connection.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
