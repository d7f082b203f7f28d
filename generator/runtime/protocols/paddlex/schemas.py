"""The request bodies of PaddleX basic serving, as pydantic models with the fields, types and
limits of `paddlex/inference/serving/schemas/` (PaddleX 3.7.2), so that a body PaddleX refuses
with 422 is refused here with the same error list; and the endpoint of each task.

A leaf of `protocols.paddlex`: imports pydantic only.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field


class OcrRequest(BaseModel):
    """`POST /ocr` (schemas/ocr.py)."""

    file: str
    fileType: Literal[0, 1] | None = None
    useDocOrientationClassify: bool | None = None
    useDocUnwarping: bool | None = None
    useTextlineOrientation: bool | None = None
    textDetLimitSideLen: int | None = None
    textDetLimitType: str | None = None
    textDetThresh: float | None = None
    textDetBoxThresh: float | None = None
    textDetUnclipRatio: float | None = None
    textRecScoreThresh: float | None = None
    returnWordBox: bool | None = None
    visualize: bool | None = None
    logId: str | None = None


class DetectionRequest(BaseModel):
    """`POST /object-detection` (schemas/object_detection.py)."""

    image: str
    threshold: float | dict[int, float] | None = None
    visualize: bool | None = None
    logId: str | None = None


class ClassificationRequest(BaseModel):
    """`POST /image-classification` (schemas/image_classification.py)."""

    image: str
    topk: Annotated[int, Field(gt=0)] | None = None
    visualize: bool | None = None


class SegmentationRequest(BaseModel):
    """`POST /semantic-segmentation` (schemas/semantic_segmentation.py)."""

    image: str
    targetSize: int | tuple[int, int] | None = None
    visualize: bool | None = None


#: our task name -> (PaddleX endpoint, its request model)
ENDPOINTS: dict[str, tuple[str, type[BaseModel]]] = {
    "ocr": ("/ocr", OcrRequest),
    "detection": ("/object-detection", DetectionRequest),
    "classification": ("/image-classification", ClassificationRequest),
    "segmentation": ("/semantic-segmentation", SegmentationRequest),
}
