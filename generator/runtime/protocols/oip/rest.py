"""Open Inference Protocol REST endpoints (KServe v2) on the HTTP port, with the binary-tensor
extension (`Inference-Header-Content-Length`: a JSON header, then the raw tensor bytes).

    GET  /v2                                  server metadata
    GET  /v2/health/live | /v2/health/ready   200, or 400 (empty body)
    GET  /v2/models/{m}[/versions/{v}]        model metadata
    GET  /v2/models/{m}[/versions/{v}]/ready  200, or 400 (empty body)
    POST /v2/models/{m}[/versions/{v}]/infer  inference

Errors are `{"error": "<message>"}` with 400 (bad request), 404 (unknown model or path),
405, 413, 503 (not ready) or 500.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import numpy as np

from generator.runtime.errors import cap_message, shorten
from generator.runtime.protocols.http.app import TEXT, BodyError, HttpRequest, HttpResponse
from generator.runtime.protocols.oip.models import ModelRegistry, OipError
from generator.runtime.protocols.oip.tensors import (
    TensorError,
    datatype_of,
    decode_raw,
    encode_raw,
    from_json_data,
    to_json_data,
)
from generator.runtime.protocols.status import INVALID, METHOD_NOT_ALLOWED, NOT_FOUND, Status

HEADER_LENGTH = "inference-header-content-length"
Handler = Callable[[HttpRequest], HttpResponse]


def error(status: Status, message: str) -> HttpResponse:
    """The protocol's one error answer: `status.http` with `{"error": message}` (the message
    cut to `errors.MESSAGE_LIMIT` characters)."""
    return HttpResponse(status.http, json.dumps({"error": cap_message(message)},
                                                ensure_ascii=False).encode(
        "utf-8", "backslashreplace"))


def _json(document: Any) -> HttpResponse:
    return HttpResponse(200, json.dumps(document, separators=(",", ":")).encode())


def _status(ok: bool) -> HttpResponse:
    return HttpResponse(200 if ok else INVALID.http, b"", TEXT)


class OipRestRouter:
    """`http.app.Router` for the `/v2` endpoints of the registry's models."""

    def __init__(self, registry: ModelRegistry) -> None:
        self.registry = registry

    def body_error(self, exc: BodyError) -> HttpResponse:
        return error(exc.status, str(exc))

    def match(self, method: str, segments: list[str]) -> Handler | None:
        if not segments or segments[0] != "v2":
            return None
        rest = segments[1:]
        want = "GET"
        handler: Handler | None = None
        if rest in ([], [""]):
            handler = self._server_metadata
        elif rest in (["health", "live"], ["health", "ready"]):
            handler = self._health_live if rest[1] == "live" else self._health_ready
        elif len(rest) >= 2 and rest[0] == "models":
            name, version, tail = self._model_path(rest[1:])
            if tail == []:
                handler = lambda r: _json(self.registry.metadata(name, version))  # noqa: E731
            elif tail == ["ready"]:
                handler = lambda r: self._model_ready(name, version)  # noqa: E731
            elif tail == ["infer"]:
                want = "POST"
                handler = lambda r: self._infer(name, version, r)  # noqa: E731
        if handler is None:
            return lambda r: error(NOT_FOUND, f"no such endpoint: {shorten(r.method)} "
                                              f"{shorten(r.path, 200)}")
        if method != want and not (want == "GET" and method == "HEAD"):
            return lambda r: error(METHOD_NOT_ALLOWED, f"{shorten(r.path, 200)} takes {want}, "
                                                       f"not {shorten(r.method)}")
        return self._guard(handler)

    @staticmethod
    def _model_path(parts: list[str]) -> tuple[str, str, list[str] | None]:
        name, tail = parts[0], parts[1:]
        version = ""
        if len(tail) >= 2 and tail[0] == "versions":
            version, tail = tail[1], tail[2:]
        return name, version, tail

    @staticmethod
    def _guard(handler: Handler) -> Handler:
        def run(request: HttpRequest) -> HttpResponse:
            try:
                return handler(request)
            except OipError as exc:
                return error(exc.status, str(exc))
            except TensorError as exc:
                return error(INVALID, str(exc))

        return run

    # -- endpoints ----------------------------------------------------------------------------
    def _server_metadata(self, request: HttpRequest) -> HttpResponse:
        return _json({"name": self.registry.server_name, "version": self.registry.version,
                      "extensions": self.registry.extensions})

    def _health_live(self, request: HttpRequest) -> HttpResponse:
        return _status(self.registry.live())

    def _health_ready(self, request: HttpRequest) -> HttpResponse:
        return _status(self.registry.ready())

    def _model_ready(self, name: str, version: str) -> HttpResponse:
        return _status(self.registry.get(name, version).ready())

    def _infer(self, name: str, version: str, request: HttpRequest) -> HttpResponse:
        self.registry.get(name, version)  # 404 before parsing the body
        header, binary = self._split(request)
        inputs = self._inputs(header, binary)
        params = _object(header, "parameters", "the request")
        binary_default = _flag(params, "binary_data_output", "the request's parameters")
        wanted, binary_by_name = self._requested(header.get("outputs"), binary_default)
        if "id" in header and not isinstance(header["id"], str):
            raise OipError(INVALID, "'id' must be a string")
        results = self.registry.infer(name, version, inputs, wanted)
        outputs, chunks = [], []
        for out_name, array in results.items():
            array = np.asarray(array)
            datatype = datatype_of(array)
            entry: dict[str, Any] = {"name": out_name, "datatype": datatype,
                                     "shape": list(array.shape)}
            if binary_by_name.get(out_name, binary_default):
                data = encode_raw(array, datatype)
                entry["parameters"] = {"binary_data_size": len(data)}
                chunks.append(data)
            else:
                entry["data"] = to_json_data(array, datatype)
            outputs.append(entry)
        document = {"model_name": name, "model_version": version or "1", "outputs": outputs}
        if "id" in header:
            document["id"] = header["id"]
        head = json.dumps(document, separators=(",", ":")).encode()
        if not chunks:
            return HttpResponse(200, head)
        return HttpResponse(200, head + b"".join(chunks), "application/octet-stream",
                            [("Inference-Header-Content-Length", str(len(head)))])

    @staticmethod
    def _requested(requested: Any, binary_default: bool) -> tuple[list[str] | None,
                                                                   dict[str, bool]]:
        """`outputs`: the names asked for (None: all) and whether each is sent binary."""
        if requested is None:
            return None, {}
        if not isinstance(requested, list):
            raise OipError(INVALID, "'outputs' must be a list of objects")
        binary_by_name: dict[str, bool] = {}
        for index, item in enumerate(requested):
            where = f"outputs[{index}]"
            if not isinstance(item, dict) or not isinstance(item.get("name"), str):
                raise OipError(INVALID, f"{where} must be an object with a string 'name'")
            name = item["name"]
            if name in binary_by_name:
                raise OipError(INVALID, f"output '{shorten(name)}' is asked for twice")
            params = _object(item, "parameters", where)
            binary_by_name[name] = _flag(params, "binary_data", f"{where}.parameters",
                                         binary_default)
        return list(binary_by_name) or None, binary_by_name

    @staticmethod
    def _split(request: HttpRequest) -> tuple[dict, bytes]:
        body = request.body
        length_text = request.headers.get(HEADER_LENGTH)
        if length_text is not None:
            try:
                length = int(length_text)
            except ValueError:
                raise OipError(INVALID, f"invalid Inference-Header-Content-Length "
                                        f"{shorten(length_text)!r}") from None
            if not 0 <= length <= len(body):
                raise OipError(INVALID, f"Inference-Header-Content-Length {length} is outside "
                                        f"the body of {len(body)} bytes")
            body, binary = body[:length], body[length:]
        else:
            binary = b""
        try:
            header = json.loads(body)
        except (ValueError, RecursionError) as exc:
            raise OipError(INVALID, f"the request is not valid JSON: {exc}") from None
        if not isinstance(header, dict):
            raise OipError(INVALID, "the request must be a JSON object")
        return header, binary

    @staticmethod
    def _inputs(header: dict, binary: bytes) -> dict[str, np.ndarray]:
        items = header.get("inputs")
        if not isinstance(items, list) or not items:
            raise OipError(INVALID, "the request has no 'inputs' list")
        inputs: dict[str, np.ndarray] = {}
        offset = 0
        for index, item in enumerate(items):
            if not isinstance(item, dict):
                raise OipError(INVALID, f"inputs[{index}] must be an object")
            name, datatype, shape = item.get("name"), item.get("datatype"), item.get("shape")
            if not isinstance(name, str) or not isinstance(datatype, str) or not isinstance(
                    shape, list):
                raise OipError(INVALID, f"inputs[{index}] needs a string 'name' and 'datatype' "
                                        "and a 'shape' list")
            where = f"input '{shorten(name)}'"
            if name in inputs:
                raise OipError(INVALID, f"{where} is given twice")
            params = _object(item, "parameters", where)
            size = params.get("binary_data_size")
            if size is not None:
                if isinstance(size, bool) or not isinstance(size, int) or size < 0 \
                        or offset + size > len(binary):
                    raise OipError(INVALID, f"{where}: binary_data_size {shorten(size)} is outside "
                                            f"the {len(binary) - offset} binary bytes left")
                inputs[name] = decode_raw(datatype, shape, binary[offset:offset + size], where)
                offset += size
            elif "data" in item:
                inputs[name] = from_json_data(datatype, shape, item["data"], where)
            else:
                raise OipError(INVALID, f"{where} has neither 'data' nor binary_data_size")
        if offset != len(binary):
            raise OipError(INVALID, f"{len(binary) - offset} binary bytes not claimed by any "
                                    "input's binary_data_size")
        return inputs


def _object(document: dict, key: str, where: str) -> dict:
    """`document[key]` when it is an object, {} when absent; anything else is a 400."""
    value = document.get(key)
    if value is None and key not in document:
        return {}
    if not isinstance(value, dict):
        raise OipError(INVALID, f"{where}: '{key}' must be a JSON object, not "
                                f"{_json_type(value)}")
    return value


def _flag(params: dict, key: str, where: str, default: bool = False) -> bool:
    """A boolean parameter: JSON true/false only (the string "false" is an error, not true)."""
    value = params.get(key, default)
    if not isinstance(value, bool):
        raise OipError(INVALID, f"{where}: '{key}' must be true or false, not "
                                f"{shorten(json.dumps(value))}")
    return value


def _json_type(value: Any) -> str:
    return {bool: "a boolean", str: "a string", list: "an array", int: "a number",
            float: "a number", type(None): "null"}.get(type(value), type(value).__name__)
