"""The images PaddleX's API returns for `visualize: true`, drawn server-side with OpenCV (JPEG,
base64): detection boxes with their class and score, the top class of a classification, the
label map blended over the image, the OCR lines' polygons (`ocrImage`, with `inputImage` the
input itself). Drawn like PaddleX's try page draws them, not pixel for pixel."""

from __future__ import annotations

import base64
from typing import Any

import cv2
import numpy as np

_FONT = cv2.FONT_HERSHEY_SIMPLEX


def _color(index: int) -> tuple[int, int, int]:
    """A stable, distinct BGR colour per class id."""
    hue = (index * 47) % 180
    bgr = cv2.cvtColor(np.uint8([[[hue, 200, 230]]]), cv2.COLOR_HSV2BGR)[0, 0]
    return int(bgr[0]), int(bgr[1]), int(bgr[2])


def _jpeg(image: np.ndarray) -> str:
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 90])
    if not ok:
        raise ValueError("the visualization could not be encoded as JPEG")
    return base64.b64encode(buf.tobytes()).decode()


def _label(image: np.ndarray, text: str, x: int, y: int, color: tuple[int, int, int]) -> None:
    (w, h), _ = cv2.getTextSize(text, _FONT, 0.5, 1)
    y = max(y, h + 4)
    cv2.rectangle(image, (x, y - h - 4), (x + w + 4, y), color, -1)
    cv2.putText(image, text, (x + 2, y - 3), _FONT, 0.5, (255, 255, 255), 1, cv2.LINE_AA)


def draw(task: str, data: bytes, result: dict[str, Any]) -> dict[str, str]:
    """The image fields of `result` for `task`, from the request's encoded image `data`."""
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError("the input image could not be decoded for drawing")
    canvas = image.copy()
    if task == "detection":
        for obj in result["detectedObjects"]:
            color = _color(obj["categoryId"])
            x1, y1, x2, y2 = (int(round(v)) for v in obj["bbox"])
            cv2.rectangle(canvas, (x1, y1), (x2, y2), color, 2)
            _label(canvas, f"{obj['categoryName']} {obj['score']:.2f}", x1, y1, color)
        return {"image": _jpeg(canvas)}
    if task == "classification":
        for i, c in enumerate(result["categories"][:1]):
            _label(canvas, f"{c['name']} {c['score']:.2f}", 4, 24 * (i + 1), _color(c["id"]))
        return {"image": _jpeg(canvas)}
    if task == "segmentation":
        h, w = result["size"]
        ids = np.asarray(result["labelMap"], dtype=np.int64).reshape(h, w)
        palette = np.array([_color(i) for i in range(int(ids.max()) + 1)], dtype=np.uint8)
        return {"image": _jpeg(cv2.addWeighted(canvas, 0.5, palette[ids], 0.5, 0))}
    pruned = result["ocrResults"][0]["prunedResult"]
    for poly in pruned["rec_polys"]:
        cv2.polylines(canvas, [np.asarray(poly, dtype=np.int32).reshape(-1, 1, 2)], True,
                      (0, 0, 255), 2)
    return {"ocrImage": _jpeg(canvas), "inputImage": _jpeg(image)}
