"""The two Ops at the ends of every graph: `RequestOp` turns a `Request` message into the first
Op's input dict, `ResponseOp` packs the last Op's output into a `Response` (Paddle Serving's
`unpack_request_package` / `pack_response_package`)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import numpy as np

from generator.runtime.errors import CustomException, ErrorCode
from generator.runtime.pipeline.channel_data import ChannelData, ChannelDataType
from generator.runtime.pipeline.operator import DAG_EXECUTOR_NAME, Op


class RequestOp(Op):
    """Turns a `Request` message into the first Op's input dict."""

    #: BYTES tensors are np.load-ed; unpickling network data runs arbitrary code, so object
    #: arrays are refused unless a subclass sets this to True (Paddle Serving allowed them).
    allow_pickle = False

    def __init__(self):
        super().__init__(name=DAG_EXECUTOR_NAME, input_ops=[])
        self.init_op()

    def unpack_request_package(self, request):
        """Returns (dict_data, log_id, prod_errcode, prod_errinfo)."""
        from generator.runtime.proto.tensors import tensor_to_value

        if len(request.value) < len(request.key):
            raise CustomException(
                ErrorCode.RPC_PACKAGE_ERROR,
                f"request has {len(request.key)} keys but only {len(request.value)} values; "
                "send one value per key",
            )
        dict_data: dict[str, Any] = dict(zip(request.key, request.value, strict=False))
        for tensor in request.tensors:
            value, lod = tensor_to_value(tensor, allow_pickle=self.allow_pickle)
            dict_data[tensor.name] = value
            if lod is not None:
                dict_data[tensor.name + ".lod"] = lod
        return dict_data, request.logid, None, ""


def _full_print_threshold() -> None:
    """Paddle Serving sets numpy's print threshold to sys.maxsize (process-wide) so repr() never
    elides values; set it once, not per response (set_printoptions is slow)."""
    if np.get_printoptions()["threshold"] != sys.maxsize:
        np.set_printoptions(threshold=sys.maxsize)


class ResponseOp(Op):
    """Turns the last Op's ChannelData into a `Response` message."""

    def __init__(self, input_ops: Sequence[Op]):
        super().__init__(name=DAG_EXECUTOR_NAME, input_ops=input_ops)
        self.is_pack_tensor = False
        self.init_op()

    def set_pack_format(self, isTensor: bool = False) -> None:  # noqa: N803 - Paddle's name
        """True: ndarray outputs go to `Response.tensors` (binary, exact) instead of repr()
        strings in key/value. Paddle Serving declared this switch but never used it."""
        self.is_pack_tensor = isTensor

    def pack_response_package(self, channeldata: ChannelData):
        """Default packing: repr() of NPDATA values, str values of DICT data, or the error."""
        from generator.runtime.proto import Response

        resp = Response()
        code, info = channeldata.error_code, ""
        if code == ErrorCode.OK:
            data = channeldata.parse()
            if channeldata.datatype == ChannelDataType.CHANNEL_NPDATA and self.is_pack_tensor:
                from generator.runtime.proto.tensors import ndarray_to_tensor

                for name, var in data.items():
                    resp.tensors.append(ndarray_to_tensor(name, var))
            elif channeldata.datatype == ChannelDataType.CHANNEL_NPDATA:
                _full_print_threshold()
                for name, var in data.items():
                    resp.key.append(name)
                    resp.value.append(repr(var))
            else:
                for name, var in data.items():
                    if not isinstance(var, str):
                        code = ErrorCode.TYPE_ERROR
                        info = (f"fetch var type must be str: postprocess returned "
                                f"{type(var).__name__} for key '{name}'; convert it with str() or "
                                "json.dumps()")
                        del resp.key[:], resp.value[:]
                        break
                    resp.key.append(name)
                    resp.value.append(var)
        else:
            info = channeldata.error_info
            if code == ErrorCode.PRODUCT_ERROR:
                code = channeldata.prod_error_code
                info = channeldata.prod_error_info or ""
                code = getattr(code, "value", code)
        resp.err_no = int(code or 0)
        resp.err_msg = info or ""
        return resp
