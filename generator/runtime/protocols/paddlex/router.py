"""PaddleX basic serving's HTTP API on our HTTP port (an `http.app.Router`).

    GET  /health                 {"logId", "errorCode": 0, "errorMsg": "Healthy"}
    POST /ocr | /object-detection | /image-classification | /semantic-segmentation
                                 the service's task only; {"logId", "errorCode": 0,
                                 "errorMsg": "Success", "result": {...}}

Failures answer PaddleX's envelope `{"logId", "errorCode": <HTTP status>, "errorMsg"}` with
that status: 422 for a body its schema refuses (`errorMsg` the JSON list of `{"type", "loc",
"msg"}` PaddleX gives), and for an input that cannot be used (not an image, a URL: this
build fetches nothing, a PDF, an option the service does not offer); 405, 413, 503 (not
ready), 500. The image goes to the same pipeline as `POST /{name}/prediction`, as `image`.
`visualize: true` adds the drawn images (`visualize`); absent or false, they are left out
(PaddleX leaves out null fields), as `paddlex --serve` does with `Serving.visualize: false`.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import uuid
from collections.abc import Callable
from typing import Any

import pydantic

from generator.runtime.errors import ErrorCode
from generator.runtime.proto import Request
from generator.runtime.protocols.http.app import BodyError, HttpRequest, HttpResponse
from generator.runtime.protocols.paddlex import results, visualize
from generator.runtime.protocols.paddlex.schemas import ENDPOINTS
from generator.runtime.protocols.status import INTERNAL, METHOD_NOT_ALLOWED, for_error_code

__all__ = ["PaddleXRouter", "UNPROCESSABLE", "paddlex_path"]

Handler = Callable[[HttpRequest], HttpResponse]
#: PaddleX's status for a body or input it cannot use (FastAPI's validation status)
UNPROCESSABLE = 422
#: the OCR options a service answers with its own fixed settings (request value -> setting)
_OCR_FIXED = {"textDetLimitSideLen": "limit_side_len", "textDetLimitType": "limit_type",
              "textDetThresh": "thresh", "textDetBoxThresh": "box_thresh",
              "textDetUnclipRatio": "unclip_ratio"}


class PaddleXError(Exception):
    """A request answered with PaddleX's error envelope: `status` and `message`."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def paddlex_path(task: str | None) -> str | None:
    """The PaddleX endpoint of our task ("detection" -> "/object-detection"), or None."""
    return ENDPOINTS[task][0] if task in ENDPOINTS else None


def envelope(status: int, message: str, log_id: str | None = None) -> HttpResponse:
    return HttpResponse(status, json.dumps({"logId": log_id or str(uuid.uuid4()),
                                            "errorCode": status, "errorMsg": message},
                                           ensure_ascii=False).encode())


def _loc(loc: tuple) -> str:
    """PaddleX's dotted error location: ("body", "threshold", "float") -> body.threshold.float."""
    out = ""
    for i, part in enumerate(loc):
        out += f"[{part}]" if isinstance(part, int) else (("." if i else "") + str(part))
    return out


