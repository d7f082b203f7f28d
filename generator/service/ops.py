"""Task Ops: request `image` (or `image_0` ... `image_N`, batched into one inference) holding the
base64 of an encoded image file — or, in tensor mode, a uint8 tensor with the file's bytes (1-D)
or RGB pixels ([H, W, 3]); response: per image key, a JSON string.

- detection: `[{"category_id", "label", "score", "bbox": [x1, y1, x2, y2]}]`, original-image
  pixels (the real `scale_factor` is fed) clipped to the image (empty boxes dropped, as
  PaddleX does), `class_id > -1` and `score >= draw_threshold`;
- classification: top-k `[{"category_id", "label", "score"}]`;
- segmentation: `{"label_map": <base64 PNG>, "shape": [h, w]}` at the original image size;
- embedding: the feature vector as a JSON list.
"""

from __future__ import annotations

import collections
import json
import re
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from generator.imaging.decode import decode_base64, decode_bytes
from generator.imaging.limits import check_count, check_pixels
from generator.preprocess import (
    ImageDecodeError,
    build_preprocess,
    classification_results,
    detection_results,
    embedding_results,
    make_feed,
    segmentation_result,
)
from generator.runtime.errors import CustomException, ErrorCode
from generator.runtime.pipeline.operator import Op
from generator.service.deploy_config import DeployConfig, read_deploy_config, read_labels

_IMAGE_KEY = re.compile(r"^image(?:_(\d+))?$")
_MAX_PENDING = 4096


def image_keys(request: dict) -> list[str]:
    """`image`, or `image_0..image_N` in index order; a clear error when there is none."""
    keys = [k for k in request if isinstance(k, str) and _IMAGE_KEY.match(k)]
    if not keys:
        raise CustomException(
            ErrorCode.INPUT_PARAMS_ERROR,
            f"the request has no image: send key 'image' (or 'image_0' ... 'image_N') with the "
            f"base64 of an encoded image file (JPEG, PNG, ...); keys received: "
            f"{sorted(str(k) for k in request)}")
    return sorted(keys, key=lambda k: -1 if k == "image" else int(_IMAGE_KEY.match(k).group(1)))


def bad_image_input(key: str, value: Any) -> CustomException:
    """The error for a request value that is neither base64 image text nor an image tensor."""
    shape = getattr(value, "shape", None)
    return CustomException(
        ErrorCode.INPUT_PARAMS_ERROR,
        f"'{key}' must be base64 text of an image file, or a uint8 tensor: 1-D (the file's "
        f"bytes) or [H, W, 3] (RGB pixels); got {type(value).__name__}"
        + (f" {getattr(value, 'dtype', '')} {list(shape)}" if shape is not None else ""))


def load_bgr(key: str, value: Any) -> np.ndarray:
    """One request image as BGR HWC uint8 (what PaddleX's predictors read): base64 text of a
    file, or a uint8 tensor (1-D: the file's bytes; [H, W, 3]: RGB pixels)."""
    try:
        if isinstance(value, str):
            return decode_base64(value)
        if isinstance(value, np.ndarray) and value.dtype == np.uint8:
            if value.ndim == 1:
                return decode_bytes(value)
            if value.ndim == 3 and value.shape[2] == 3:
                check_pixels(value.shape[1], value.shape[0], "the image tensor")
                return np.ascontiguousarray(value[:, :, ::-1])
    except ImageDecodeError as exc:
        raise CustomException(ErrorCode.INPUT_PARAMS_ERROR, f"'{key}': {exc}") from None
    raise bad_image_input(key, value)

