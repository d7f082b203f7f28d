"""`PipelineClient`: the gRPC client of Paddle Serving's Python Pipeline (4 of the fact sheet).

Drop-in for `paddle_serving_server.pipeline.PipelineClient`, with these differences:

* nothing is printed to stdout (Paddle Serving printed timing lines);
* `feed_dict` is not modified (Paddle Serving popped `logid` / `clientip` from it);
* `connect()` also accepts host names and IPv6 literals (Paddle Serving's `ipv4:` target only
  worked with IPv4 literals);
* `profile=True` also works in tensor mode, unsupported dtypes raise TypeError instead of
  sending an empty tensor, and `predict()` takes an optional `timeout` in seconds.
"""

from __future__ import annotations

import functools
import ipaddress
import socket
import sys
from collections.abc import Callable, Sequence
from typing import Any

import grpc
import numpy as np

from generator.runtime.proto import Request, inference_callable
from generator.runtime.proto.tensors import ndarray_to_tensor

PROFILE_KEY = "pipeline.profile"
PROFILE_VALUE = "1"
MAX_MESSAGE_BYTES = 512 * 1024 * 1024

__all__ = ["PipelineClient", "PipelinePredictFuture", "grpc_target", "local_ip"]


@functools.lru_cache(maxsize=1)
def local_ip() -> str:
    """`gethostbyname(gethostname())` as Paddle Serving sends it, or 127.0.0.1 if that fails.
    Resolved once per process (a DNS lookup per request costs more than the request)."""
    try:
        return socket.gethostbyname(socket.gethostname())
    except OSError:
        return "127.0.0.1"


def _split_endpoint(endpoint: str) -> tuple[str, int]:
    if not isinstance(endpoint, str):
        raise TypeError(f"endpoint must be a 'host:port' string, got {type(endpoint).__name__}")
    host, sep, port_text = endpoint.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not sep or not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(
            f"invalid endpoint {endpoint!r}: expected 'host:port', e.g. '127.0.0.1:9998' "
            "or '[::1]:9998'"
        )
    return host, int(port_text)


def _ip_version(host: str) -> int | None:
    try:
        return ipaddress.ip_address(host).version
    except ValueError:
        return None


def grpc_target(endpoints: Sequence[str]) -> str:
    """gRPC target string for `endpoints` ("host:port" strings).

    A single endpoint: the plain `host:port` target (gRPC's resolver; measurably faster per call
    than an `ipv4:` list with round robin). Several IPv4 literals: `ipv4:a:p,b:q` like Paddle
    Serving (round robin over them). Several endpoints with host names: each name is resolved now to its IPv4
    addresses (re-resolution on later DNS changes needs a new `connect`). All IPv6 literals:
    `ipv6:[a]:p,...`. Raises ValueError for an empty list, a malformed endpoint, a name that
    does not resolve, or a mix of IPv4 and IPv6.
    """
    if isinstance(endpoints, str):
        raise TypeError("endpoints must be a list of 'host:port' strings, not a single string")
    parsed = [_split_endpoint(e) for e in endpoints]
    if not parsed:
        raise ValueError("endpoints is empty: pass at least one 'host:port'")
    versions = {_ip_version(host) for host, _ in parsed}
    if len(parsed) == 1:  # nothing to balance: the plain target skips the ipv4: resolver path
        host, port = parsed[0]
        return f"[{host}]:{port}" if _ip_version(host) == 6 else f"{host}:{port}"
    if versions == {6}:
        return "ipv6:" + ",".join(f"[{host}]:{port}" for host, port in parsed)
    if versions == {4}:
        return "ipv4:" + ",".join(f"{host}:{port}" for host, port in parsed)
    if 6 in versions:
        raise ValueError(
            f"endpoints {list(endpoints)} mix IPv6 literals with IPv4 addresses or host names; "
            "gRPC round robin needs one address family"
        )
    addresses: list[str] = []
    for host, port in parsed:
        if _ip_version(host) == 4:
            addresses.append(f"{host}:{port}")
            continue
        try:
            infos = socket.getaddrinfo(host, port, socket.AF_INET, socket.SOCK_STREAM)
        except OSError as exc:
            raise ValueError(f"cannot resolve endpoint host {host!r} to IPv4: {exc}") from exc
        for info in infos:
            address = f"{info[4][0]}:{port}"
            if address not in addresses:
                addresses.append(address)
    return "ipv4:" + ",".join(addresses)


