"""uvicorn's httptools connection protocol with the limits a public port needs.

uvicorn parses HTTP (llhttp via httptools: duplicate Content-Length, bad chunk sizes, unknown
Transfer-Encoding are rejected there) and runs one asyncio task per request, no thread per
connection. It has no deadline for a request's headers or body, no cap on header size or on
open connections, and answers parse errors in plain text, so this subclass adds, per
connection:

* a cap on open connections that one client cannot use to lock others out: a connection over
  `max_connections` first closes the longest-idle connection (no request in progress for
  `IDLE_GRACE_S` or more: a client that just connected has time to send); when
  none is idle it may still ask for health and metrics (`PROBE_PATHS`) on one of
  `probe_connections` reserved ones; otherwise it is answered 503 and closed;
* a deadline for a request's headers (from the connection's first byte, or the request's), and
  another for its body (from the end of the headers): 408 and close when either passes;
* a cap on the request line plus headers (431);
* error answers in the gateway's JSON (`{"error", "code", "message", "details"}`);
* on shutdown, connections still receiving a request are closed at once (only requests already
  being handled are waited for).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from generator.runtime.config.schema import TOP_KEYS
from generator.runtime.protocols import status as st
from generator.runtime.protocols.http.pipeline_json import error_json

#: a connection with no request in progress for this long may be closed to make room
IDLE_GRACE_S = 1.0
#: what the connections reserved for probes may ask for (GET, any query string)
PROBE_PATHS = frozenset({b"/health/live", b"/health/ready", b"/metrics", b"/v2/health/live",
                         b"/v2/health/ready"})


def _default(name: str) -> Any:
    return field(default=next(key.default for key in TOP_KEYS if key.name == name))


@dataclass
class Limits:
    """Per-server connection limits (shared by every connection's protocol object); the first
    three default as `http_max_connections`, `http_header_timeout_s` and `http_body_timeout_s`
    of `config/schema.py`."""

    max_connections: int = _default("http_max_connections")
    header_timeout_s: float = _default("http_header_timeout_s")
    body_timeout_s: float = _default("http_body_timeout_s")
    max_header_bytes: int = 64 << 10
    #: connections past `max_connections` that may only ask for `PROBE_PATHS`
    probe_connections: int = 16


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    """`HttpToolsProtocol` plus the limits of the module docstring (set `limits` on a subclass)."""

    limits: Limits = Limits()
    #: called with the status of each error this layer answers, and "dropped" for a
    #: connection lost while its request was unanswered (None: not counted)
    observe: Any = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None
        self._header_bytes = 0
        self._receiving = False  # between a request's first byte and its last
        self._rejected = False
        self._too_large: tuple[st.Status, str] | None = None
        self._probes_only = False  # on a connection reserved for health and metrics
        self._idle_since = 0.0

    # -- connection ---------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._idle_since = self.loop.time()
        cap = self.limits.max_connections
        if len(self.connections) > cap and not self._close_longest_idle():
            if len(self.connections) > cap + self.limits.probe_connections:
                self._rejected = True
                self._send_error(st.UNAVAILABLE, self._full())
                return
            self._probes_only = True
        self._arm(self.limits.header_timeout_s, "headers")

    def _full(self) -> str:
        return (f"too many open connections (limit {self.limits.max_connections}, http_max_"
                "connections in config.yml), none of them idle; retry later")

    def _idle(self) -> bool:
        return (not self._receiving and not self._rejected and not self.transport.is_closing()
                and (self.cycle is None or self.cycle.response_complete)
                and self.loop.time() - self._idle_since >= IDLE_GRACE_S)

    def _close_longest_idle(self) -> bool:
        """Close the connection idle for longest (not this one); False when none is idle."""
        idle = [c for c in self.connections
                if c is not self and isinstance(c, LimitedHttpToolsProtocol) and c._idle()]
        if not idle:
            return False
        oldest = min(idle, key=lambda c: c._idle_since)
        oldest._disarm()
        oldest.transport.close()
        self.connections.discard(oldest)
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        if (self.observe is not None and not self._rejected and self.cycle is not None
                and not self.cycle.response_complete and not self.cycle.disconnected):
            self.observe("dropped")
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._rejected or self.transport.is_closing():
            return
        super().data_received(data)

    # -- parser callbacks ---------------------------------------------------------------------
    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._receiving = True
        self._header_bytes = 0
        if self._deadline is None:  # the first request's deadline runs from connection_made
            self._arm(self.limits.header_timeout_s, "headers")

    def on_url(self, url: bytes) -> None:
        self._count_header(len(url), st.URL_TOO_LONG, "request URL")
        if self._probes_only and url.split(b"?", 1)[0] not in PROBE_PATHS:
            self._too_large = (st.UNAVAILABLE, self._full())
            raise ValueError(self._too_large[1])  # answered by send_400_response
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count_header(len(name) + len(value) + 4, st.HEADERS_TOO_LARGE, "request headers")
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._arm(self.limits.body_timeout_s, "body")
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._receiving = False
        self._disarm()
        super().on_message_complete()

    def _count_header(self, size: int, status: st.Status, what: str) -> None:
        self._header_bytes += size
        if self._header_bytes > self.limits.max_header_bytes:
            self._too_large = (status, f"{what} larger than {self.limits.max_header_bytes} bytes")
            raise ValueError(self._too_large[1])  # the parser turns this into HttpParserError

    # -- errors -------------------------------------------------------------------------------
    def send_400_response(self, msg: str) -> None:
        if self._too_large is not None:
            status, message = self._too_large
            self._send_error(status, message)
            return
        self._send_error(st.INVALID, f"malformed HTTP request: {self._parse_error()}")

    def _parse_error(self) -> str:
        # httptools keeps llhttp's reason on the exception only; the generic text is enough.
        return "the request line, headers or body framing could not be parsed"

    def _send_error(self, status: st.Status, message: str) -> None:
        if self.transport.is_closing():
            return
        if self.cycle is not None and self.cycle.response_started:
            self.transport.close()
            return
        body = error_json(status.code, message)
        if self.observe is not None:
            self.observe(status.http)
        head = [STATUS_LINE[status.http]]
        for name, value in self.server_state.default_headers:
            head += [name, b": ", value, b"\r\n"]
        head += [b"content-type: application/json\r\n",
                 b"content-length: ", str(len(body)).encode(), b"\r\n",
                 b"connection: close\r\n\r\n", body]
        self.transport.write(b"".join(head))
        self.transport.close()
        if self.cycle is not None:
            self.cycle.disconnected = True
            self.cycle.message_event.set()

    # -- deadlines ----------------------------------------------------------------------------
    def _arm(self, seconds: float, what: str) -> None:
        self._disarm()
        if seconds and seconds > 0:
            self._deadline = self.loop.call_later(seconds, self._expired, what, seconds)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expired(self, what: str, seconds: float) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        if not self._receiving and what == "headers" and self.cycle is not None:
            return  # a request is being handled; the keep-alive timer takes over afterwards
        self._send_error(st.DEADLINE_EXCEEDED,
                         f"the request {what} did not arrive within {seconds:g} s")

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._disarm()  # uvicorn's keep-alive timer now covers the idle connection
        self._idle_since = self.loop.time()

    def shutdown(self) -> None:
        if self._receiving and (self.cycle is None or not self.cycle.response_started):
            self.transport.close()  # still sending its request: nothing to finish
            return
        super().shutdown()
