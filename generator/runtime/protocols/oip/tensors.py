"""Open Inference Protocol (KServe v2) tensors <-> numpy: datatypes, the raw little-endian
encoding of `raw_input_contents` and of the HTTP binary-tensor extension (BYTES elements as a
4-byte little-endian length then the bytes), JSON `data` lists and gRPC `InferTensorContents`.

Written here because the protocol's only Python implementations are client libraries
(tritonclient) or whole servers (Triton, KServe, MLServer); the encoding is a few lines.
"""

from __future__ import annotations

import base64
import struct
from typing import Any

import numpy as np

#: OIP datatype -> numpy dtype (BYTES is an object array of `bytes`).
DATATYPES: dict[str, Any] = {
    "BOOL": np.bool_, "UINT8": np.uint8, "UINT16": np.uint16, "UINT32": np.uint32,
    "UINT64": np.uint64, "INT8": np.int8, "INT16": np.int16, "INT32": np.int32,
    "INT64": np.int64, "FP16": np.float16, "FP32": np.float32, "FP64": np.float64,
    "BYTES": np.object_,
}
_BY_DTYPE = {np.dtype(v).str: k for k, v in DATATYPES.items() if k != "BYTES"}

#: OIP datatype -> the `InferTensorContents` field that carries it over gRPC.
CONTENTS_FIELD = {
    "BOOL": "bool_contents", "INT8": "int_contents", "INT16": "int_contents",
    "INT32": "int_contents", "INT64": "int64_contents", "UINT8": "uint_contents",
    "UINT16": "uint_contents", "UINT32": "uint_contents", "UINT64": "uint64_contents",
    "FP32": "fp32_contents", "FP64": "fp64_contents", "BYTES": "bytes_contents",
}


class TensorError(ValueError):
    """A tensor does not match its declared datatype or shape (a client error)."""


def datatype_of(array: np.ndarray) -> str:
    """The OIP datatype of a numpy array (object and string arrays are BYTES)."""
    if array.dtype.kind in "OSU":
        return "BYTES"
    try:
        return _BY_DTYPE[array.dtype.newbyteorder("<").str if array.dtype.byteorder == ">"
                         else array.dtype.str]
    except KeyError:
        raise TensorError(f"numpy dtype {array.dtype} has no Open Inference Protocol datatype") \
            from None


def element_count(shape: list[int], where: str) -> int:
    """The number of elements of `shape`, in Python integers (no int64 wrap-around); every
    dimension must be a non-negative integer."""
    count = 1
    for dim in shape:
        if isinstance(dim, bool) or not isinstance(dim, int | np.integer):
            raise TensorError(f"{where}: shape {_short(shape)} must be a list of integers")
        if dim < 0:
            raise TensorError(f"{where}: shape {_short(shape)} has a negative dimension")
        count *= int(dim)
    return count


def _short(shape: list[Any]) -> str:
    text = str(list(shape))
    return text if len(text) <= 80 else f"{text[:77]}..."


def _reshape(array: np.ndarray, shape: list[int], where: str) -> np.ndarray:
    try:
        return array.reshape([int(d) for d in shape])
    except (ValueError, OverflowError):  # e.g. [0, 2**62]: no such numpy array
        raise TensorError(f"{where}: shape {_short(shape)} is too large") from None


#: Python types a JSON (or gRPC contents) element may have, by datatype family
_JSON_TYPES: dict[str, tuple[type, ...]] = {"BOOL": (bool,), "BYTES": (str, bytes),
                                            "INT": (int,), "FP": (int, float)}


def _family(datatype: str) -> str:
    return "FP" if datatype.startswith("FP") else "INT" if "INT" in datatype else datatype


def _flatten(data: Any, datatype: str, count: int, where: str) -> list[Any]:
    """Row-major elements of a flat or nested `data` list, each of the datatype's JSON type
    (no booleans as numbers, no strings or nulls as floats); stops past `count` elements."""
    allowed = _JSON_TYPES[_family(datatype)]
    flat: list[Any] = []
    stack = [iter(data if isinstance(data, list) else [data])]
    while stack:
        item = next(stack[-1], _END)
        if item is _END:
            stack.pop()
        elif isinstance(item, list | tuple):
            stack.append(iter(item))
        elif isinstance(item, allowed) and not (isinstance(item, bool) and bool not in allowed):
            flat.append(item)
            if len(flat) > count:
                raise TensorError(f"{where}: more values than the {count} of its shape")
        else:
            raise TensorError(f"{where}: {datatype} data holds {_kind(item)}; send "
                              f"{_WANT[_family(datatype)]}")
    return flat


_END = object()
_WANT = {"BOOL": "JSON booleans (true/false)", "BYTES": "strings", "INT": "JSON integers",
         "FP": "JSON numbers"}


def _kind(item: Any) -> str:
    if item is None:
        return "null"
    if isinstance(item, bool):
        return f"the boolean {str(item).lower()}"
    if isinstance(item, str):
        return f"the string {item[:20]!r}" + ("..." if len(item) > 20 else "")
    if isinstance(item, int | float):
        return f"the number {str(item)[:24]}"
    return "an object" if isinstance(item, dict) else f"a {type(item).__name__}"