class PaddleXRouter:
    """Answers PaddleX's API for `task` through `call(Request) -> Response` (the pipeline);
    `settings` are the OCR service's own (see `results.OCR_DEFAULTS`)."""

    def __init__(self, task: str, call: Callable[[Any], Any],
                 settings: dict[str, Any] | None = None) -> None:
        self.task = task
        self.path, self.model = ENDPOINTS[task]
        self.call = call
        self.settings = {**results.OCR_DEFAULTS, **(settings or {})}

    def body_error(self, exc: BodyError) -> HttpResponse:
        return envelope(exc.status.http, str(exc))

    def match(self, method: str, segments: list[str]) -> Handler | None:
        if segments == ["health"]:
            if method in ("GET", "HEAD"):
                return lambda r: HttpResponse(200, json.dumps(
                    {"logId": str(uuid.uuid4()), "errorCode": 0, "errorMsg": "Healthy"}).encode())
            return self._not_allowed
        if segments != [self.path[1:]]:
            return None
        return self._infer if method == "POST" else self._not_allowed

    @staticmethod
    def _not_allowed(request: HttpRequest) -> HttpResponse:
        return envelope(METHOD_NOT_ALLOWED.http, "Method Not Allowed")

    def _infer(self, http: HttpRequest) -> HttpResponse:
        log_id = None
        try:
            body = self._parse(http.body)
            log_id = getattr(body, "logId", None)
            result = self._answer(body)
        except PaddleXError as exc:
            return envelope(exc.status, str(exc), log_id)
        document = {"logId": log_id or str(uuid.uuid4()), "result": result,
                    "errorCode": 0, "errorMsg": "Success"}
        return HttpResponse(200, json.dumps(document, ensure_ascii=False).encode())

    def _parse(self, raw: bytes) -> Any:
        try:
            document = json.loads(raw)
        except (ValueError, RecursionError) as exc:
            pos = getattr(exc, "pos", 0)
            raise PaddleXError(UNPROCESSABLE, json.dumps([{
                "type": "json_invalid", "loc": f"body[{pos}]", "msg": "JSON decode error"}])) \
                from None
        try:
            return self.model.model_validate(document)
        except pydantic.ValidationError as exc:
            errors = [{"type": e["type"], "loc": _loc(("body", *e["loc"])), "msg": e["msg"]}
                      for e in exc.errors()]
            raise PaddleXError(UNPROCESSABLE, json.dumps(errors)) from None

    def _image(self, body: Any) -> tuple[str, bytes]:
        """The base64 text and the bytes of the request's image; URLs and PDFs refused."""
        field = "file" if self.task == "ocr" else "image"
        text = getattr(body, field)
        if text.startswith(("http://", "https://")):
            raise PaddleXError(UNPROCESSABLE, f"'{field}' is a URL; this service fetches no "
                               "URLs: send the file's content as base64 instead")
        if self.task == "ocr":
            if body.fileType is None:
                raise PaddleXError(UNPROCESSABLE, "File type cannot be determined: set "
                                   "'fileType' (1: image; 0: PDF)")
            if body.fileType == 0:
                raise PaddleXError(UNPROCESSABLE, "PDF input (fileType 0) is not served here: "
                                   "send each page as an image with fileType 1")
        try:
            data = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise PaddleXError(UNPROCESSABLE, f"Invalid input file: '{field}' is not base64 "
                               "(send the base64 of an image file)") from None
        return text, data

    def _check_ocr_options(self, body: Any) -> None:
        det = self.settings["text_det_params"]
        for field, key in _OCR_FIXED.items():
            value = getattr(body, field)
            if value is not None and value != det[key]:
                raise PaddleXError(UNPROCESSABLE, f"'{field}' is fixed to {det[key]!r} by this "
                                   f"service (got {value!r}): leave it out")
        if body.useDocOrientationClassify or body.useDocUnwarping:
            raise PaddleXError(UNPROCESSABLE, "this service has no document preprocessor: "
                               "leave useDocOrientationClassify/useDocUnwarping out or false")
        if body.useTextlineOrientation is not None and \
                body.useTextlineOrientation != self.settings["use_textline_orientation"]:
            raise PaddleXError(UNPROCESSABLE, "useTextlineOrientation is fixed to "
                               f"{self.settings['use_textline_orientation']} by this service")
        if body.returnWordBox:
            raise PaddleXError(UNPROCESSABLE, "returnWordBox is not offered by this service")

    def _answer(self, body: Any) -> dict[str, Any]:
        if self.task == "ocr":
            self._check_ocr_options(body)
        if self.task == "segmentation" and body.targetSize not in (None, -1):
            raise PaddleXError(UNPROCESSABLE, "targetSize is not offered by this service: "
                               "the label map has the image's size")
        text, data = self._image(body)
        request = Request(method="prediction")
        for key, value in {"image": text, **results.pipeline_keys(self.task, body)}.items():
            request.key.append(key)
            request.value.append(value)
        response = self.call(request)
        if response.err_no != 0:
            raise PaddleXError(UNPROCESSABLE if response.err_no == ErrorCode.INPUT_PARAMS_ERROR
                               else for_error_code(response.err_no).http, response.err_msg)
        try:
            answer = json.loads(response.value[list(response.key).index("image")])
            if self.task == "ocr":
                result = results.ocr(answer, body, self.settings, _size(data))
            else:
                result = getattr(results, self.task)(answer, body)
            if body.visualize:
                images = visualize.draw(self.task, data, result)
                if self.task == "ocr":
                    result["ocrResults"][0].update(images)
                else:
                    result.update(images)
            return result
        except (ValueError, KeyError, TypeError) as exc:
            raise PaddleXError(INTERNAL.http, f"the service's answer could not be shaped as "
                               f"PaddleX's: {type(exc).__name__}: {exc}") from None


def _size(data: bytes) -> tuple[int, int]:
    """(width, height) of an encoded image, from its header."""
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        return image.size