class ImageModelOp(Op):
    """Base of the task Ops. `deploy_config` is the exporter's deploy record (infer_cfg.yml,
    inference.yml or deploy.yaml); `labels` an optional label file overriding its label list."""

    task: ClassVar[str] = "generic"

    def __init__(self, name: str | None = None, input_ops: list[Op] | None = None, *,
                 deploy_config: str | Path, labels: str | Path | None = None, **op_kwargs: Any):
        super().__init__(name=name, input_ops=input_ops, **op_kwargs)
        self.deploy_config_path = Path(deploy_config)
        self.labels_path = Path(labels) if labels else None
        self.deploy: DeployConfig | None = None
        self.labels: list[str] = []
        self._infos: collections.OrderedDict[int, list] = collections.OrderedDict()

    def init_op(self) -> None:
        self.deploy = read_deploy_config(self.deploy_config_path)
        self.preprocessor = build_preprocess(self.deploy.preprocess, self.deploy.toolkit)
        self.labels = (read_labels(self.labels_path) if self.labels_path
                       and self.labels_path.is_file() else list(self.deploy.labels))

    def oip_signature(self) -> tuple[list, list]:
        """Open Inference Protocol inputs and outputs of the service: `image`, a BYTES tensor
        of encoded image files (one element per image), and `image`, their JSON results."""
        from generator.runtime.protocols.oip.models import TensorSpec

        return ([TensorSpec("image", "BYTES", [-1], base64=True)],
                [TensorSpec("image", "BYTES", [-1])])

    def _request(self, input_dicts: dict) -> dict:
        if len(input_dicts) != 1:
            raise CustomException(ErrorCode.NOT_IMPLEMENTED,
                                  f"{type(self).__name__} takes exactly one input Op")
        return next(iter(input_dicts.values()))

    def preprocess(self, input_dicts, data_id=0, log_id=0):
        request = self._request(input_dicts)
        images = []
        keys = image_keys(request)
        try:
            check_count(len(keys))
        except ImageDecodeError as exc:
            raise CustomException(ErrorCode.INPUT_PARAMS_ERROR, str(exc)) from None
        for key in keys:
            try:
                images.append(self._load(key, request[key]))
            except ImageDecodeError as exc:
                raise CustomException(ErrorCode.INPUT_PARAMS_ERROR, f"'{key}': {exc}") from None
        self._infos[data_id] = [info for _, info in images]
        while len(self._infos) > _MAX_PENDING:  # requests that failed after preprocess
            self._infos.popitem(last=False)
        return make_feed(images, self.right_feed_names), False, None, ""

    def _load(self, key: str, value: Any):
        """Preprocess one image given as base64 text (key/value), or as a tensor (tensor mode):
        uint8 1-D = the encoded file's bytes, uint8 [H, W, 3] = decoded RGB pixels."""
        if isinstance(value, str):
            return self.preprocessor.process_encoded(value, is_base64=True)
        if isinstance(value, np.ndarray) and value.dtype == np.uint8:
            if value.ndim == 1:
                return self.preprocessor.process_encoded(value.tobytes())
            if value.ndim == 3 and value.shape[2] == 3:
                check_pixels(value.shape[1], value.shape[0], "the image tensor")
                return self.preprocessor(value)
        raise bad_image_input(key, value)

    def postprocess(self, input_dicts, fetch_dict, data_id=0, log_id=0):
        keys = image_keys(self._request(input_dicts))
        infos = self._infos.pop(data_id, [None] * len(keys))
        results = self.request_results(fetch_dict, infos, self._request(input_dicts))
        if len(results) != len(keys):
            raise CustomException(ErrorCode.TYPE_ERROR,
                                  f"the model answered for {len(results)} images, the request "
                                  f"had {len(keys)}")
        return {k: json.dumps(r, ensure_ascii=False) for k, r in zip(keys, results, strict=True)}, \
            None, ""

    def format_results(self, fetch: dict[str, np.ndarray], infos: list) -> list[Any]:
        """One JSON-able result per image."""
        raise NotImplementedError

    def request_results(self, fetch: dict[str, np.ndarray], infos: list, request: dict
                        ) -> list[Any]:
        """`format_results` with the request's options (PaddleX's API passes its options
        as `paddlex.<name>` keys; see `generator.runtime.protocols.paddlex`)."""
        return self.format_results(fetch, infos)

    @staticmethod
    def _outputs(fetch: dict) -> list[tuple[str, np.ndarray]]:
        return [(k, v) for k, v in fetch.items() if not k.endswith(".lod")
                and isinstance(v, np.ndarray)]


