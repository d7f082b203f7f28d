"""JSON <-> `Request`/`Response` as Paddle Serving 0.9's grpc-gateway maps them
(`JSONPb{OrigName: true, EmitDefaults: true}`, see 3.2 of the fact sheet): unknown fields
ignored, int64 as numbers or strings, every response field present, bytes as base64."""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from generator.runtime.errors import cap_message
from generator.runtime.proto import Request

__all__ = ["JsonMappingError", "error_json", "request_from_json", "response_to_json",
           "tensor_to_json_dict"]


class JsonMappingError(ValueError):
    """The HTTP body is not valid JSON for a `Request`; the gateway answers 400 (code 3)."""


# ---------------------------------------------------------------------------------------------
# JSON -> Request (protojson / jsonpb rules: orig or lowerCamel names, int64 as number or string,
# bytes as base64, null means default, unknown fields ignored)
# ---------------------------------------------------------------------------------------------

_INT_RANGES = {
    "int32": (-(2**31), 2**31 - 1),
    "uint32": (0, 2**32 - 1),
    "int64": (-(2**63), 2**63 - 1),
}
_SPECIAL_FLOATS = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def _to_int(value: Any, kind: str, where: str) -> int:
    if isinstance(value, bool):
        raise JsonMappingError(f"{where}: expected an integer, got {json.dumps(value)}")
    if isinstance(value, int):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str):
        try:
            number = int(value.strip())
        except ValueError:
            try:
                as_float = float(value)
            except ValueError:
                as_float = math.nan
            if not as_float.is_integer():
                raise JsonMappingError(
                    f"{where}: expected an integer, got {json.dumps(value)}"
                ) from None
            number = int(as_float)
    else:
        raise JsonMappingError(f"{where}: expected an integer, got {json.dumps(value)}")
    low, high = _INT_RANGES[kind]
    if not low <= number <= high:
        raise JsonMappingError(f"{where}: {number} is out of range for {kind}")
    return number


def _to_float(value: Any, where: str) -> float:
    if isinstance(value, bool):
        raise JsonMappingError(f"{where}: expected a number, got {json.dumps(value)}")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        if value in _SPECIAL_FLOATS:
            return _SPECIAL_FLOATS[value]
        try:
            number = float(value)
        except ValueError:
            pass
        else:
            if math.isfinite(number):
                return number
    raise JsonMappingError(f"{where}: expected a number, got {json.dumps(value)}")


def _to_bool(value: Any, where: str) -> bool:
    if isinstance(value, bool):
        return value
    raise JsonMappingError(f"{where}: expected true or false, got {json.dumps(value)}")


def _to_str(value: Any, where: str) -> str:
    if isinstance(value, str):
        return value
    raise JsonMappingError(f"{where}: expected a string, got {json.dumps(value)}")


def _to_bytes(value: Any, where: str) -> bytes:
    text = _to_str(value, where)
    alphabet = b"-_" if ("-" in text or "_" in text) else b"+/"
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), altchars=alphabet, validate=True)
    except (binascii.Error, ValueError):
        raise JsonMappingError(f"{where}: byte_data is not valid base64") from None


_SCALAR_CONVERTERS: dict[str, Callable[[Any, str], Any]] = {
    "int32": lambda v, w: _to_int(v, "int32", w),
    "uint32": lambda v, w: _to_int(v, "uint32", w),
    "int64": lambda v, w: _to_int(v, "int64", w),
    "float": _to_float,
    "double": _to_float,
    "bool": _to_bool,
    "string": _to_str,
    "bytes": _to_bytes,
}

#: field name -> (kind, repeated) for the message fields handled by the mapper.
_TENSOR_FIELDS: dict[str, tuple[str, bool]] = {
    "int64_data": ("int64", True),
    "float_data": ("float", True),
    "int_data": ("int32", True),
    "float64_data": ("double", True),
    "uint32_data": ("uint32", True),
    "bool_data": ("bool", True),
    "complex64_data": ("float", True),
    "complex128_data": ("double", True),
    "str_data": ("string", True),
    "byte_data": ("bytes", False),
    "elem_type": ("int32", False),
    "shape": ("int32", True),
    "lod": ("int32", True),
    "name": ("string", False),
}
_REQUEST_FIELDS: dict[str, tuple[str, bool]] = {
    "key": ("string", True),
    "value": ("string", True),
    "tensors": ("Tensor", True),
    "name": ("string", False),
    "method": ("string", False),
    "logid": ("int64", False),
    "clientip": ("string", False),
}


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _aliases(fields: dict[str, tuple[str, bool]]) -> dict[str, str]:
    table = {name: name for name in fields}
    table.update({_camel(name): name for name in fields})
    return table


_TENSOR_ALIASES = _aliases(_TENSOR_FIELDS)
_REQUEST_ALIASES = _aliases(_REQUEST_FIELDS)