def _numpy_type(datatype: str, where: str) -> Any:
    try:
        return DATATYPES[datatype]
    except KeyError:
        raise TensorError(f"{where}: unsupported datatype {datatype!r}; use one of "
                          f"{', '.join(DATATYPES)}") from None


def _as_bytes(item: Any) -> bytes:
    if isinstance(item, bytes):
        return item
    if isinstance(item, str):
        return item.encode("utf-8")
    if isinstance(item, np.ndarray | np.generic):
        return item.tobytes()
    return str(item).encode("utf-8")


def decode_raw(datatype: str, shape: list[int], raw: bytes, where: str) -> np.ndarray:
    """Raw bytes (little-endian values; BYTES length-prefixed) -> array of `shape`. The
    element count is checked against the bytes sent before anything is allocated."""
    count = element_count(shape, where)
    kind = _numpy_type(datatype, where)
    if datatype == "BYTES":
        if count > len(raw) // 4:  # each element has a 4-byte length
            raise TensorError(f"{where}: {len(raw)} bytes cannot hold the {count} BYTES "
                              f"elements of shape {_short(shape)}")
        items: list[bytes] = []
        offset = 0
        while offset < len(raw):
            if offset + 4 > len(raw):
                raise TensorError(f"{where}: BYTES data ends inside an element length")
            (size,) = struct.unpack_from("<I", raw, offset)
            offset += 4
            if offset + size > len(raw):
                raise TensorError(f"{where}: BYTES element of {size} bytes runs past the data")
            items.append(bytes(raw[offset:offset + size]))
            offset += size
            if len(items) > count:
                break
        if len(items) != count:
            raise TensorError(f"{where}: BYTES data holds other than the {count} elements of "
                              f"shape {_short(shape)}")
        array = np.empty(len(items), dtype=np.object_)
        array[:] = items
        return _reshape(array, shape, where)
    dtype = np.dtype(kind).newbyteorder("<")
    if len(raw) != count * dtype.itemsize:
        raise TensorError(f"{where}: {len(raw)} bytes of {datatype} data for shape {_short(shape)} "
                          f"(expected {count * dtype.itemsize})")
    return _reshape(np.frombuffer(raw, dtype=dtype).astype(dtype.newbyteorder("="), copy=False),
                    shape, where)


def encode_raw(array: np.ndarray, datatype: str) -> bytes:
    """Array -> raw bytes (the inverse of `decode_raw`)."""
    if datatype == "BYTES":
        parts = []
        for item in np.asarray(array, dtype=np.object_).ravel():
            data = _as_bytes(item)
            parts += [struct.pack("<I", len(data)), data]
        return b"".join(parts)
    dtype = np.dtype(DATATYPES[datatype]).newbyteorder("<")
    return np.ascontiguousarray(array, dtype=dtype).tobytes()


def from_json_data(datatype: str, shape: list[int], data: Any, where: str) -> np.ndarray:
    """A JSON `data` list (flat or nested, row-major) -> array of `shape`; every element must
    be of the datatype's JSON type (see `_flatten`) and in its range."""
    count = element_count(shape, where)
    kind = _numpy_type(datatype, where)
    flat = _flatten(data, datatype, count, where)
    if len(flat) != count:
        raise TensorError(f"{where}: {len(flat)} values for shape {_short(shape)}")
    try:
        if datatype == "BYTES":
            array = np.empty(len(flat), dtype=np.object_)
            array[:] = [_as_bytes(x) for x in flat]
        else:
            with np.errstate(over="raise"):
                array = np.asarray(flat, dtype=kind)
    except (TypeError, ValueError, OverflowError, FloatingPointError) as exc:
        raise TensorError(f"{where}: data is not {datatype}: {exc}") from None
    return _reshape(array, shape, where)


def to_json_data(array: np.ndarray, datatype: str) -> list[Any]:
    """Array -> flat JSON list (BYTES as UTF-8 text, or base64 when not UTF-8)."""
    if datatype == "BYTES":
        out = []
        for item in np.asarray(array, dtype=np.object_).ravel():
            data = _as_bytes(item)
            try:
                out.append(data.decode("utf-8"))
            except UnicodeDecodeError:
                out.append(base64.b64encode(data).decode("ascii"))
        return out
    flat = np.asarray(array).ravel()
    if datatype in ("FP16", "FP32", "FP64"):
        return [float(x) for x in flat]
    if datatype == "BOOL":
        return [bool(x) for x in flat]
    return [int(x) for x in flat]


def from_contents(datatype: str, shape: list[int], contents: Any, where: str) -> np.ndarray:
    """gRPC `InferTensorContents` -> array of `shape`."""
    field = CONTENTS_FIELD.get(datatype)
    if field is None:
        _numpy_type(datatype, where)
        raise TensorError(f"{where}: {datatype} must be sent in raw_input_contents")
    return from_json_data(datatype, shape, list(getattr(contents, field)), where)