class DetectionOp(ImageModelOp):
    """PaddleDetection-style outputs: `bbox` [N, 6] and `bbox_num` [B]."""

    task = "detection"

    def __init__(self, *args: Any, draw_threshold: float | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.draw_threshold = draw_threshold

    def init_op(self) -> None:
        super().init_op()
        if self.draw_threshold is None:
            self.draw_threshold = self.deploy.draw_threshold
        bbox, num = self._pick(dict.fromkeys(self.right_fetch_names))
        if bbox and num:  # auto-batching splits boxes by the per-image counts
            self.batch_split_counts = {bbox: num}

    @staticmethod
    def _pick(fetch: dict | None) -> tuple[str | None, str | None]:
        if not fetch:
            return None, None
        names = list(fetch)
        bbox = next((n for n in names if "bbox" in n and "num" not in n), None)
        num = next((n for n in names if "num" in n), None)
        if bbox is None or num is None:  # Paddle 3 exports name outputs fetch_name_0/1...
            arrays = {n: v for n, v in fetch.items() if isinstance(v, np.ndarray)}
            if arrays:
                bbox = next((n for n, v in arrays.items() if v.ndim == 2 and v.shape[-1] == 6),
                            bbox)
                num = next((n for n, v in arrays.items()
                            if v.ndim == 1 and np.issubdtype(v.dtype, np.integer)), num)
            elif len(names) == 2:
                bbox, num = sorted(names)
        return bbox, num

    def format_results(self, fetch, infos):
        return self._detections(fetch, infos, float(self.draw_threshold))

    def request_results(self, fetch, infos, request):
        """PaddleX's `threshold` option: a score (kept: above it) or {class id: score}
        (other classes 0.5), as PaddleX's detection predictor applies it."""
        option = request.get("paddlex.threshold")
        if option is None:
            return self.format_results(fetch, infos)
        try:
            threshold = json.loads(option)
            per_class = {int(k): float(v) for k, v in threshold.items()} \
                if isinstance(threshold, dict) else None
            lowest = min(per_class.values(), default=0.5) if per_class is not None \
                else float(threshold)
        except (ValueError, TypeError, AttributeError):
            raise CustomException(ErrorCode.INPUT_PARAMS_ERROR,
                                  f"'paddlex.threshold' must be a number or an object of "
                                  f"class id -> number, got {option!r}") from None
        return [[box for box in boxes if box["score"] > (
                    lowest if per_class is None else per_class.get(box["category_id"], 0.5))]
                for boxes in self._detections(fetch, infos, min(lowest, 0.5))]

    def _detections(self, fetch, infos, threshold: float):
        bbox, num = self._pick({k: v for k, v in self._outputs(fetch)})
        if bbox is None:
            raise CustomException(ErrorCode.TYPE_ERROR,
                                  f"no [N, 6] bbox output among {sorted(fetch)}")
        counts = fetch[num] if num else None
        sizes = [info.get("ori_shape") if info else None for info in infos]
        if counts is None and len(sizes) != 1:
            sizes = None
        return detection_results(fetch[bbox], counts, self.labels, threshold, image_sizes=sizes)


class ClassificationOp(ImageModelOp):
    """Class scores [B, C] -> top-k."""

    task = "classification"

    def __init__(self, *args: Any, top_k: int = 5, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.top_k = top_k

    def format_results(self, fetch, infos):
        return self._top(fetch, self.top_k)

    def request_results(self, fetch, infos, request):
        """PaddleX's `topk` option (a positive integer) instead of `top_k`."""
        option = request.get("paddlex.topk")
        if option is None:
            return self.format_results(fetch, infos)
        if not str(option).isdigit() or int(option) < 1:
            raise CustomException(ErrorCode.INPUT_PARAMS_ERROR,
                                  f"'paddlex.topk' must be a positive integer, got {option!r}")
        return self._top(fetch, int(option))

    def _top(self, fetch, top_k: int):
        (_, scores), *_ = self._outputs(fetch)
        return classification_results(scores, self.labels or None, top_k)


class SegmentationOp(ImageModelOp):
    """Label map [B, H, W] (or scores [B, C, H, W]) -> PNG at the original image size."""

    task = "segmentation"

    def format_results(self, fetch, infos):
        (_, maps), *_ = self._outputs(fetch)
        return [segmentation_result(m, tuple(info["ori_shape"]) if info else None)
                for m, info in zip(maps, infos, strict=True)]


class EmbeddingOp(ImageModelOp):
    """Feature vectors [B, D] -> JSON lists."""

    task = "embedding"

    def __init__(self, *args: Any, normalize: bool = False, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.normalize = normalize

    def format_results(self, fetch, infos):
        (_, features), *_ = self._outputs(fetch)
        return embedding_results(features, self.normalize)


OPS_BY_TASK: dict[str, type[ImageModelOp]] = {
    op.task: op for op in (DetectionOp, ClassificationOp, SegmentationOp, EmbeddingOp)
}
