"""DNS-rebinding guard: a service bound to a loopback address answers only requests whose
`Host` header names the loopback (127.0.0.0/8, ::1, `localhost`) or the configured host.

A web page on any site can make a browser send requests to 127.0.0.1 by rebinding its own
name to that address; the browser then sends the attacker's name in `Host`, which is how such
requests are told apart. Those are answered 421 (`status.MISDIRECTED`) with a message naming
the fix. A service bound to a public address is reachable by any name and is not checked.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable

from generator.runtime.errors import shorten


def _is_loopback(name: str) -> bool:
    name = name.strip("[]").lower().rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def host_name(header: str) -> str:
    """`Host` header -> the name without its port: "[::1]:80" -> "::1", "a.b:8" -> "a.b"."""
    header = header.strip()
    if header.startswith("["):
        return header[1:header.find("]")] if "]" in header else header
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


def host_guard(bind_host: str) -> Callable[[str | None], bool] | None:
    """For a loopback `bind_host`: a function telling whether a `Host` header may be served
    (loopback names, or `bind_host` itself; no header: an HTTP/1.0 client, served). None
    when the service is not bound to the loopback only."""
    if not _is_loopback(bind_host):
        return None
    configured = host_name(bind_host).lower().rstrip(".")

    def allowed(header: str | None) -> bool:
        if header is None:
            return True
        name = host_name(header)
        return _is_loopback(name) or name.lower().rstrip(".") == configured

    return allowed


def refusal(header: str, bind_host: str) -> str:
    """The 421 answer's message."""
    return (f"misdirected request: this service is bound to {bind_host} and answers only "
            f"requests for 127.0.0.1, localhost or [::1], not Host '{shorten(header)}' (a "
            "browser page rebinding its name to the loopback would send that); bind http_host "
            "to a public address in config.yml to serve other names")
