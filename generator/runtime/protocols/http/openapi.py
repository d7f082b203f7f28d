"""OpenAPI 3.1 description of a service's HTTP endpoints: Paddle Serving's
`POST /{name}/prediction` (with the service's request keys and results), the Open Inference
Protocol's `/v2` endpoints for each of its models (with their inputs and outputs) and, for the
tasks PaddleX serves, PaddleX's endpoint and `/health` (`protocols.paddlex.openapi`).

The document is built from the service's own metadata at start-up (no framework generates it:
the endpoints are not declared through one).
"""

from __future__ import annotations

from typing import Any

from generator.runtime.protocols.paddlex.openapi import TAG as PADDLEX_TAG
from generator.runtime.protocols.paddlex.openapi import openapi_paths

_ERROR = {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}}
_GATEWAY_ERROR = {"type": "object", "properties": {
    "error": {"type": "string"}, "code": {"type": "integer"}, "message": {"type": "string"},
    "details": {"type": "array", "items": {}}}}
_TENSOR_META = {"type": "object", "required": ["name", "datatype", "shape"], "properties": {
    "name": {"type": "string"}, "datatype": {"type": "string"},
    "shape": {"type": "array", "items": {"type": "integer"}}}}
_INFER_TENSOR = {"type": "object", "required": ["name", "datatype", "shape"], "properties": {
    "name": {"type": "string"}, "datatype": {"type": "string"},
    "shape": {"type": "array", "items": {"type": "integer"}},
    "parameters": {"type": "object", "description": "binary_data_size: the tensor's bytes "
                   "follow the JSON header (binary-tensor extension)"},
    "data": {"type": "array", "items": {}, "description": "row-major values"}}}


def _json_body(schema: dict, example: Any = None) -> dict:
    """A JSON request body."""
    content: dict[str, Any] = {"schema": schema}
    if example is not None:
        content["example"] = example
    return {"content": {"application/json": content}}


def _reply(description: str, schema: dict, example: Any = None) -> dict:
    """A JSON response (OpenAPI requires every response to have a `description`)."""
    return {"description": description, **_json_body(schema, example)}


def _status_only(summary: str, tag: str) -> dict:
    return {"get": {"tags": [tag], "summary": summary, "responses": {
        "200": {"description": "true"}, "400": {"description": "false"}}}}


#: what a task's answer holds (the JSON text of each image key), where the key names do not say
TASK_ANSWERS = {
    "ocr": 'the text lines found, in reading order (top to bottom, then left to right): '
           '`[{"text": str, "score": float, "poly": [[x, y], [x, y], [x, y], [x, y]]}]`, '
           'the corners (top-left, top-right, bottom-right, bottom-left) in original image '
           'pixels, `score` the recognition confidence',
    "text_detection": 'the text regions found: `[{"poly": [[x, y], [x, y], [x, y], [x, y]], '
                      '"score": float}]`, quadrilaterals in original image pixels',
    "text_recognition": 'the text of the line image: `{"text": str, "score": float}`',
    "textline_orientation": 'the orientation of the line image: `{"label": "0_degree" | '
                            '"180_degree", "angle": 0 | 180, "score": float}`',
}


def _paddle_paths(name: str, inputs: list[Any], outputs: list[Any], task: str | None) -> dict:
    keys = [s.name for s in inputs] or ["<key>"]
    described = ", ".join(
        f"`{s.name}`: " + ("the base64 of an encoded image file (several images: "
                            f"`{s.name}_0` .. `{s.name}_N`)" if s.base64 else f"{s.datatype} text")
        for s in inputs) or "the keys the service's Ops read"
    results = ", ".join(f"`{s.name}`" for s in outputs) or "the service's result keys"
    if task in TASK_ANSWERS:
        results += f", each {TASK_ANSWERS[task]}"
    request = {"type": "object", "properties": {
        "key": {"type": "array", "items": {"type": "string"}},
        "value": {"type": "array", "items": {"type": "string"}},
        "logid": {"type": ["integer", "string"]},
        "tensors": {"type": "array", "items": {"type": "object"}}}}
    response = {"type": "object", "required": ["err_no", "err_msg", "key", "value", "tensors"],
                "properties": {"err_no": {"type": "integer", "description": "0: success"},
                               "err_msg": {"type": "string"},
                               "key": {"type": "array", "items": {"type": "string"}},
                               "value": {"type": "array", "items": {"type": "string"},
                                         "description": "JSON text per key"},
                               "tensors": {"type": "array", "items": {"type": "object"}}}}
    tag = "Paddle Serving protocol"
    return {
        f"/{name}/prediction": {"post": {
            "tags": [tag], "summary": f"Run the {task or 'service'} pipeline",
            "description": f"Request keys: {described}. Response values (JSON text): "
                           f"{results}. Application errors are 200 with `err_no` != 0.",
            "requestBody": _json_body(request, {"key": keys, "value": ["<base64>"] * len(keys)}),
            "responses": {"200": _reply("the pipeline's answer", response),
                          "400": _reply("malformed JSON", _GATEWAY_ERROR),
                          "413": _reply("body too large", _GATEWAY_ERROR)}}},
        "/health/live": {"get": {"tags": [tag], "summary": "Liveness",
                                 "responses": {"200": {"description": "alive"}}}},
        "/health/ready": {"get": {"tags": [tag], "summary": "Readiness", "responses": {
            "200": {"description": "ready"}, "503": {"description": "starting or draining"}}}},
        "/metrics": {"get": {"tags": [tag], "summary": "Prometheus metrics",
                             "responses": {"200": {"description": "text exposition"}}}},
    }


