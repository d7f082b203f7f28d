"""Paddle Serving 0.9 compatible Pipeline runtime for Python 3.10+ and Paddle 3.

Porting a service is one import line:

    from paddle_serving_server.web_service import WebService, Op   # before
    from generator.runtime import WebService, Op                   # after
"""

from generator.runtime.errors import (
    ChannelDataErrcode,
    CustomException,
    CustomExceptionCode,
    ErrorCode,
    ProductErrCode,
)
from generator.runtime.pipeline.channel_data import ChannelData, ChannelDataType
from generator.runtime.pipeline.io_ops import RequestOp, ResponseOp
from generator.runtime.pipeline.operator import Op
from generator.runtime.server import PipelineServer
from generator.runtime.web_service import WebService


def __getattr__(name: str):
    # The client and the predictor import grpc/paddle; load them only when asked for.
    if name == "PipelineClient":
        from generator.runtime.client import PipelineClient

        return PipelineClient
    if name == "LocalPredictor":
        from generator.runtime.inference.predictor import LocalPredictor

        return LocalPredictor
    raise AttributeError(f"module 'generator.runtime' has no attribute {name!r}")


__all__ = [
    "ChannelData",
    "ChannelDataErrcode",
    "ChannelDataType",
    "CustomException",
    "CustomExceptionCode",
    "ErrorCode",
    "LocalPredictor",
    "Op",
    "PipelineClient",
    "PipelineServer",
    "ProductErrCode",
    "RequestOp",
    "ResponseOp",
    "WebService",
]
