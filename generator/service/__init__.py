"""Task Ops for generated services: decode images, preprocess exactly as the exporting toolkit
does, infer, and answer JSON — defined once here, imported by every generated `web_service.py`.

    from generator.runtime import WebService
    from generator.service import DetectionOp

    class Service(WebService):
        def get_pipeline_response(self, read_op):
            return DetectionOp(name="yolov3", input_ops=[read_op],
                               deploy_config="infer_cfg.yml", labels="label_list.txt")
"""

from generator.service.deploy_config import DeployConfig, find_deploy_config, read_deploy_config
from generator.service.local import LocalService, ServiceCallError
from generator.service.ocr_ops import (
    OCR_OPS,
    TextDetectionOp,
    TextlineOrientationOp,
    TextRecognitionOp,
)
from generator.service.ops import OPS_BY_TASK as _IMAGE_OPS
from generator.service.ops import (
    ClassificationOp,
    DetectionOp,
    EmbeddingOp,
    ImageModelOp,
    SegmentationOp,
)

#: task -> its Op class (the image tasks and the single OCR models)
OPS_BY_TASK = {**_IMAGE_OPS, **OCR_OPS}

__all__ = [
    "OPS_BY_TASK",
    "ClassificationOp",
    "DeployConfig",
    "DetectionOp",
    "EmbeddingOp",
    "ImageModelOp",
    "LocalService",
    "SegmentationOp",
    "ServiceCallError",
    "TextDetectionOp",
    "TextRecognitionOp",
    "TextlineOrientationOp",
    "find_deploy_config",
    "read_deploy_config",
]
