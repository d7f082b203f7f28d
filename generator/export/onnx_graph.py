"""Reading ONNX and Paddle files for the ONNX exporter: weight sizes (to catch a truncated
conversion), input names, dtypes and shapes, the known paddle2onnx issues in a graph, and the
value-info and metadata fixes written into the converted model."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import numpy as np

from generator.runtime.inference.backends.onnx_names import TensorMapping

# VarType.Type -> bytes per element, for reading tensor sizes out of .pdiparams
_PD_ITEMSIZE = {0: 1, 1: 2, 2: 4, 3: 8, 4: 2, 5: 4, 6: 8, 20: 1, 21: 1, 22: 2, 23: 8, 24: 16}


def pdiparams_data_bytes(params_file: str | Path) -> int | None:
    """Bytes of tensor data in a combined `.pdiparams` file (headers excluded); None when the
    file is not in the combined-tensor format this reader knows."""
    data = Path(params_file).read_bytes()
    i, total = 0, 0

    def varint(buf: bytes, j: int) -> tuple[int, int]:
        value = shift = 0
        while True:
            byte = buf[j]
            j += 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                return value, j

    try:
        while i < len(data):
            i += 4  # tensor version
            (lod_level,) = struct.unpack_from("<Q", data, i)
            i += 8
            for _ in range(lod_level):
                (size,) = struct.unpack_from("<Q", data, i)
                i += 8 + size
            i += 4  # desc version
            (desc_size,) = struct.unpack_from("<i", data, i)
            i += 4
            desc, i = data[i:i + desc_size], i + desc_size
            j, dtype, dims = 0, None, []
            while j < len(desc):
                tag, j = varint(desc, j)
                if tag == 8:
                    dtype, j = varint(desc, j)
                elif tag == 16:
                    dim, j = varint(desc, j)
                    dims.append(dim)
                elif tag == 18:  # packed dims
                    length, j = varint(desc, j)
                    end = j + length
                    while j < end:
                        dim, j = varint(desc, j)
                        dims.append(dim)
                else:
                    return None
            if dtype not in _PD_ITEMSIZE:
                return None
            nbytes = int(np.prod(dims, dtype=np.int64)) * _PD_ITEMSIZE[dtype]
            i += nbytes
            total += nbytes
    except (struct.error, IndexError):
        return None
    return total if i == len(data) else None


def onnx_weight_bytes(model: Any) -> int:
    """Bytes of constant tensors in an ONNX graph: initializers plus Constant nodes' values."""
    from onnx import numpy_helper

    total = sum(numpy_helper.to_array(t).nbytes for t in model.graph.initializer)
    for node in model.graph.node:
        if node.op_type == "Constant":
            for attr in node.attribute:
                if attr.name == "value":
                    total += numpy_helper.to_array(attr.t).nbytes
    return total


def _onnx_dtype(elem_type: int) -> str:
    from onnx import helper

    return np.dtype(helper.tensor_dtype_to_np_dtype(elem_type)).name


def _onnx_shape(value_info: Any) -> tuple[int, ...]:
    dims = value_info.type.tensor_type.shape.dim
    return tuple(d.dim_value if d.HasField("dim_value") else -1 for d in dims)


def _graph_inputs(model: Any) -> list[Any]:
    initializers = {t.name for t in model.graph.initializer}
    return [i for i in model.graph.input if i.name not in initializers]


def _known_issue_hints(model: Any) -> list[str]:
    """Explanations for known paddle2onnx mis-conversions found in the graph."""
    hints = []
    for node in model.graph.node:
        if node.op_type == "LeakyRelu":
            alpha = next((a.f for a in node.attribute if a.name == "alpha"), 0.01)
            if abs(alpha) < 1e-30:
                hints.append(
                    f"LeakyRelu {node.name!r} has alpha={alpha:g}: paddle2onnx 2.1.0 reads the "
                    "PIR program's double `negative_slope` as a float (Paddle2ONNX#1646)")
    return hints[:3]


def _fix_value_info(model: Any) -> bool:
    """Drop paddle2onnx's recorded intermediate shapes and infer them again (§5.3)."""
    if not len(model.graph.value_info):
        return False
    from onnx import shape_inference

    del model.graph.value_info[:]
    try:
        inferred = shape_inference.infer_shapes(model)
    except Exception:
        return True  # ONNX Runtime infers shapes itself; the stale ones are gone
    model.graph.CopyFrom(inferred.graph)
    return True


def _entries(mappings: list[TensorMapping]) -> str:
    return json.dumps([{"onnx": m.onnx_name, "paddle": m.paddle_name, "dtype": m.dtype,
                        "onnx_dtype": m.onnx_dtype, "shape": list(m.shape)} for m in mappings])


def _set_metadata(model: Any, values: dict[str, str]) -> None:
    from onnx import helper

    props = {p.key: p.value for p in model.metadata_props}
    props.update(values)
    helper.set_model_props(model, props)
