"""The ASGI application behind the HTTP port: routing, bounded body reading, and the Paddle
Serving JSON endpoint `POST /{name}/{method}`.

It is a few dozen lines of plain ASGI rather than a web framework because the wire behaviour
must match Paddle Serving 0.9's grpc-gateway byte for byte (status codes, `text/plain` 404/405,
error JSON), which a framework's own error pages and routing rules would change.

Blocking work (JSON mapping, the pipeline, other routers' handlers) runs in a thread pool, so
slow requests overlap (and the pipeline can batch them) while the event loop moves bytes.
One exception, for latency: while no other request is being handled and the handlers' recent
run time is under `inline_budget_s` (a tiny model: well under a millisecond), a request runs on
the loop itself, since the two thread wake-ups of the pool would cost more than the handler.
Health and metrics routes always answer on the loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import unquote

from generator.runtime.protocols import status as st
from generator.runtime.protocols.http.host import refusal
from generator.runtime.protocols.http.pipeline_json import (
    JsonMappingError,
    error_json,
    request_from_json,
    response_to_json,
)

_LOGGER = logging.getLogger(__name__)

JSON = "application/json"
TEXT = "text/plain; charset=utf-8"
_MIB = 1 << 20
#: a body over the limit but under this size is read and dropped, so the connection stays usable
DRAIN_LIMIT = 64 * _MIB

#: A GET route: returns (HTTP status, content type, body[, extra headers]).
GetRoute = Callable[[], tuple]


@dataclass
class HttpRequest:
    """One request as routers see it: decoded path segments, lower-case header names."""

    method: str
    path: str
    segments: list[str]
    query: str
    headers: dict[str, str]
    body: bytes = b""


@dataclass
class HttpResponse:
    status: int
    body: bytes
    content_type: str = JSON
    headers: list[tuple[str, str]] = field(default_factory=list)


def error_response(status: st.Status, message: str) -> HttpResponse:
    """The one transport-error answer of the Paddle Serving HTTP gateway: `status.http` with
    the grpc-gateway error body (`code` is the gRPC status number)."""
    return HttpResponse(status.http, error_json(status.code, message))


class BodyError(Exception):
    """The body could not be read within the limits: `status` with a message."""

    def __init__(self, status: st.Status, message: str, close: bool = False) -> None:
        super().__init__(message)
        self.status, self.close = status, close


class Router(Protocol):
    """Extra endpoints (Open Inference Protocol, docs...), consulted before Paddle Serving's."""

    def match(self, method: str, segments: list[str]) -> Callable[[HttpRequest], HttpResponse] | None:
        """The handler for this request (run in the thread pool), or None when not ours."""

    def body_error(self, error: BodyError) -> HttpResponse:
        """The answer when the body of a request routed here is too large or malformed."""


def split_path(raw_path: bytes) -> tuple[str, list[str]]:
    """`/a/b%2Fc` -> ("/a/b%2Fc", ["a", "b/c"]); a path not starting with / has no segments."""
    path = raw_path.decode("latin-1")
    if not path.startswith("/"):
        return path, []
    return path, [unquote(s) for s in path[1:].split("/")]


