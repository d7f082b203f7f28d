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

import base64
import binascii
import json
import logging
import math
import socket
import socketserver
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

import numpy as np

from generator.runtime.proto import Request

_LOGGER = logging.getLogger(__name__)

__all__ = [
    "GetRoute",
    "HttpGateway",
    "JsonMappingError",
    "request_from_json",
    "response_to_json",
]

#: grpc status codes used in error bodies (as grpc-gateway does).
GRPC_INVALID_ARGUMENT = 3
GRPC_RESOURCE_EXHAUSTED = 8
GRPC_INTERNAL = 13

#: A GET route: returns (HTTP status, content type, body).
GetRoute = Callable[[], tuple[int, str, bytes]]


class JsonMappingError(ValueError):
    """The HTTP body is not valid JSON for a `Request`; the gateway answers 400 (code 3)."""


# ---------------------------------------------------------------------------------------------
# JSON -> Request (protojson / jsonpb rules: orig or lowerCamel names, int64 as number or string,
# bytes as base64, null means default, unknown fields ignored)
# ---------------------------------------------------------------------------------------------

_INT_RANGES = {
    "int32": (-(2**31), 2**31 - 1),
    "uint32": (0, 2**32 - 1),
    "int64": (-(2**63), 2**63 - 1),
}
_SPECIAL_FLOATS = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def _to_int(value: Any, kind: str, where: str) -> int:
    if isinstance(value, bool):
        raise JsonMappingError(f"{where}: expected an integer, got {json.dumps(value)}")
    if isinstance(value, int):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str):
        try:
            number = int(value.strip())
        except ValueError:
            try:
                as_float = float(value)
            except ValueError:
                as_float = math.nan
            if not as_float.is_integer():
                raise JsonMappingError(
                    f"{where}: expected an integer, got {json.dumps(value)}"
                ) from None
            number = int(as_float)
    else:
        raise JsonMappingError(f"{where}: expected an integer, got {json.dumps(value)}")
    low, high = _INT_RANGES[kind]
    if not low <= number <= high:
        raise JsonMappingError(f"{where}: {number} is out of range for {kind}")
    return number


def _to_float(value: Any, where: str) -> float:
    if isinstance(value, bool):
        raise JsonMappingError(f"{where}: expected a number, got {json.dumps(value)}")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        if value in _SPECIAL_FLOATS:
            return _SPECIAL_FLOATS[value]
        try:
            number = float(value)
        except ValueError:
            pass
        else:
            if math.isfinite(number):
                return number
    raise JsonMappingError(f"{where}: expected a number, got {json.dumps(value)}")


def _to_bool(value: Any, where: str) -> bool:
    if isinstance(value, bool):
        return value
    raise JsonMappingError(f"{where}: expected true or false, got {json.dumps(value)}")


def _to_str(value: Any, where: str) -> str:
    if isinstance(value, str):
        return value
    raise JsonMappingError(f"{where}: expected a string, got {json.dumps(value)}")


def _to_bytes(value: Any, where: str) -> bytes:
    text = _to_str(value, where)
    alphabet = b"-_" if ("-" in text or "_" in text) else b"+/"
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), altchars=alphabet, validate=True)
    except (binascii.Error, ValueError):
        raise JsonMappingError(f"{where}: byte_data is not valid base64") from None


_SCALAR_CONVERTERS: dict[str, Callable[[Any, str], Any]] = {
    "int32": lambda v, w: _to_int(v, "int32", w),
    "uint32": lambda v, w: _to_int(v, "uint32", w),
    "int64": lambda v, w: _to_int(v, "int64", w),
    "float": _to_float,
    "double": _to_float,
    "bool": _to_bool,
    "string": _to_str,
    "bytes": _to_bytes,
}

#: field name -> (kind, repeated) for the message fields handled by the mapper.
_TENSOR_FIELDS: dict[str, tuple[str, bool]] = {
    "int64_data": ("int64", True),
    "float_data": ("float", True),
    "int_data": ("int32", True),
    "float64_data": ("double", True),
    "uint32_data": ("uint32", True),
    "bool_data": ("bool", True),
    "complex64_data": ("float", True),
    "complex128_data": ("double", True),
    "str_data": ("string", True),
    "byte_data": ("bytes", False),
    "elem_type": ("int32", False),
    "shape": ("int32", True),
    "lod": ("int32", True),
    "name": ("string", False),
}
_REQUEST_FIELDS: dict[str, tuple[str, bool]] = {
    "key": ("string", True),
    "value": ("string", True),
    "tensors": ("Tensor", True),
    "name": ("string", False),
    "method": ("string", False),
    "logid": ("int64", False),
    "clientip": ("string", False),
}


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _aliases(fields: dict[str, tuple[str, bool]]) -> dict[str, str]:
    table = {name: name for name in fields}
    table.update({_camel(name): name for name in fields})
    return table


