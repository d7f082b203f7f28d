"""gRPC messages and service plumbing of Paddle Serving's Python Pipeline (0.7+ wire format).

`Tensor`, `Request` and `Response` are built at import time from a hand-written
`FileDescriptorProto` (proto3, package `baidu.paddle_serving.pipeline_serving`) in a private
descriptor pool, so there is no protoc step and no generated `_pb2` module, and the classes never
clash with another copy of the same schema in the default pool. Field names and numbers are those
of Paddle Serving 0.9's `pipeline_service.proto`, so bytes on the wire are identical.

Server side::

    server = grpc.server(ThreadPoolExecutor(8))
    server.add_generic_rpc_handlers((pipeline_service_handler(my_inference),))

Client side::

    call = inference_callable(grpc.insecure_channel("127.0.0.1:9998"))
    response = call(Request(key=["x"], value=["1"]))

Paddle Serving's generated modules have drop-in counterparts here: `pipeline_service_pb2`
(`Request`, `Response`, `Tensor`, `DESCRIPTOR`) and `pipeline_service_pb2_grpc`
(`PipelineServiceStub`, `PipelineServiceServicer`, `add_PipelineServiceServicer_to_server`), so
custom `ResponseOp`s keep `pipeline_service_pb2.Response()`.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Any

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

PACKAGE = "baidu.paddle_serving.pipeline_serving"
SERVICE_NAME = "PipelineService"
SERVICE_FULL_NAME = f"{PACKAGE}.{SERVICE_NAME}"
METHOD_NAME = "inference"
INFERENCE_METHOD_PATH = f"/{SERVICE_FULL_NAME}/{METHOD_NAME}"
#: Name of the synthetic .proto file inside the private pool (not the wheel's path on purpose).
PROTO_FILE_NAME = "generator/runtime/pipeline_service.proto"


class ElemType(enum.IntEnum):
    """`Tensor.elem_type` codes (Paddle VarType numbering used by Paddle Serving)."""

    INT64 = 0
    FP32 = 1
    INT32 = 2
    FP64 = 3
    INT16 = 4
    FP16 = 5
    BF16 = 6  # carried as numpy uint16
    UINT8 = 7
    INT8 = 8
    BOOL = 9
    COMPLEX64 = 10
    COMPLEX128 = 11
    STRING = 12
    BYTES = 13


_F = descriptor_pb2.FieldDescriptorProto

#: (message, [(field name, number, type, repeated, message type name or None)]) in §3.1 order.
_SCHEMA: list[tuple[str, list[tuple[str, int, int, bool, str | None]]]] = [
    (
        "Tensor",
        [
            ("int64_data", 1, _F.TYPE_INT64, True, None),
            ("float_data", 2, _F.TYPE_FLOAT, True, None),
            ("int_data", 3, _F.TYPE_INT32, True, None),
            ("float64_data", 4, _F.TYPE_DOUBLE, True, None),
            ("uint32_data", 5, _F.TYPE_UINT32, True, None),
            ("bool_data", 6, _F.TYPE_BOOL, True, None),
            ("complex64_data", 7, _F.TYPE_FLOAT, True, None),
            ("complex128_data", 8, _F.TYPE_DOUBLE, True, None),
            ("str_data", 9, _F.TYPE_STRING, True, None),
            ("byte_data", 10, _F.TYPE_BYTES, False, None),
            ("elem_type", 20, _F.TYPE_INT32, False, None),
            ("shape", 21, _F.TYPE_INT32, True, None),
            ("lod", 22, _F.TYPE_INT32, True, None),
            ("name", 23, _F.TYPE_STRING, False, None),
        ],
    ),
    (
        "Request",
        [
            ("key", 1, _F.TYPE_STRING, True, None),
            ("value", 2, _F.TYPE_STRING, True, None),
            ("tensors", 3, _F.TYPE_MESSAGE, True, "Tensor"),
            ("name", 4, _F.TYPE_STRING, False, None),
            ("method", 5, _F.TYPE_STRING, False, None),
            ("logid", 6, _F.TYPE_INT64, False, None),
            ("clientip", 7, _F.TYPE_STRING, False, None),
        ],
    ),
    (
        "Response",
        [
            ("err_no", 1, _F.TYPE_INT32, False, None),
            ("err_msg", 2, _F.TYPE_STRING, False, None),
            ("key", 3, _F.TYPE_STRING, True, None),
            ("value", 4, _F.TYPE_STRING, True, None),
            ("tensors", 5, _F.TYPE_MESSAGE, True, "Tensor"),
        ],
    ),
]


def build_file_descriptor_proto() -> descriptor_pb2.FileDescriptorProto:
    """Return the `pipeline_service.proto` schema (messages and service) as a descriptor proto."""
    fdp = descriptor_pb2.FileDescriptorProto(name=PROTO_FILE_NAME, package=PACKAGE, syntax="proto3")
    for msg_name, fields in _SCHEMA:
        msg = fdp.message_type.add(name=msg_name)
        for name, number, ftype, repeated, type_name in fields:
            field = msg.field.add(
                name=name,
                number=number,
                type=ftype,
                label=_F.LABEL_REPEATED if repeated else _F.LABEL_OPTIONAL,
            )
            if type_name is not None:
                field.type_name = f".{PACKAGE}.{type_name}"
    service = fdp.service.add(name=SERVICE_NAME)
    service.method.add(
        name=METHOD_NAME, input_type=f".{PACKAGE}.Request", output_type=f".{PACKAGE}.Response"
    )
    return fdp


def _message_class(pool: descriptor_pool.DescriptorPool, name: str) -> type[Any]:
    descriptor = pool.FindMessageTypeByName(f"{PACKAGE}.{name}")
    get_class = getattr(message_factory, "GetMessageClass", None)
    if get_class is not None:  # protobuf >= 4.22
        return get_class(descriptor)
    return message_factory.MessageFactory(pool).GetPrototype(descriptor)  # protobuf 4.21


_POOL = descriptor_pool.DescriptorPool()
_POOL.Add(build_file_descriptor_proto())

Tensor: type[Any] = _message_class(_POOL, "Tensor")
Request: type[Any] = _message_class(_POOL, "Request")
Response: type[Any] = _message_class(_POOL, "Response")
#: The file descriptor of the schema (what a generated `_pb2` module calls `DESCRIPTOR`).
FILE_DESCRIPTOR = _POOL.FindFileByName(PROTO_FILE_NAME)

#: Signature of the server-side inference callable.
InferenceFn = Callable[[Any, grpc.ServicerContext], Any]



def error_response(err_no: int, message: str) -> Any:
    """The one way the runtime answers a pipeline request with an error: a `Response` holding
    only `err_no` and `err_msg` (as Paddle Serving does)."""
    return Response(err_no=int(err_no), err_msg=message)

def pipeline_service_handler(inference: InferenceFn) -> grpc.GenericRpcHandler:
    """Wrap `inference(request, context) -> Response` as the `PipelineService` gRPC service.

    Add the result to a server with `server.add_generic_rpc_handlers((handler,))`.
    """
    method = grpc.unary_unary_rpc_method_handler(
        inference,
        request_deserializer=Request.FromString,
        response_serializer=Response.SerializeToString,
    )
    return grpc.method_handlers_generic_handler(SERVICE_FULL_NAME, {METHOD_NAME: method})


def inference_callable(channel: grpc.Channel) -> grpc.UnaryUnaryMultiCallable:
    """Return the client stub for `PipelineService/inference` on `channel`.

    Call it with a `Request` (and optional `timeout=`), or use `.future(request)`.
    """
    return channel.unary_unary(
        INFERENCE_METHOD_PATH,
        request_serializer=Request.SerializeToString,
        response_deserializer=Response.FromString,
    )
