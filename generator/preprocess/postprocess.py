"""Response payloads of the generated services (JSON-ready Python values).

* detection: `detection_results(bbox, bbox_num, labels, draw_threshold)` -> per image
  `[{"category_id", "label", "score", "bbox": [x1, y1, x2, y2]}]`;
* classification: `classification_results(scores, labels, top_k)` -> per image top-k
  `[{"category_id", "label", "score"}]`;
* segmentation: `segmentation_result(label_map)` -> `{"label_map": <base64 PNG>, "shape": [h, w]}`;
* embedding: `embedding_results(features)` -> per image `[float, ...]`.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np

from generator import imaging

__all__ = [
    "classification_results",
    "detection_results",
    "embedding_results",
    "segmentation_result",
]


def _label(labels: Sequence[str] | None, class_id: int) -> str:
    if labels is not None and 0 <= class_id < len(labels):
        return str(labels[class_id])
    return str(class_id)


def detection_results(bbox: np.ndarray, bbox_num: np.ndarray | Sequence[int] | None,
                      labels: Sequence[str] | None = None, draw_threshold: float = 0.5,
                      image_sizes: Sequence[Sequence[int] | None] | None = None,
                      ) -> list[list[dict[str, Any]]]:
    """Split PaddleDetection's `bbox` [N, 6] rows `(class_id, score, x1, y1, x2, y2)` by
    `bbox_num` [B] into per-image lists, keeping rows with `class_id > -1` (filler rows are -1)
    and `score >= draw_threshold`. `bbox_num` None means one image. Coordinates are the
    model's (original-image pixels when it was fed the real `scale_factor`), clipped as
    PaddleX does to [0, w] x [0, h] of `image_sizes[i]` ((h, w) of each original image) when
    given; boxes left empty (x2 <= x1 or y2 <= y1) are dropped."""
    rows = np.asarray(bbox, dtype=np.float64).reshape(-1, 6) if np.size(bbox) else \
        np.zeros((0, 6))
    counts = [rows.shape[0]] if bbox_num is None else \
        [int(n) for n in np.asarray(bbox_num).reshape(-1)]
    if sum(counts) > rows.shape[0]:
        raise ValueError(f"bbox_num {counts} adds up to {sum(counts)} boxes but bbox has "
                         f"{rows.shape[0]} rows; are the outputs swapped?")
    sizes = list(image_sizes) if image_sizes is not None else [None] * len(counts)
    if len(sizes) != len(counts):
        raise ValueError(f"{len(sizes)} image sizes for {len(counts)} images (bbox_num "
                         f"{counts})")
    results: list[list[dict[str, Any]]] = []
    start = 0
    for count, size in zip(counts, sizes, strict=True):
        image_rows = rows[start:start + count]
        start += count
        dets = []
        for class_id, score, x1, y1, x2, y2 in image_rows.tolist():
            if class_id <= -1 or score < draw_threshold:
                continue
            if size is not None:
                h, w = float(size[0]), float(size[1])
                x1, y1, x2, y2 = max(0.0, x1), max(0.0, y1), min(w, x2), min(h, y2)
            if x2 <= x1 or y2 <= y1:
                continue
            cid = int(class_id)
            dets.append({"category_id": cid, "label": _label(labels, cid), "score": score,
                         "bbox": [x1, y1, x2, y2]})
        results.append(dets)
    return results


def classification_results(scores: np.ndarray, labels: Sequence[str] | None = None,
                           top_k: int = 5) -> list[list[dict[str, Any]]]:
    """Per row of `scores` [B, C] (or [C]): the `top_k` classes by descending score (ties keep
    the lower class id first)."""
    arr = np.asarray(scores, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[None, :]
    arr = arr.reshape(arr.shape[0], -1)
    if top_k <= 0:
        raise ValueError(f"top_k must be positive, got {top_k}")
    results = []
    for row in arr:
        order = np.argsort(-row, kind="stable")[:top_k]
        results.append([{"category_id": int(i), "label": _label(labels, int(i)),
                         "score": float(row[i])} for i in order])
    return results


def segmentation_result(label_map: np.ndarray,
                        original_shape: Sequence[int] | None = None) -> dict[str, Any]:
    """One image's segmentation output -> `{"label_map": base64 PNG, "shape": [h, w]}`.

    Accepts class ids [H, W] (or [1, H, W]) or scores [C, H, W] (argmax taken). PNG is 8-bit
    when ids < 256, else 16-bit. `original_shape` (h, w) resizes the map back with nearest
    neighbour (for a model fed a resized image)."""
    arr = np.asarray(label_map)
    if arr.ndim == 3 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim == 3:
        arr = np.argmax(arr, axis=0)
    if arr.ndim != 2:
        raise ValueError(f"expected a label map [H, W] or scores [C, H, W], got shape "
                         f"{np.shape(label_map)}")
    if np.issubdtype(arr.dtype, np.floating):
        arr = np.rint(arr)
    if arr.size and arr.min() < 0:
        raise ValueError("label map has negative class ids; cannot encode as PNG")
    ids = arr.astype(np.uint8 if (not arr.size or arr.max() < 256) else np.uint16)
    if original_shape is not None and tuple(ids.shape) != tuple(original_shape[:2]):
        ids = cv2.resize(ids, (int(original_shape[1]), int(original_shape[0])),
                         interpolation=cv2.INTER_NEAREST)
    png = imaging.encode_png(ids)
    return {"label_map": base64.b64encode(png).decode("ascii"), "shape": [int(ids.shape[0]),
                                                                          int(ids.shape[1])]}


def embedding_results(features: np.ndarray, normalize: bool = False) -> list[list[float]]:
    """Per row of `features` [B, D] (or [D]): the vector as a list of floats; `normalize`
    divides by the L2 norm (PaddleClas `NormalizeFeatures`)."""
    arr = np.asarray(features, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[None, :]
    arr = arr.reshape(arr.shape[0], -1)
    if normalize:
        norms = np.linalg.norm(arr, axis=1, keepdims=True)
        arr = arr / np.maximum(norms, 1e-12)
    return arr.tolist()
