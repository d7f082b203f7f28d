"""A gRPC server interceptor that bounds concurrent calls and counts every call's outcome.

At most `limit` unary calls are handled at once (health checks are never refused); one more
is refused at once: `PipelineService/inference` with err_no 8001 (as HTTP answers overload),
other methods with RESOURCE_EXHAUSTED. The server's thread pool is larger than `limit`, so a
refusal never waits behind the calls being handled. Every call is counted by its gRPC status
code: a call whose client went away before the answer counts as CANCELLED, a request that
cannot be parsed as INTERNAL.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import grpc

from generator.runtime.errors import ErrorCode
from generator.runtime.metrics import Metrics
from generator.runtime.proto import INFERENCE_METHOD_PATH, error_response
from generator.runtime.protocols.status import INTERNAL, OVERLOADED

PIPELINE_METHOD = INFERENCE_METHOD_PATH
#: threads beyond `limit` that only answer refusals
REFUSAL_THREADS = 32


def default_limit(worker_num: int, channel_size: int) -> int:
    """`max_concurrent_rpcs: 0`: 2 x worker_num + channel_size, at least 64."""
    return max(64, 2 * worker_num + channel_size)


class GrpcGuard(grpc.ServerInterceptor):
    """Bounds and counts unary calls (see the module docstring)."""

    def __init__(self, limit: int, metrics: Metrics, key: str = "max_concurrent_rpcs"):
        self.limit = limit
        self._slots = threading.BoundedSemaphore(limit)
        self._metrics = metrics
        self._key = key

    def intercept_service(self, continuation: Callable[[Any], Any], details: Any) -> Any:
        handler = continuation(details)
        if handler is None or handler.unary_unary is None:
            return handler
        method = details.method
        limited = not method.startswith("/grpc.health.")
        behavior = handler.unary_unary

        def guarded(request: Any, context: grpc.ServicerContext) -> Any:
            if limited and not self._slots.acquire(blocking=False):
                return self._refuse(method, context)
            code = "OK"
            try:
                response = behavior(request, context)
                code = _code_name(context, "OK")
                return response
            except BaseException:
                code = _code_name(context, "UNKNOWN")
                raise
            finally:
                if limited:
                    self._slots.release()
                if code == "OK" and not context.is_active():
                    code = "CANCELLED"
                self._metrics.grpc_response(code)

        return grpc.unary_unary_rpc_method_handler(
            guarded, request_deserializer=self._counted(handler.request_deserializer),
            response_serializer=handler.response_serializer)

    def _counted(self, deserialize: Callable[[bytes], Any] | None) -> Callable[[bytes], Any] | None:
        """`deserialize`, counting a request that cannot be parsed (gRPC answers INTERNAL)."""
        if deserialize is None:
            return None

        def parse(data: bytes) -> Any:
            try:
                return deserialize(data)
            except Exception:
                self._metrics.grpc_response(INTERNAL.name)
                raise

        return parse

    def _refuse(self, method: str, context: grpc.ServicerContext) -> Any:
        message = (f"server overloaded: {self.limit} gRPC calls are being handled "
                   f"({self._key} in config.yml); retry later")
        if method == PIPELINE_METHOD:
            self._metrics.answered("grpc", ErrorCode.OVERLOADED)
            self._metrics.grpc_response("OK")
            return error_response(ErrorCode.OVERLOADED, message)
        self._metrics.grpc_response(OVERLOADED.name)
        context.abort(OVERLOADED.grpc, message)
        return None


def _code_name(context: grpc.ServicerContext, default: str) -> str:
    try:
        code = context.code()
    except AttributeError:  # pragma: no cover - old grpcio
        code = None
    if code is None:
        return default
    return getattr(code, "name", str(code))
