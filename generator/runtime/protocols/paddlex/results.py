"""Our task answers (the JSON each task Op puts in `Response.value`) as PaddleX basic serving's
`result` objects, field for field (`_pipeline_apps/*.py` of PaddleX 3.7.2):

- detection `[{"category_id", "label", "score", "bbox"}]` -> `{"detectedObjects": [{"bbox",
  "categoryId", "categoryName", "score"}]}`;
- classification `[{"category_id", "label", "score"}]` -> `{"categories": [{"id", "name",
  "score"}]}`;
- segmentation `{"label_map": <PNG base64>, "shape"}` -> `{"labelMap": [row-major ints],
  "size": [h, w]}`;
- OCR `[{"text", "score", "poly"}]` -> `{"ocrResults": [{"prunedResult": {...}}],
  "dataInfo": {"width", "height", "type": "image"}}`, `prunedResult` with the keys of
  PaddleX's OCR result JSON (less `input_path`/`page_index`, as PaddleX prunes them).

Images for `visualize` are added by the router (`visualize.draw`); without them their fields are
left out, as PaddleX leaves out every null field (`response_model_exclude_none`).
"""

from __future__ import annotations

import base64
import json
from typing import Any

import cv2
import numpy as np

#: PaddleX's OCR pipeline settings when the service does not say otherwise (OCR.yaml)
OCR_DEFAULTS: dict[str, Any] = {
    "text_det_params": {"limit_side_len": 64, "limit_type": "min", "thresh": 0.3,
                        "max_side_limit": 4000, "box_thresh": 0.6, "unclip_ratio": 1.5},
    "use_textline_orientation": False,
    "text_rec_score_thresh": 0.0,
}


def detection(answer: list[dict], request: Any) -> dict[str, Any]:
    return {"detectedObjects": [{"bbox": [float(v) for v in box["bbox"]],
                                 "categoryId": int(box["category_id"]),
                                 "categoryName": str(box["label"]),
                                 "score": float(box["score"])} for box in answer]}


def classification(answer: list[dict], request: Any) -> dict[str, Any]:
    return {"categories": [{"id": int(c["category_id"]),
                            "name": str(c.get("label") or c["category_id"]),
                            "score": float(c["score"])} for c in answer]}


def segmentation(answer: dict, request: Any) -> dict[str, Any]:
    png = np.frombuffer(base64.b64decode(answer["label_map"]), np.uint8)
    label_map = cv2.imdecode(png, cv2.IMREAD_UNCHANGED)
    if label_map is None or label_map.ndim != 2:
        raise ValueError("the segmentation answer's label_map is not a one-channel PNG")
    return {"labelMap": label_map.astype(np.int64).ravel().tolist(),
            "size": [int(label_map.shape[0]), int(label_map.shape[1])]}


def _box(poly: list[list[int]]) -> list[int]:
    xs, ys = [p[0] for p in poly], [p[1] for p in poly]
    return [min(xs), min(ys), max(xs), max(ys)]


def ocr(answer: list[dict], request: Any, settings: dict[str, Any],
        size: tuple[int, int]) -> dict[str, Any]:
    """`size` is the image's (width, height); `settings` the service's (see OCR_DEFAULTS)."""
    thresh = request.textRecScoreThresh
    if thresh is None:
        thresh = settings["text_rec_score_thresh"]
    polys = [[[int(round(x)), int(round(y))] for x, y in line["poly"]] for line in answer]
    kept = [(line, poly) for line, poly in zip(answer, polys, strict=True)
            if line["score"] >= thresh]
    pruned: dict[str, Any] = {
        "model_settings": {"use_doc_preprocessor": False,
                           "use_textline_orientation": settings["use_textline_orientation"]},
        "dt_polys": polys,
        "text_det_params": dict(settings["text_det_params"]),
        "text_type": "general",
    }
    if answer:  # PaddleX sets the angles only where text was found (-1: not classified)
        pruned["textline_orientation_angles"] = [int(line.get("angle", -1)) for line in answer]
    pruned.update({
        "text_rec_score_thresh": float(thresh),
        "return_word_box": False,
        "rec_texts": [line["text"] for line, _ in kept],
        "rec_scores": [float(line["score"]) for line, _ in kept],
        "rec_polys": [poly for _, poly in kept],
        "rec_boxes": [_box(poly) for _, poly in kept],
    })
    return {"ocrResults": [{"prunedResult": pruned}],
            "dataInfo": {"width": size[0], "height": size[1], "type": "image"}}


def pipeline_keys(task: str, request: Any) -> dict[str, str]:
    """The request options our task Ops read from the pipeline request (besides `image`)."""
    if task == "detection" and request.threshold is not None:
        return {"paddlex.threshold": json.dumps(request.threshold)}
    if task == "classification" and request.topk is not None:
        return {"paddlex.topk": str(request.topk)}
    if task == "ocr":  # each line's text-line orientation class
        return {"paddlex.angles": "1"}
    return {}
