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


def _count(shape: list[int], where: str) -> int:
    if any(int(d) < 0 for d in shape):
        raise TensorError(f"{where}: shape {list(shape)} has a negative dimension")
    return int(np.prod([int(d) for d in shape], dtype=np.int64)) if shape else 1


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
    """Raw bytes (little-endian values; BYTES length-prefixed) -> array of `shape`."""
    count = _count(shape, where)
    kind = _numpy_type(datatype, where)
    if datatype == "BYTES":
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
        if len(items) != count:
            raise TensorError(f"{where}: {len(items)} BYTES elements for shape {list(shape)}")
        array = np.empty(len(items), dtype=np.object_)
        array[:] = items
        return array.reshape([int(d) for d in shape])
    dtype = np.dtype(kind).newbyteorder("<")
    if len(raw) != count * dtype.itemsize:
        raise TensorError(f"{where}: {len(raw)} bytes of {datatype} data for shape {list(shape)} "
                          f"(expected {count * dtype.itemsize})")
    return np.frombuffer(raw, dtype=dtype).astype(dtype.newbyteorder("="), copy=False) \
        .reshape([int(d) for d in shape])


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
    """A JSON `data` list (flat or nested, row-major) -> array of `shape`."""
    count = _count(shape, where)
    kind = _numpy_type(datatype, where)
    if not isinstance(data, list):
        data = [data]
    flat = np.asarray(data, dtype=np.object_).ravel() if datatype == "BYTES" else None
    try:
        if datatype == "BYTES":
            items = [_as_bytes(x) if isinstance(x, str | bytes) else None for x in flat]
            if any(x is None for x in items):
                raise TensorError(f"{where}: BYTES data must be strings")
            array = np.empty(len(items), dtype=np.object_)
            array[:] = items
        else:
            array = np.asarray(data, dtype=kind).ravel()
    except (TypeError, ValueError, OverflowError) as exc:
        raise TensorError(f"{where}: data is not {datatype}: {exc}") from None
    if array.size != count:
        raise TensorError(f"{where}: {array.size} values for shape {list(shape)}")
    return array.reshape([int(d) for d in shape])


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
