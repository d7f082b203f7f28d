"""numpy <-> `Tensor` codec with Paddle Serving 0.9 semantics.

Encoding follows `PipelineClient`'s tensor mode: each dtype goes to one elem_type and one repeated
field (3.1 of the fact sheet); `str` goes to elem_type 12 (STRING); `use_bytes=True` sends the
`np.save` payload as elem_type 13 (BYTES).

Decoding follows `RequestOp.unpack_request_package`: STRING tensors become the concatenation of
`str_data`; BYTES tensors are `np.load`-ed; numeric tensors are cast to their dtype and reshaped to
`shape`; a non-empty `lod` becomes an int32 array of shape (2, -1).
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np

from generator.runtime.errors import CustomException, ErrorCode
from generator.runtime.proto import ElemType, Tensor

#: elem_type -> (numpy dtype, repeated field carrying the values) for numeric tensors.
NUMERIC_ELEM_TYPES: dict[int, tuple[np.dtype, str]] = {
    ElemType.INT64: (np.dtype("int64"), "int64_data"),
    ElemType.FP32: (np.dtype("float32"), "float_data"),
    ElemType.INT32: (np.dtype("int32"), "int_data"),
    ElemType.FP64: (np.dtype("float64"), "float64_data"),
    ElemType.INT16: (np.dtype("int16"), "int_data"),
    ElemType.FP16: (np.dtype("float16"), "float_data"),
    ElemType.BF16: (np.dtype("uint16"), "uint32_data"),
    ElemType.UINT8: (np.dtype("uint8"), "uint32_data"),
    ElemType.INT8: (np.dtype("int8"), "int_data"),
    ElemType.BOOL: (np.dtype("bool"), "bool_data"),
}

#: numpy dtype name -> elem_type, for encoding.
DTYPE_TO_ELEM_TYPE: dict[str, int] = {
    dtype.name: int(code) for code, (dtype, _) in NUMERIC_ELEM_TYPES.items()
}


#: numpy dtype -> (elem_type, field), the encoder's hot-path lookup (dtype.name is slow).
_ENCODE: dict[np.dtype, tuple[int, str]] = {
    dtype: (int(code), field) for code, (dtype, field) in NUMERIC_ELEM_TYPES.items()
}


def _supported_dtypes() -> str:
    return ", ".join(sorted(DTYPE_TO_ELEM_TYPE)) + ", bfloat16"


def ndarray_to_tensor(name: str, array: Any, use_bytes: bool = False) -> Any:
    """Encode `array` (an `np.ndarray` or a `str`) as a `Tensor` named `name`.

    `use_bytes=True` sends any ndarray as an `np.save` payload (elem_type 13), which also covers
    dtypes without a dedicated field. Raises TypeError for other value types or dtypes.
    """
    tensor = Tensor(name=name)
    if isinstance(array, str):
        tensor.elem_type = ElemType.STRING
        tensor.str_data.append(array)
        return tensor
    if not isinstance(array, np.ndarray):
        raise TypeError(
            f"tensor {name!r}: only str and np.ndarray values can be sent as tensors, "
            f"got {type(array).__name__}; wrap lists with np.asarray(...)"
        )
    tensor.shape.extend(array.shape)
    if use_bytes:
        buffer = io.BytesIO()
        np.save(buffer, array, allow_pickle=True)
        tensor.byte_data = buffer.getvalue()
        tensor.elem_type = ElemType.BYTES
        return tensor
    spec = _ENCODE.get(array.dtype)
    if spec is None and array.dtype.name == "bfloat16":  # ml_dtypes: Paddle's uint16 carrier
        array = array.view(np.uint16)
        spec = _ENCODE[array.dtype]
    if spec is None:
        raise TypeError(
            f"tensor {name!r}: dtype {array.dtype} has no Paddle Serving tensor field "
            f"(supported: {_supported_dtypes()}); pass use_tensor_bytes=True to send it as "
            "np.save bytes"
        )
    code, field = spec
    tensor.elem_type = code
    getattr(tensor, field).extend(array.ravel().tolist())
    return tensor


def _lod_array(tensor: Any) -> np.ndarray | None:
    if len(tensor.lod) == 0:
        return None
    if len(tensor.lod) % 2:
        raise CustomException(
            ErrorCode.INPUT_PARAMS_ERROR,
            f"tensor {tensor.name!r}: lod has {len(tensor.lod)} values, but it is read as a "
            "(2, -1) array and needs an even count",
        )
    return np.asarray(tensor.lod, dtype=np.int32).reshape(2, -1)


def tensor_to_value(tensor: Any, *, allow_pickle: bool = True) -> tuple[Any, np.ndarray | None]:
    """Decode a `Tensor` as Paddle Serving's RequestOp does: return `(value, lod)`.

    `value` is a `str` for STRING tensors and an `np.ndarray` otherwise; `lod` is the (2, -1)
    int32 array, or None when the tensor has no lod (always None for STRING). An empty `shape`
    gives a 0-d array for one value and a 1-d array otherwise (Paddle would fail on the latter).

    `allow_pickle` applies to BYTES tensors; True matches Paddle Serving, but unpickling data
    from the network runs arbitrary code, so servers facing untrusted clients should pass False.

    Raises CustomException: TYPE_ERROR for an unsupported elem_type, INPUT_PARAMS_ERROR when the
    data does not fit `shape`, the lod is malformed or the BYTES payload cannot be loaded.
    """
    code = tensor.elem_type
    name = tensor.name
    if code == ElemType.STRING:
        return "".join(tensor.str_data), None
    lod = _lod_array(tensor)
    if code == ElemType.BYTES:
        try:
            value = np.load(io.BytesIO(tensor.byte_data), allow_pickle=allow_pickle)
        except Exception as exc:  # np.load raises ValueError, OSError, EOFError, pickle errors
            raise CustomException(
                ErrorCode.INPUT_PARAMS_ERROR,
                f"tensor {name!r}: byte_data (elem_type 13) is not a loadable np.save payload "
                f"({type(exc).__name__}: {exc})",
            ) from exc
        return value, lod
    spec = NUMERIC_ELEM_TYPES.get(code)
    if spec is None:
        supported = ", ".join(str(int(c)) for c in (*NUMERIC_ELEM_TYPES, 12, 13))
        raise CustomException(
            ErrorCode.TYPE_ERROR,
            f"tensor {name!r}: elem_type {code} is not supported (supported codes: {supported}; "
            "COMPLEX64/COMPLEX128 are not supported by Paddle Serving either)",
        )
    dtype, field = spec
    data = getattr(tensor, field)
    shape = list(tensor.shape)
    count = len(data)
    if not shape:
        shape = [] if count == 1 else [count]
    if dtype == np.float32 or dtype == np.float64:
        value = np.array(data, dtype=dtype)
    else:  # astype wraps out-of-range values like Paddle Serving does
        value = np.array(data).astype(dtype)
    try:
        return value.reshape(shape), lod
    except ValueError:
        if -1 in shape:
            need = f"a multiple of {int(np.prod([d for d in shape if d != -1], dtype=np.int64))}"
        else:
            need = str(int(np.prod(shape, dtype=np.int64)))
        raise CustomException(
            ErrorCode.INPUT_PARAMS_ERROR,
            f"tensor {name!r}: shape {shape} needs {need} values, found {count} in {field} "
            f"(elem_type {int(code)} = {ElemType(code).name})",
        ) from None
