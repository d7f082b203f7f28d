"""gRPC messages of the Open Inference Protocol (KServe v2 `inference.GRPCInferenceService`):
the six RPCs served here and their messages, with KServe's field names and numbers, so
`tritonclient.grpc` and other v2 clients talk to it unchanged.

Like `proto`, the schema is a `FileDescriptorProto` built at import time in a private pool: no
protoc step, no generated module, and no clash with a client's copy of the same package
(`tritonclient` registers `inference.*` in the default pool) in the same process.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

PACKAGE = "inference"
SERVICE_FULL_NAME = f"{PACKAGE}.GRPCInferenceService"
PROTO_FILE_NAME = "generator/runtime/oip_grpc_service.proto"

_F = descriptor_pb2.FieldDescriptorProto
_STR, _BOOL, _I64, _BYTES = _F.TYPE_STRING, _F.TYPE_BOOL, _F.TYPE_INT64, _F.TYPE_BYTES
_PARAMS = "map:InferParameter"

#: message -> fields (name, number, type or message name, repeated). "map:X" is map<string, X>;
#: dotted names are nested messages. Oneof members are listed in _ONEOFS.
_MESSAGES: dict[str, list[tuple[str, int, Any, bool]]] = {
    "ServerLiveRequest": [],
    "ServerLiveResponse": [("live", 1, _BOOL, False)],
    "ServerReadyRequest": [],
    "ServerReadyResponse": [("ready", 1, _BOOL, False)],
    "ModelReadyRequest": [("name", 1, _STR, False), ("version", 2, _STR, False)],
    "ModelReadyResponse": [("ready", 1, _BOOL, False)],
    "ServerMetadataRequest": [],
    "ServerMetadataResponse": [("name", 1, _STR, False), ("version", 2, _STR, False),
                               ("extensions", 3, _STR, True)],
    "ModelMetadataRequest": [("name", 1, _STR, False), ("version", 2, _STR, False)],
    "ModelMetadataResponse": [("name", 1, _STR, False), ("versions", 2, _STR, True),
                              ("platform", 3, _STR, False),
                              ("inputs", 4, "ModelMetadataResponse.TensorMetadata", True),
                              ("outputs", 5, "ModelMetadataResponse.TensorMetadata", True)],
    "ModelMetadataResponse.TensorMetadata": [("name", 1, _STR, False),
                                             ("datatype", 2, _STR, False),
                                             ("shape", 3, _I64, True)],
    "InferParameter": [("bool_param", 1, _BOOL, False), ("int64_param", 2, _I64, False),
                       ("string_param", 3, _STR, False),
                       ("double_param", 4, _F.TYPE_DOUBLE, False),
                       ("uint64_param", 5, _F.TYPE_UINT64, False)],
    "InferTensorContents": [("bool_contents", 1, _BOOL, True),
                            ("int_contents", 2, _F.TYPE_INT32, True),
                            ("int64_contents", 3, _I64, True),
                            ("uint_contents", 4, _F.TYPE_UINT32, True),
                            ("uint64_contents", 5, _F.TYPE_UINT64, True),
                            ("fp32_contents", 6, _F.TYPE_FLOAT, True),
                            ("fp64_contents", 7, _F.TYPE_DOUBLE, True),
                            ("bytes_contents", 8, _BYTES, True)],
    "ModelInferRequest": [("model_name", 1, _STR, False), ("model_version", 2, _STR, False),
                          ("id", 3, _STR, False), ("parameters", 4, _PARAMS, True),
                          ("inputs", 5, "ModelInferRequest.InferInputTensor", True),
                          ("outputs", 6, "ModelInferRequest.InferRequestedOutputTensor", True),
                          ("raw_input_contents", 7, _BYTES, True)],
    "ModelInferRequest.InferInputTensor": [("name", 1, _STR, False),
                                           ("datatype", 2, _STR, False),
                                           ("shape", 3, _I64, True),
                                           ("parameters", 4, _PARAMS, True),
                                           ("contents", 5, "InferTensorContents", False)],
    "ModelInferRequest.InferRequestedOutputTensor": [("name", 1, _STR, False),
                                                     ("parameters", 2, _PARAMS, True)],
    "ModelInferResponse": [("model_name", 1, _STR, False), ("model_version", 2, _STR, False),
                           ("id", 3, _STR, False), ("parameters", 4, _PARAMS, True),
                           ("outputs", 5, "ModelInferResponse.InferOutputTensor", True),
                           ("raw_output_contents", 6, _BYTES, True)],
    "ModelInferResponse.InferOutputTensor": [("name", 1, _STR, False),
                                             ("datatype", 2, _STR, False),
                                             ("shape", 3, _I64, True),
                                             ("parameters", 4, _PARAMS, True),
                                             ("contents", 5, "InferTensorContents", False)],
}
_ONEOFS = {"InferParameter": "parameter_choice"}

#: RPC name -> (request message, response message).
METHODS: dict[str, tuple[str, str]] = {
    "ServerLive": ("ServerLiveRequest", "ServerLiveResponse"),
    "ServerReady": ("ServerReadyRequest", "ServerReadyResponse"),
    "ModelReady": ("ModelReadyRequest", "ModelReadyResponse"),
    "ServerMetadata": ("ServerMetadataRequest", "ServerMetadataResponse"),
    "ModelMetadata": ("ModelMetadataRequest", "ModelMetadataResponse"),
    "ModelInfer": ("ModelInferRequest", "ModelInferResponse"),
}


def _message(fdp: descriptor_pb2.FileDescriptorProto, dotted: str) -> descriptor_pb2.DescriptorProto:
    head, *rest = dotted.split(".")
    msg = next((m for m in fdp.message_type if m.name == head), None) or fdp.message_type.add(
        name=head)
    for part in rest:
        msg = next((m for m in msg.nested_type if m.name == part), None) or msg.nested_type.add(
            name=part)
    return msg


def build_file_descriptor_proto() -> descriptor_pb2.FileDescriptorProto:
    """The schema of the module docstring as a descriptor proto."""
    fdp = descriptor_pb2.FileDescriptorProto(name=PROTO_FILE_NAME, package=PACKAGE, syntax="proto3")
    for dotted, fields in _MESSAGES.items():
        msg = _message(fdp, dotted)
        oneof = _ONEOFS.get(dotted)
        if oneof:
            msg.oneof_decl.add(name=oneof)
        for name, number, kind, repeated in fields:
            field = msg.field.add(name=name, number=number,
                                  label=_F.LABEL_REPEATED if repeated else _F.LABEL_OPTIONAL)
            if oneof:
                field.oneof_index = 0
            if isinstance(kind, int):
                field.type = kind
            elif kind.startswith("map:"):
                entry_name = "".join(p[:1].upper() + p[1:] for p in name.split("_")) + "Entry"
                entry = msg.nested_type.add(name=entry_name)
                entry.options.map_entry = True
                entry.field.add(name="key", number=1, type=_STR, label=_F.LABEL_OPTIONAL)
                entry.field.add(name="value", number=2, type=_F.TYPE_MESSAGE,
                                label=_F.LABEL_OPTIONAL, type_name=f".{PACKAGE}.{kind[4:]}")
                field.type = _F.TYPE_MESSAGE
                field.type_name = f".{PACKAGE}.{dotted}.{entry_name}"
            else:
                field.type = _F.TYPE_MESSAGE
                field.type_name = f".{PACKAGE}.{kind}"
    service = fdp.service.add(name="GRPCInferenceService")
    for rpc, (request, response) in METHODS.items():
        service.method.add(name=rpc, input_type=f".{PACKAGE}.{request}",
                           output_type=f".{PACKAGE}.{response}")
    return fdp


_POOL = descriptor_pool.DescriptorPool()
_POOL.Add(build_file_descriptor_proto())


def message_class(name: str) -> type[Any]:
    """The message class for `name` (e.g. "ModelInferRequest")."""
    return message_factory.GetMessageClass(_POOL.FindMessageTypeByName(f"{PACKAGE}.{name}"))


MESSAGES: dict[str, type[Any]] = {name: message_class(name) for name in _MESSAGES
                                  if "." not in name}