class PipelinePredictFuture:
    """Result of `predict(..., asyn=True)`; `result()` blocks and returns the `Response`."""

    def __init__(self, call_future: grpc.Future, callback: Callable[[Any], Any]):
        self._call_future = call_future
        self._callback = callback

    def result(self, timeout: float | None = None) -> Any:
        """Wait for the response (raises `grpc.RpcError` on transport failure)."""
        return self._callback(self._call_future.result(timeout=timeout))

    def done(self) -> bool:
        return self._call_future.done()

    def cancel(self) -> bool:
        return self._call_future.cancel()

    def add_done_callback(self, fn: Callable[[PipelinePredictFuture], None]) -> None:
        """Call `fn(self)` when the call finishes (possibly in a gRPC thread)."""
        self._call_future.add_done_callback(lambda _: fn(self))


class PipelineClient:
    """gRPC client for a Pipeline service (ours or Paddle Serving's), same API as Paddle's."""

    def __init__(self) -> None:
        self._channel: grpc.Channel | None = None
        self._stub: grpc.UnaryUnaryMultiCallable | None = None
        self._profile_key = PROFILE_KEY
        self._profile_value = PROFILE_VALUE

    def connect(self, endpoints: list[str]) -> None:
        """Open an insecure channel to `endpoints` ("ip:port" strings, round robin).

        See `grpc_target` for how host names are handled. Replaces (and closes) any previous
        channel.
        """
        target = grpc_target(endpoints)
        options = [
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
        ]
        if len(endpoints) > 1:
            options.append(("grpc.lb_policy_name", "round_robin"))
        self.close()
        self._channel = grpc.insecure_channel(target, options=options)
        self._stub = inference_callable(self._channel)

    def close(self) -> None:
        """Close the channel (idempotent)."""
        if self._channel is not None:
            self._channel.close()
        self._channel = None
        self._stub = None

    def __enter__(self) -> PipelineClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _pack_request_package(
        self,
        feed_dict: dict[str, Any],
        pack_tensor_format: bool,
        use_tensor_bytes: bool,
        profile: bool,
    ) -> Any:
        feed = dict(feed_dict)
        request = Request()
        logid = feed.pop("logid", None)
        request.logid = 0 if logid is None else int(logid)
        clientip = feed.pop("clientip", None)
        request.clientip = local_ip() if clientip is None else clientip
        if pack_tensor_format:
            for key, value in feed.items():
                if ".lod" in key:  # attached to its tensor below, never sent on its own
                    continue
                tensor = ndarray_to_tensor(key, value, use_bytes=use_tensor_bytes)
                lod = feed.get(key + ".lod")
                if isinstance(value, np.ndarray) and lod is not None:
                    tensor.lod.extend(int(v) for v in np.asarray(lod).ravel())
                request.tensors.append(tensor)
        else:
            with np.printoptions(threshold=sys.maxsize):
                for key, value in feed.items():
                    if isinstance(value, str):
                        text = value
                    elif isinstance(value, np.ndarray):
                        text = repr(value)
                    elif isinstance(value, list):
                        text = repr(np.array(value))
                    else:
                        raise TypeError(
                            f"feed {key!r}: only str, np.ndarray and list values are supported "
                            f"in string mode, got {type(value).__name__}"
                        )
                    request.key.append(key)
                    request.value.append(text)
        if profile:
            request.key.append(self._profile_key)
            request.value.append(self._profile_value)
        return request

    def _unpack_response_package(self, response: Any, fetch: list[str] | None) -> Any:
        return response

    def predict(
        self,
        feed_dict: dict[str, Any],
        fetch: list[str] | None = None,
        asyn: bool = False,
        pack_tensor_format: bool = False,
        use_tensor_bytes: bool = False,
        profile: bool = False,
        log_id: int = 0,
        *,
        timeout: float | None = None,
    ) -> Any:
        """Send one request; return the `Response` (or a `PipelinePredictFuture` if `asyn`).

        String mode (default): str values are sent as-is, ndarrays as their full `repr`, lists
        as `repr(np.array(list))`. Tensor mode (`pack_tensor_format=True`): ndarrays and str go
        into `tensors` (`use_tensor_bytes` sends np.save bytes), `k + ".lod"` lists become the
        lod of tensor `k`. `fetch` is accepted for compatibility and not sent. `feed_dict`
        entries "logid" and "clientip" go to the request fields; `log_id` then overrides logid.
        """
        if not isinstance(feed_dict, dict):
            raise TypeError("feed must be dict type with format: {name: value}.")
        if fetch is not None and not isinstance(fetch, list):
            raise TypeError("fetch must be list type with format: [name].")
        if self._stub is None:
            raise RuntimeError("PipelineClient is not connected: call connect([...]) first")
        request = self._pack_request_package(
            feed_dict, pack_tensor_format, use_tensor_bytes, profile
        )
        request.logid = log_id
        if not asyn:
            return self._unpack_response_package(self._stub(request, timeout=timeout), fetch)
        call_future = self._stub.future(request, timeout=timeout)
        return PipelinePredictFuture(
            call_future, lambda response: self._unpack_response_package(response, fetch)
        )
