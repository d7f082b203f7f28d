"""OpenAPI paths of PaddleX's API for a task: the request schema is the pydantic model's own
JSON schema; the result, PaddleX's fields (see `results`)."""

from __future__ import annotations

from typing import Any

from generator.runtime.protocols.paddlex.schemas import ENDPOINTS

TAG = "PaddleX basic serving API"
_NUMBER = {"type": "number"}
_INT = {"type": "integer"}
_BBOX = {"type": "array", "items": _NUMBER, "minItems": 4, "maxItems": 4}

#: task -> the JSON schema of `result`
RESULTS: dict[str, dict[str, Any]] = {
    "detection": {"type": "object", "required": ["detectedObjects"], "properties": {
        "detectedObjects": {"type": "array", "items": {
            "type": "object", "required": ["bbox", "categoryId", "categoryName", "score"],
            "properties": {"bbox": _BBOX, "categoryId": _INT,
                           "categoryName": {"type": "string"}, "score": _NUMBER}}},
        "image": {"type": "string", "description": "visualize: the drawn JPEG, base64"}}},
    "classification": {"type": "object", "required": ["categories"], "properties": {
        "categories": {"type": "array", "items": {
            "type": "object", "required": ["id", "name", "score"],
            "properties": {"id": _INT, "name": {"type": "string"}, "score": _NUMBER}}},
        "image": {"type": "string"}}},
    "segmentation": {"type": "object", "required": ["labelMap", "size"], "properties": {
        "labelMap": {"type": "array", "items": _INT, "description": "row-major class ids"},
        "size": {"type": "array", "items": _INT, "description": "[height, width]"},
        "image": {"type": "string"}}},
    "ocr": {"type": "object", "required": ["ocrResults", "dataInfo"], "properties": {
        "ocrResults": {"type": "array", "items": {
            "type": "object", "required": ["prunedResult"], "properties": {
                "prunedResult": {"type": "object", "description": (
                    "PaddleX's OCR result: model_settings, dt_polys, text_det_params, "
                    "text_type, textline_orientation_angles, text_rec_score_thresh, "
                    "return_word_box, rec_texts, rec_scores, rec_polys, rec_boxes")},
                "ocrImage": {"type": "string"}, "inputImage": {"type": "string"}}}},
        "dataInfo": {"type": "object", "properties": {
            "width": _INT, "height": _INT, "type": {"const": "image"}}}}},
}
_ERROR = {"type": "object", "required": ["logId", "errorCode", "errorMsg"], "properties": {
    "logId": {"type": "string"}, "errorCode": _INT, "errorMsg": {"type": "string"}}}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def openapi_paths(task: str | None) -> dict[str, Any]:
    """`POST <endpoint>` of the task and `GET /health`; nothing for other tasks."""
    if task not in ENDPOINTS:
        return {}
    path, model = ENDPOINTS[task]
    field = "file" if task == "ocr" else "image"
    example: dict[str, Any] = {field: "<base64 of an image file>", "visualize": False}
    if task == "ocr":
        example["fileType"] = 1
    answer = {"type": "object", "required": ["logId", "errorCode", "errorMsg", "result"],
              "properties": {"logId": {"type": "string"}, "errorCode": {"const": 0},
                             "errorMsg": {"const": "Success"}, "result": RESULTS[task]}}
    return {
        path: {"post": {
            "tags": [TAG], "summary": f"PaddleX's {path} endpoint",
            "description": f"`{field}`: the base64 of an image file (URLs are not fetched). "
                           "`visualize: true` adds the drawn image(s) (JPEG, base64).",
            "requestBody": {"content": {"application/json": {
                "schema": model.model_json_schema(), "example": example}}},
            "responses": {"200": _json(answer, "the result"),
                          "405": _json(_ERROR, "not POST"),
                          "413": _json(_ERROR, "body too large"),
                          "422": _json(_ERROR, "invalid body or input"),
                          "500": _json(_ERROR, "the pipeline failed"),
                          "503": _json(_ERROR, "not ready")}}},
        "/health": {"get": {"tags": [TAG], "summary": "PaddleX's health check",
                            "responses": {"200": _json(_ERROR, "errorCode 0, Healthy")}}},
    }