def _oip_paths(models: list[Any]) -> dict:
    tag = "Open Inference Protocol (v2)"
    paths: dict[str, Any] = {
        "/v2": {"get": {"tags": [tag], "summary": "Server metadata", "responses": {
            "200": _reply("the server's name, version and extensions", {
                "type": "object", "properties": {
                    "name": {"type": "string"}, "version": {"type": "string"},
                    "extensions": {"type": "array", "items": {"type": "string"}}}})}}},
        "/v2/health/live": _status_only("Server live", tag),
        "/v2/health/ready": _status_only("Server ready", tag),
    }
    for model in models:
        inputs = [s.metadata() for s in model.inputs]
        outputs = [s.metadata() for s in model.outputs]
        base = f"/v2/models/{model.name}"
        meta = {"name": model.name, "versions": ["1"], "platform": model.platform,
                "inputs": inputs, "outputs": outputs}
        example_inputs = [{**spec, "shape": [1 if d < 0 else d for d in spec["shape"]],
                           "data": ["..."]} for spec in inputs]
        paths[base] = {"get": {"tags": [tag], "summary": f"Metadata of {model.name}",
                               "responses": {"200": _reply("the model's metadata",
                                                           {"type": "object"}, meta),
                                             "404": _reply("unknown model", _ERROR)}}}
        paths[f"{base}/ready"] = _status_only(f"{model.name} ready", tag)
        described = "; ".join(f"`{s['name']}` {s['datatype']} {s['shape']}" for s in inputs)
        paths[f"{base}/infer"] = {"post": {
            "tags": [tag], "summary": f"Infer with {model.name}",
            "description": f"Inputs: {described or 'any'}. Outputs: "
                           + ("; ".join(f"`{s['name']}` {s['datatype']}" for s in outputs)
                              or "the service's result keys, BYTES")
                           + ". With header `Inference-Header-Content-Length: N`, the first N "
                             "bytes are the JSON and binary tensors follow.",
            "requestBody": _json_body({"type": "object", "required": ["inputs"], "properties": {
                "id": {"type": "string"}, "parameters": {"type": "object"},
                "inputs": {"type": "array", "items": _INFER_TENSOR},
                "outputs": {"type": "array", "items": {"type": "object"}}}},
                {"inputs": example_inputs}),
            "responses": {
                "200": _reply("the outputs", {"type": "object", "properties": {
                    "model_name": {"type": "string"}, "model_version": {"type": "string"},
                    "id": {"type": "string"},
                    "outputs": {"type": "array", "items": _INFER_TENSOR}}}),
                "400": _reply("bad input", _ERROR),
                "404": _reply("unknown model", _ERROR),
                "503": _reply("not ready", _ERROR)}}}
    return paths


def openapi_document(name: str, version: str, models: list[Any], task: str | None = None) -> dict:
    """The OpenAPI document of service `name`; `models[0]` is the pipeline model `{name}`."""
    service = models[0] if models else None
    paths = _paddle_paths(name, service.inputs if service else [],
                          service.outputs if service else [], task)
    paths.update(_oip_paths(models))
    paths.update(openapi_paths(task))
    paths["/openapi.json"] = {"get": {"summary": "This document",
                                      "responses": {"200": {"description": "OpenAPI 3.1"}}}}
    paths["/docs"] = {"get": {"summary": "This document, rendered",
                              "responses": {"200": {"description": "HTML"}}}}
    paths["/"] = {"get": {"summary": "A page to try the model on an image",
                          "responses": {"200": {"description": "HTML"}}}}
    return {
        "openapi": "3.1.0",
        "info": {"title": f"{name} ({task or 'service'})", "version": version,
                 "description": f"Service `{name}`: Paddle Serving's HTTP/JSON protocol, the "
                                f"Open Inference Protocol (models "
                                + ", ".join(f"`{m.name}`" for m in models) + ")"
                                + (" and PaddleX's basic-serving API" if openapi_paths(task)
                                   else "") + "."},
        "tags": [{"name": "Paddle Serving protocol"}, {"name": "Open Inference Protocol (v2)"},
                 *([{"name": PADDLEX_TAG}] if openapi_paths(task) else [])],
        "paths": paths,
        "x-service": {"name": name, "task": task},
    }