class GatewayApp:
    """ASGI app: GET routes, routers, then `POST /{name}/{method}` -> `handler(Request)`."""

    def __init__(self, handler: Callable[[Any], Any], *, max_body_bytes: int,
                 get_routes: dict[str, GetRoute], routers: list[Router],
                 executor: concurrent.futures.Executor, inline_budget_s: float = 0.0) -> None:
        self.handler = handler
        self.max_body_bytes = max_body_bytes
        self.get_routes = get_routes
        self.routers = routers
        self.executor = executor
        self.inline_budget_s = inline_budget_s
        self.stopping = False
        #: called with every answer's HTTP status (set by HttpGateway; None: not counted)
        self.observe: Callable[[int | str], None] | None = None
        #: (Host header -> may it be served, the bind address) for a loopback-bound service
        #: (set by HttpGateway, see `http_host`; None: every Host is served)
        self.host_check: tuple[Callable[[str | None], bool], str] | None = None
        self._busy = 0  # requests being handled (inline or in the pool)
        self._recent_s = float("inf")  # smoothed handler run time; unknown until measured

    async def __call__(self, scope: dict, receive: Callable[[], Awaitable[dict]],
                       send: Callable[[dict], Awaitable[None]]) -> None:
        if scope["type"] != "http":  # lifespan is off; websockets are not served
            return
        method = scope["method"]
        path, segments = split_path(scope.get("raw_path") or scope["path"].encode())
        host = _header(scope, b"host")
        if self.host_check is not None and not self.host_check[0](host):
            response = error_response(st.MISDIRECTED, refusal(host or "", self.host_check[1]))
            response.headers.append(("Connection", "close"))
        else:
            response = await self._respond(scope, receive, method, path, segments)
        await self._send(send, response)
        if self.observe is not None:
            self.observe(response.status)

    async def _respond(self, scope: dict, receive: Callable[[], Awaitable[dict]], method: str,
                       path: str, segments: list[str]) -> HttpResponse:
        if method in ("GET", "HEAD"):
            route = self.get_routes.get(path)
            if route is not None:
                return self._get(route, path)
        for router in self.routers:
            handler = router.match(method, segments)
            if handler is not None:
                try:
                    body = await self._read_body(scope, receive)
                except BodyError as exc:
                    return self._closing(router.body_error(exc), exc.close)
                request = HttpRequest(method, path, segments,
                                      scope.get("query_string", b"").decode("latin-1"),
                                      _headers(scope), body)
                return await self._run(handler, request)
        if method == "POST" and len(segments) == 2 and all(segments):
            try:
                body = await self._read_body(scope, receive)
            except BodyError as exc:
                return self._closing(error_response(exc.status, str(exc)), exc.close)
            return await self._run(self._predict, segments[0], segments[1], body)
        if len(segments) == 2 and all(segments):
            return HttpResponse(st.METHOD_NOT_ALLOWED.http, b"Method Not Allowed\n", TEXT)
        return HttpResponse(st.NOT_FOUND.http, b"Not Found\n", TEXT)

    async def _run(self, fn: Callable[..., HttpResponse], *args: Any) -> HttpResponse:
        inline = self._busy == 0 and self._recent_s < self.inline_budget_s
        self._busy += 1
        try:
            if inline:
                return self._timed(fn, *args)
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self.executor, self._timed, fn, *args)
        except Exception as exc:  # a router's bug: still one JSON answer, server keeps serving
            _LOGGER.exception("HTTP handler failed")
            return error_response(st.INTERNAL, f"{type(exc).__name__}: {exc}")
        finally:
            self._busy -= 1

    def _timed(self, fn: Callable[..., HttpResponse], *args: Any) -> HttpResponse:
        start = time.perf_counter()
        try:
            return fn(*args)
        finally:
            took = time.perf_counter() - start
            recent = self._recent_s
            self._recent_s = took if recent == float("inf") else 0.8 * recent + 0.2 * took

    def _get(self, route: GetRoute, path: str) -> HttpResponse:
        try:
            status, content_type, body, *extra = route()
        except Exception as exc:
            _LOGGER.exception("GET %s route failed", path)
            return HttpResponse(st.INTERNAL.http, f"GET {path} failed: {type(exc).__name__}: {exc}\n".encode(),
                                TEXT)
        return HttpResponse(status, body, content_type, list(extra[0]) if extra else [])

    def _predict(self, name: str, method: str, body: bytes) -> HttpResponse:
        try:
            request = request_from_json(body)
        except JsonMappingError as exc:
            return error_response(st.INVALID, str(exc))
        request.name = name
        request.method = method
        try:
            payload = response_to_json(self.handler(request))
        except Exception as exc:
            _LOGGER.exception("prediction handler failed for POST /%s/%s", name, method)
            message = f"prediction handler failed: {type(exc).__name__}: {exc}"
            return error_response(st.INTERNAL, message)
        return HttpResponse(200, payload, JSON, [("Grpc-Metadata-Content-Type", "application/grpc")])

    # -- body ---------------------------------------------------------------------------------
    def _too_large(self, size: int | None) -> str:
        limit = self.max_body_bytes
        got = f"{size} bytes" if size is not None else "a chunked body"
        mib = f" ({limit / _MIB:g} MiB)" if limit >= _MIB else ""
        return (f"request body too large: {got} exceeds the limit of {limit} bytes{mib}; "
                "raise max_message_size_mb in config.yml to accept larger requests")

    async def _read_body(self, scope: dict, receive: Callable[[], Awaitable[dict]]) -> bytes:
        limit = self.max_body_bytes
        length_text = _header(scope, b"content-length")
        if length_text is not None:
            try:
                length = int(length_text)  # llhttp has checked it already
            except ValueError:
                raise BodyError(st.INVALID,
                                f"invalid Content-Length header: {length_text!r}", close=True) from None
            if length > limit:
                raise BodyError(st.TOO_LARGE, self._too_large(length),
                                close=length > DRAIN_LIMIT)
        parts: list[bytes] = []
        total = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise BodyError(st.INVALID, "the client closed the connection "
                                "before sending the whole body", close=True)
            chunk = message.get("body", b"")
            total += len(chunk)
            if total > limit:
                raise BodyError(st.TOO_LARGE, self._too_large(None), close=True)
            if chunk:
                parts.append(chunk)
            if not message.get("more_body", False):
                return b"".join(parts)

    def _closing(self, response: HttpResponse, close: bool) -> HttpResponse:
        if close:
            response.headers.append(("Connection", "close"))
        return response

    async def _send(self, send: Callable[[dict], Awaitable[None]], response: HttpResponse) -> None:
        headers = [(b"content-type", response.content_type.encode("latin-1")),
                   (b"content-length", str(len(response.body)).encode())]
        headers += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in response.headers]
        if self.stopping and not any(k.lower() == "connection" for k, _ in response.headers):
            headers.append((b"connection", b"close"))
        await send({"type": "http.response.start", "status": response.status, "headers": headers})
        await send({"type": "http.response.body", "body": response.body})


def _header(scope: dict, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.decode("latin-1")
    return None


def _headers(scope: dict) -> dict[str, str]:
    return {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", ())}
