"""Open Inference Protocol gRPC service (`inference.GRPCInferenceService`): ServerLive,
ServerReady, ModelReady, ServerMetadata, ModelMetadata and ModelInfer (tensors in `contents` or
`raw_input_contents`; outputs always in `raw_output_contents`), served next to
`PipelineService` on the same gRPC server. Errors are gRPC statuses: NOT_FOUND,
INVALID_ARGUMENT, UNAVAILABLE, INTERNAL."""

from __future__ import annotations

from typing import Any

import grpc
import numpy as np

from generator.runtime.errors import cap_message, shorten
from generator.runtime.protocols.oip.messages import MESSAGES, METHODS, SERVICE_FULL_NAME
from generator.runtime.protocols.oip.models import ModelRegistry, OipError
from generator.runtime.protocols.oip.tensors import (
    TensorError,
    datatype_of,
    decode_raw,
    encode_raw,
    from_contents,
)
from generator.runtime.protocols.status import INVALID


class OipGrpcService:
    """The RPC implementations over a `ModelRegistry`."""

    def __init__(self, registry: ModelRegistry) -> None:
        self.registry = registry

    def handler(self) -> grpc.GenericRpcHandler:
        """The service as a generic handler for `server.add_generic_rpc_handlers`."""
        methods = {}
        for rpc, (request, response) in METHODS.items():
            methods[rpc] = grpc.unary_unary_rpc_method_handler(
                self._guarded(getattr(self, rpc)),
                request_deserializer=MESSAGES[request].FromString,
                response_serializer=MESSAGES[response].SerializeToString)
        return grpc.method_handlers_generic_handler(SERVICE_FULL_NAME, methods)

    @staticmethod
    def _guarded(fn: Any) -> Any:
        def run(request: Any, context: grpc.ServicerContext) -> Any:
            try:
                return fn(request)
            except OipError as exc:
                context.abort(exc.status.grpc, cap_message(str(exc)))
            except TensorError as exc:
                context.abort(INVALID.grpc, cap_message(str(exc)))

        return run

    # -- RPCs ---------------------------------------------------------------------------------
    def ServerLive(self, request: Any) -> Any:  # noqa: N802 - the protocol's names
        return MESSAGES["ServerLiveResponse"](live=self.registry.live())

    def ServerReady(self, request: Any) -> Any:  # noqa: N802
        return MESSAGES["ServerReadyResponse"](ready=self.registry.ready())

    def ModelReady(self, request: Any) -> Any:  # noqa: N802
        model = self.registry.get(request.name, request.version)
        return MESSAGES["ModelReadyResponse"](ready=model.ready())

    def ServerMetadata(self, request: Any) -> Any:  # noqa: N802
        return MESSAGES["ServerMetadataResponse"](
            name=self.registry.server_name, version=self.registry.version,
            extensions=self.registry.extensions)

    def ModelMetadata(self, request: Any) -> Any:  # noqa: N802
        meta = self.registry.metadata(request.name, request.version)
        response = MESSAGES["ModelMetadataResponse"](
            name=meta["name"], versions=meta["versions"], platform=meta["platform"])
        for spec in meta["inputs"]:
            response.inputs.add(**spec)
        for spec in meta["outputs"]:
            response.outputs.add(**spec)
        return response

    def ModelInfer(self, request: Any) -> Any:  # noqa: N802
        raw = list(request.raw_input_contents)
        if raw and len(raw) != len(request.inputs):
            raise OipError(INVALID, f"{len(raw)} raw_input_contents for "
                                    f"{len(request.inputs)} inputs")
        inputs: dict[str, np.ndarray] = {}
        for i, tensor in enumerate(request.inputs):
            where = f"input '{shorten(tensor.name)}'"
            if tensor.name in inputs:
                raise OipError(INVALID, f"{where} is given twice")
            shape = list(tensor.shape)
            if raw:
                inputs[tensor.name] = decode_raw(tensor.datatype, shape, raw[i], where)
            else:
                inputs[tensor.name] = from_contents(tensor.datatype, shape, tensor.contents,
                                                    where)
        wanted = [o.name for o in request.outputs] or None
        if wanted and len(set(wanted)) != len(wanted):
            raise OipError(INVALID, "an output is asked for twice")
        results = self.registry.infer(request.model_name, request.model_version, inputs, wanted)
        response = MESSAGES["ModelInferResponse"](
            model_name=request.model_name, model_version=request.model_version or "1",
            id=request.id)
        for name, array in results.items():
            array = np.asarray(array)
            datatype = datatype_of(array)
            response.outputs.add(name=name, datatype=datatype, shape=list(array.shape))
            response.raw_output_contents.append(encode_raw(array, datatype))
        return response