def _fill(
    message: Any,
    obj: Any,
    fields: dict[str, tuple[str, bool]],
    aliases: dict[str, str],
    where: str,
) -> None:
    if not isinstance(obj, dict):
        raise JsonMappingError(f"{where or 'body'}: expected a JSON object, got {json.dumps(obj)}")
    for json_name, value in obj.items():
        name = aliases.get(json_name)
        if name is None or value is None:  # unknown fields are ignored; null means default
            continue
        kind, repeated = fields[name]
        path = f"{where}.{name}" if where else name
        if not repeated:
            setattr(message, name, _SCALAR_CONVERTERS[kind](value, path))
            continue
        if not isinstance(value, list):
            raise JsonMappingError(f"{path}: expected a JSON array, got {json.dumps(value)}")
        container = getattr(message, name)
        if kind == "Tensor":
            for index, item in enumerate(value):
                _fill(container.add(), item, _TENSOR_FIELDS, _TENSOR_ALIASES, f"{path}[{index}]")
            continue
        try:  # fast path: values already of the right Python type
            container.extend(value)
        except (TypeError, ValueError):
            message.ClearField(name)
            convert = _SCALAR_CONVERTERS[kind]
            container = getattr(message, name)
            container.extend(convert(item, f"{path}[{i}]") for i, item in enumerate(value))


def _describe_json_error(exc: json.JSONDecodeError) -> str:
    return f"invalid JSON at line {exc.lineno} column {exc.colno} (char {exc.pos}): {exc.msg}"


def request_from_json(body: bytes) -> Any:
    """Parse an HTTP body into a `Request` the way grpc-gateway v1 does.

    An empty body gives an empty Request; unknown fields are ignored; `logid` and int64 values
    may be JSON numbers or strings; `byte_data` is base64. Raises JsonMappingError.
    """
    request = Request()
    if not body.strip():
        return request
    try:
        obj = json.loads(body)
    except json.JSONDecodeError as exc:
        raise JsonMappingError(_describe_json_error(exc)) from None
    except UnicodeDecodeError as exc:
        raise JsonMappingError(f"request body is not UTF-8 text: {exc}") from None
    except RecursionError:
        raise JsonMappingError("invalid JSON: nested too deeply") from None
    except ValueError as exc:  # e.g. an integer over sys.get_int_max_str_digits() digits
        raise JsonMappingError(f"invalid JSON: {exc}") from None
    if obj is None:
        return request
    try:
        _fill(request, obj, _REQUEST_FIELDS, _REQUEST_ALIASES, "")
    except JsonMappingError:
        raise
    except (ValueError, TypeError, RecursionError) as exc:
        # protobuf refuses e.g. strings with lone surrogates ("\ud800"): not valid UTF-8
        raise JsonMappingError(f"invalid value in the request: {exc}") from None
    return request


# ---------------------------------------------------------------------------------------------
# Response -> JSON (OrigName + EmitDefaults: every field present, int64 as strings)
# ---------------------------------------------------------------------------------------------


def _json_floats(values: Any, dtype: type) -> list[Any]:
    if len(values) == 0:
        return []
    array = np.asarray(values, dtype=dtype)
    out: list[Any] = []
    for item in array:
        if np.isfinite(item):
            # shortest text that round-trips at the field's precision, as Go's FormatFloat
            out.append(float(str(item)) if dtype is np.float32 else float(item))
        elif np.isnan(item):
            out.append("NaN")
        else:
            out.append("Infinity" if item > 0 else "-Infinity")
    return out


def tensor_to_json_dict(tensor: Any) -> dict[str, Any]:
    """Render a `Tensor` as grpc-gateway does: every field, in field-number order."""
    byte_data = tensor.byte_data
    return {
        "int64_data": [str(v) for v in tensor.int64_data],
        "float_data": _json_floats(tensor.float_data, np.float32),
        "int_data": list(tensor.int_data),
        "float64_data": _json_floats(tensor.float64_data, np.float64),
        "uint32_data": list(tensor.uint32_data),
        "bool_data": list(tensor.bool_data),
        "complex64_data": _json_floats(tensor.complex64_data, np.float32),
        "complex128_data": _json_floats(tensor.complex128_data, np.float64),
        "str_data": list(tensor.str_data),
        "byte_data": base64.b64encode(byte_data).decode("ascii") if byte_data else None,
        "elem_type": tensor.elem_type,
        "shape": list(tensor.shape),
        "lod": list(tensor.lod),
        "name": tensor.name,
    }


def response_to_json(response: Any) -> bytes:
    """Serialize a `Response` as the Paddle Serving HTTP gateway does (UTF-8 JSON bytes)."""
    document = {
        "err_no": response.err_no,
        "err_msg": response.err_msg,
        "key": list(response.key),
        "value": list(response.value),
        "tensors": [tensor_to_json_dict(t) for t in response.tensors],
    }
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode(
        "utf-8", "backslashreplace")


def error_json(code: int, message: str) -> bytes:
    """The grpc-gateway error body `{"error", "code", "message", "details"}` (the message cut
    to `errors.MESSAGE_LIMIT` characters)."""
    message = cap_message(message)
    document = {"error": message, "code": code, "message": message, "details": []}
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode(
        "utf-8", "backslashreplace")