_TENSOR_ALIASES = _aliases(_TENSOR_FIELDS)
_REQUEST_ALIASES = _aliases(_REQUEST_FIELDS)


def _fill(
    message: Any,
    obj: Any,
    fields: dict[str, tuple[str, bool]],
    aliases: dict[str, str],
    where: str,
) -> None:
    if not isinstance(obj, dict):
        raise JsonMappingError(f"{where or 'body'}: expected a JSON object, got {json.dumps(obj)}")
    for json_name, value in obj.items():
        name = aliases.get(json_name)
        if name is None or value is None:  # unknown fields are ignored; null means default
            continue
        kind, repeated = fields[name]
        path = f"{where}.{name}" if where else name
        if not repeated:
            setattr(message, name, _SCALAR_CONVERTERS[kind](value, path))
            continue
        if not isinstance(value, list):
            raise JsonMappingError(f"{path}: expected a JSON array, got {json.dumps(value)}")
        container = getattr(message, name)
        if kind == "Tensor":
            for index, item in enumerate(value):
                _fill(container.add(), item, _TENSOR_FIELDS, _TENSOR_ALIASES, f"{path}[{index}]")
            continue
        try:  # fast path: values already of the right Python type
            container.extend(value)
        except (TypeError, ValueError):
            message.ClearField(name)
            convert = _SCALAR_CONVERTERS[kind]
            container = getattr(message, name)
            container.extend(convert(item, f"{path}[{i}]") for i, item in enumerate(value))


def _describe_json_error(exc: json.JSONDecodeError) -> str:
    return f"invalid JSON at line {exc.lineno} column {exc.colno} (char {exc.pos}): {exc.msg}"


def request_from_json(body: bytes) -> Any:
    """Parse an HTTP body into a `Request` the way grpc-gateway v1 does.

    An empty body gives an empty Request; unknown fields are ignored; `logid` and int64 values
    may be JSON numbers or strings; `byte_data` is base64. Raises JsonMappingError.
    """
    request = Request()
    if not body.strip():
        return request
    try:
        obj = json.loads(body)
    except json.JSONDecodeError as exc:
        raise JsonMappingError(_describe_json_error(exc)) from None
    except UnicodeDecodeError as exc:
        raise JsonMappingError(f"request body is not UTF-8 text: {exc}") from None
    if obj is None:
        return request
    _fill(request, obj, _REQUEST_FIELDS, _REQUEST_ALIASES, "")
    return request


# ---------------------------------------------------------------------------------------------
# Response -> JSON (OrigName + EmitDefaults: every field present, int64 as strings)
# ---------------------------------------------------------------------------------------------


def _json_floats(values: Any, dtype: type) -> list[Any]:
    if len(values) == 0:
        return []
    array = np.asarray(values, dtype=dtype)
    out: list[Any] = []
    for item in array:
        if np.isfinite(item):
            # shortest text that round-trips at the field's precision, as Go's FormatFloat
            out.append(float(str(item)) if dtype is np.float32 else float(item))
        elif np.isnan(item):
            out.append("NaN")
        else:
            out.append("Infinity" if item > 0 else "-Infinity")
    return out


def tensor_to_json_dict(tensor: Any) -> dict[str, Any]:
    """Render a `Tensor` as grpc-gateway does: every field, in field-number order."""
    byte_data = tensor.byte_data
    return {
        "int64_data": [str(v) for v in tensor.int64_data],
        "float_data": _json_floats(tensor.float_data, np.float32),
        "int_data": list(tensor.int_data),
        "float64_data": _json_floats(tensor.float64_data, np.float64),
        "uint32_data": list(tensor.uint32_data),
        "bool_data": list(tensor.bool_data),
        "complex64_data": _json_floats(tensor.complex64_data, np.float32),
        "complex128_data": _json_floats(tensor.complex128_data, np.float64),
        "str_data": list(tensor.str_data),
        "byte_data": base64.b64encode(byte_data).decode("ascii") if byte_data else None,
        "elem_type": tensor.elem_type,
        "shape": list(tensor.shape),
        "lod": list(tensor.lod),
        "name": tensor.name,
    }


def response_to_json(response: Any) -> bytes:
    """Serialize a `Response` as the Paddle Serving HTTP gateway does (UTF-8 JSON bytes)."""
    document = {
        "err_no": response.err_no,
        "err_msg": response.err_msg,
        "key": list(response.key),
        "value": list(response.value),
        "tensors": [tensor_to_json_dict(t) for t in response.tensors],
    }
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def error_json(code: int, message: str) -> bytes:
    """The grpc-gateway error body `{"error", "code", "message", "details"}`."""
    document = {"error": message, "code": code, "message": message, "details": []}
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


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
