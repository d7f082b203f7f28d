"""Drop-in for Paddle Serving's `pipeline_service_pb2_grpc`: the `PipelineService` stub, the
servicer base class and the function that registers a servicer on a `grpc.Server`."""

from __future__ import annotations

from typing import Any

import grpc

from generator.runtime.proto import inference_callable, pipeline_service_handler

__all__ = ["PipelineServiceServicer", "PipelineServiceStub", "add_PipelineServiceServicer_to_server"]


class PipelineServiceStub:
    """Client stub: `stub.inference(request, timeout=...)` returns a `Response`."""

    def __init__(self, channel: grpc.Channel) -> None:
        self.inference = inference_callable(channel)


class PipelineServiceServicer:
    """Override `inference(self, request, context)` to return a `Response`."""

    def inference(self, request: Any, context: grpc.ServicerContext) -> Any:
        context.set_code(grpc.StatusCode.UNIMPLEMENTED)
        context.set_details("Method not implemented!")
        raise NotImplementedError("Method not implemented!")


def add_PipelineServiceServicer_to_server(  # noqa: N802 - name of the generated original
    servicer: PipelineServiceServicer, server: grpc.Server
) -> None:
    """Serve `servicer.inference` as `PipelineService/inference` on `server`."""
    server.add_generic_rpc_handlers((pipeline_service_handler(servicer.inference),))
