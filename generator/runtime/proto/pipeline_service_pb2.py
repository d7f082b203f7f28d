"""Drop-in for Paddle Serving's `paddle_serving_server.pipeline.proto.pipeline_service_pb2`.

The same message classes the runtime uses (no protoc step, a private descriptor pool), so a
custom `ResponseOp` can keep writing::

    from generator.runtime.proto import pipeline_service_pb2
    resp = pipeline_service_pb2.Response()
    resp.err_no = 0
    resp.key.append("result")
"""

from __future__ import annotations

from generator.runtime.proto import FILE_DESCRIPTOR, Request, Response, Tensor

DESCRIPTOR = FILE_DESCRIPTOR

__all__ = ["DESCRIPTOR", "Request", "Response", "Tensor"]
