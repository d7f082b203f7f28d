"""Ops that also trace into a legacy static program (`--model_format legacy`).

Paddle 3.3.1 implements `paddle.argmax`, `F.sigmoid`, `paddle.maximum` (and so `F.normalize`)
with C++ functions that take dygraph tensors or PIR values only; under `FLAGS_enable_pir_api=0`
tracing fails with "argument (position 1) must be Value, but got Variable". The functions here
call the regular API in dygraph and PIR mode and append the equivalent legacy op (`arg_max`,
`sigmoid`, `p_norm` + `elementwise_max` + `elementwise_div`) to a legacy static program, so
both export formats compute the same thing.
"""

from __future__ import annotations

from typing import Any


def in_legacy_static_mode() -> bool:
    """True while tracing into a legacy (non-PIR) static program."""
    import paddle

    return not paddle.in_dynamic_mode() and not paddle.framework.in_pir_mode()


def _append(op_type: str, inputs: dict[str, Any], attrs: dict[str, Any], dtype: Any) -> Any:
    from paddle.base.layer_helper import LayerHelper

    helper = LayerHelper(op_type)
    out = helper.create_variable_for_type_inference(dtype=dtype)
    helper.append_op(type=op_type, inputs=inputs, outputs={"Out": out}, attrs=attrs)
    return out


def sigmoid(x: Any) -> Any:
    """`F.sigmoid(x)`."""
    import paddle.nn.functional as F

    if in_legacy_static_mode():
        return _append("sigmoid", {"X": x}, {}, x.dtype)
    return F.sigmoid(x)


def argmax(x: Any, axis: int, dtype: str = "int64", keepdim: bool = False) -> Any:
    """`paddle.argmax(x, axis, keepdim, dtype)` (dtype int32 or int64)."""
    import paddle

    if dtype not in ("int32", "int64"):
        raise ValueError(f"argmax dtype must be int32 or int64, got {dtype!r}")
    if in_legacy_static_mode():
        from paddle.base.framework import convert_np_dtype_to_proto_type

        proto = convert_np_dtype_to_proto_type(dtype)
        out = _append("arg_max", {"X": x},
                      {"axis": axis, "keepdims": keepdim, "flatten": False, "dtype": int(proto)},
                      proto)
        out.stop_gradient = True
        return out
    return paddle.argmax(x, axis=axis, keepdim=keepdim, dtype=dtype)


def maximum(x: Any, y: Any) -> Any:
    """`paddle.maximum(x, y)` (broadcasting)."""
    import paddle

    if in_legacy_static_mode():
        return _append("elementwise_max", {"X": x, "Y": y}, {"axis": -1}, x.dtype)
    return paddle.maximum(x, y)


def normalize(x: Any, p: float = 2.0, axis: int = 1, epsilon: float = 1e-12) -> Any:
    """`F.normalize(x, p, axis, epsilon)`: `x / max(||x||_p, epsilon)` along `axis`."""
    import paddle
    import paddle.nn.functional as F

    if not in_legacy_static_mode():
        return F.normalize(x, p=p, axis=axis, epsilon=epsilon)
    norm = _append("p_norm", {"X": x},
                   {"axis": axis, "porder": float(p), "keepdim": True, "epsilon": epsilon},
                   x.dtype)
    eps = paddle.full(shape=[1], fill_value=epsilon, dtype=x.dtype)
    return paddle.divide(x, maximum(norm, eps))


def sigmoid_layer() -> Any:
    """A parameter-free `nn.Layer` computing `sigmoid` (drop-in for `nn.Sigmoid()`)."""
    from paddle import nn

    class Sigmoid(nn.Layer):
        """`nn.Sigmoid` that also traces in legacy static mode."""

        def forward(self, x):
            return sigmoid(x)

    return Sigmoid()
