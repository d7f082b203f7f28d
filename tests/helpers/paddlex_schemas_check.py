"""Build requests with, and check answers against, the pydantic schemas of PaddleX's basic
serving. Runs INSIDE the PaddleX side venv, standalone (imports nothing from this repository):
`python paddlex_schemas_check.py JOB.json OUT.json`.

JOB: {"build": [{"schema": "object_detection", "fields": {...}}, ...],
      "check": [{"schema": "ocr", "status": 200, "body": {...}}, ...]}
OUT: {"built": [<the request JSON, nulls left out>, ...],
      "checked": [null (valid) or "<the validation error>", ...]}
A 200 body is checked as `AIStudioResultResponse[InferResult]` of the schema's module, any other
status as `AIStudioNoResultResponse` with `errorCode` equal to the status.
"""

from __future__ import annotations

import importlib
import json
import sys
from typing import Any


def _module(name: str) -> Any:
    return importlib.import_module(f"paddlex.inference.serving.schemas.{name}")


def build(item: dict[str, Any]) -> dict[str, Any]:
    model = _module(item["schema"]).InferRequest(**item["fields"])
    return json.loads(model.model_dump_json(exclude_none=True))


def check(item: dict[str, Any]) -> str | None:
    from paddlex.inference.serving.infra.models import (
        AIStudioNoResultResponse,
        AIStudioResultResponse,
    )
    from pydantic import ValidationError

    try:
        if item["status"] == 200:
            result_type = _module(item["schema"]).InferResult
            AIStudioResultResponse[result_type].model_validate(item["body"])
        else:
            answer = AIStudioNoResultResponse.model_validate(item["body"])
            if answer.errorCode != item["status"]:
                return f"errorCode {answer.errorCode} != HTTP status {item['status']}"
    except ValidationError as exc:
        return str(exc)
    return None


def main(job_path: str, out_path: str) -> None:
    with open(job_path, encoding="utf-8") as f:
        job = json.load(f)
    out = {"built": [build(i) for i in job.get("build", [])],
           "checked": [check(i) for i in job.get("check", [])]}
    with open(out_path, "w", encoding="utf-8") as f:
        json.dump(out, f)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
