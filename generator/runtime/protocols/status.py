"""One status table for every front door: each way a request can fail, as the HTTP status and
the gRPC status code it is answered with, and which of them an `ErrorCode` (a pipeline
`err_no`) becomes on a protocol that has no `err_no` (the Open Inference Protocol).

The Paddle Serving protocols (PipelineService and its HTTP JSON gateway) answer application
errors with HTTP 200 / gRPC OK and an `err_no`; only transport-level failures use these
statuses, with the grpc-gateway error body (`{"code": <gRPC number>, ...}`) over HTTP.

A leaf of `protocols`: imports `grpc` and `errors` only.
"""

from __future__ import annotations

from dataclasses import dataclass

import grpc

from generator.runtime.errors import ErrorCode

__all__ = [
    "DEADLINE_EXCEEDED", "HEADERS_TOO_LARGE", "INTERNAL", "INVALID", "METHOD_NOT_ALLOWED",
    "MISDIRECTED", "NOT_FOUND", "OVERLOADED", "TIMED_OUT", "TOO_LARGE", "UNAVAILABLE",
    "URL_TOO_LONG", "Status", "for_error_code",
]


@dataclass(frozen=True)
class Status:
    """An HTTP status and the gRPC status code that mean the same failure."""

    http: int
    grpc: grpc.StatusCode

    @property
    def code(self) -> int:
        """The gRPC status number (the `code` of a grpc-gateway error body)."""
        return self.grpc.value[0]

    @property
    def name(self) -> str:
        """The gRPC status name ("INVALID_ARGUMENT")."""
        return self.grpc.name


INVALID = Status(400, grpc.StatusCode.INVALID_ARGUMENT)
NOT_FOUND = Status(404, grpc.StatusCode.NOT_FOUND)
METHOD_NOT_ALLOWED = Status(405, grpc.StatusCode.UNIMPLEMENTED)
#: the request's headers or body did not arrive in time
DEADLINE_EXCEEDED = Status(408, grpc.StatusCode.DEADLINE_EXCEEDED)
TOO_LARGE = Status(413, grpc.StatusCode.RESOURCE_EXHAUSTED)
URL_TOO_LONG = Status(414, grpc.StatusCode.RESOURCE_EXHAUSTED)
HEADERS_TOO_LARGE = Status(431, grpc.StatusCode.RESOURCE_EXHAUSTED)
#: refused at once for overload: the gRPC admission guard's refusal of a non-pipeline call
#: (pipeline calls get err_no 8001), the bare model's Op busy past `dag.channel_size`
OVERLOADED = Status(503, grpc.StatusCode.RESOURCE_EXHAUSTED)
#: accepted, but no answer within the request deadline (`request_timeout_s`)
TIMED_OUT = Status(504, grpc.StatusCode.DEADLINE_EXCEEDED)
UNAVAILABLE = Status(503, grpc.StatusCode.UNAVAILABLE)
#: a loopback-bound service asked for another `Host` name (DNS rebinding; `http.host`)
MISDIRECTED = Status(421, grpc.StatusCode.PERMISSION_DENIED)
INTERNAL = Status(500, grpc.StatusCode.INTERNAL)

#: `err_no` -> status on protocols without `err_no`; any other non-zero `err_no` is INTERNAL.
_BY_ERROR_CODE: dict[int, Status] = {
    ErrorCode.CLOSED_ERROR: UNAVAILABLE,
    ErrorCode.NO_SERVICE: INVALID,
    ErrorCode.INPUT_PARAMS_ERROR: INVALID,
    ErrorCode.OVERLOADED: OVERLOADED,
    ErrorCode.TIMEOUT: TIMED_OUT,
}


def for_error_code(err_no: int) -> Status:
    """The status a pipeline `err_no` is answered with where the protocol has no `err_no`."""
    return _BY_ERROR_CODE.get(int(err_no), INTERNAL)
