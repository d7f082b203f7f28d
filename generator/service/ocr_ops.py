"""Task Ops of single OCR models (Paddle 3 toolkit exports, PaddleX's semantics); requests as
for the other task Ops (`image` or `image_0` ... `image_N`: base64 of an image file, or a uint8
tensor); per image key, a JSON string:

- text_detection: `[{"poly": [[x, y] x 4], "score": float}]`, original pixels, PaddleX's order;
- text_recognition (a line image per key): `{"text": str, "score": float}`;
- textline_orientation (a line image per key): `{"label": "0_degree" | "180_degree",
  "angle": 0 | 180, "score": float}`.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from generator.imaging.limits import check_count
from generator.ocr import TextDetector, TextlineOrientation, TextRecognizer
from generator.ocr.textline_ori import angle_of
from generator.preprocess import ImageDecodeError
from generator.runtime.errors import CustomException, ErrorCode
from generator.service.deploy_config import read_deploy_config, read_labels
from generator.service.ops import ImageModelOp, image_keys, load_bgr
from generator.toolkit import read_toolkit_export

__all__ = ["OCR_OPS", "TextDetectionOp", "TextRecognitionOp", "TextlineOrientationOp"]


class _OcrModelOp(ImageModelOp):
    """Decode BGR images, let the OCR model make the feed, answer per image."""

    model_class: ClassVar[type]

    def init_op(self) -> None:
        self.deploy = read_deploy_config(self.deploy_config_path)
        self.model = self.model_class(read_toolkit_export(self.deploy_config_path))
        self.labels = (read_labels(self.labels_path) if self.labels_path
                       and self.labels_path.is_file() else list(self.deploy.labels))

    def _images(self, request: dict) -> list[np.ndarray]:
        keys = image_keys(request)
        try:
            check_count(len(keys))
        except ImageDecodeError as exc:
            raise CustomException(ErrorCode.INPUT_PARAMS_ERROR, str(exc)) from None
        return [load_bgr(key, request[key]) for key in keys]

    def _feed(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The model's one input under its real name."""
        (value,) = feed.values()
        return {self.right_feed_names[0]: value}

    def preprocess(self, input_dicts, data_id=0, log_id=0):
        images = self._images(self._request(input_dicts))
        try:
            feed, meta = self.model.preprocess_batch(images)
        except ValueError as exc:
            raise CustomException(ErrorCode.INPUT_PARAMS_ERROR, str(exc)) from None
        self._remember(data_id, meta)
        return self._feed(feed), False, None, ""

    def _remember(self, data_id: int, meta: Any) -> None:
        self._infos[data_id] = meta
        while len(self._infos) > 4096:  # requests that failed after preprocess
            self._infos.popitem(last=False)


class TextDetectionOp(_OcrModelOp):
    """DB text detection: one inference per image (each keeps its own resized size)."""

    task = "text_detection"
    model_class = TextDetector

    def preprocess(self, input_dicts, data_id=0, log_id=0):
        images = self._images(self._request(input_dicts))
        feeds, metas = [], []
        for image in images:
            feed, meta = self.model.preprocess(image)
            feeds.append(self._feed(feed))
            metas.append(meta)
        self._remember(data_id, metas)
        return feeds, False, None, ""  # a list: one process call per image

    def format_results(self, fetch, infos):
        outputs = fetch if isinstance(fetch, list) else [fetch]
        return [[{"poly": poly.round().astype(int).tolist(), "score": score}
                 for poly, score in self.model.postprocess(self._arrays(out), meta)]
                for out, meta in zip(outputs, infos, strict=True)]

    @staticmethod
    def _arrays(fetch: dict) -> dict:
        return {k: v for k, v in fetch.items() if not str(k).endswith(".lod")}


class TextRecognitionOp(_OcrModelOp):
    """CTC text recognition of line images (one batch, padded to the widest line)."""

    task = "text_recognition"
    model_class = TextRecognizer

    def format_results(self, fetch, infos):
        return [{"text": text, "score": score}
                for text, score in self.model.postprocess(dict(self._outputs(fetch)), infos)]


class TextlineOrientationOp(_OcrModelOp):
    """Text-line orientation of line images: the top class, its angle and score."""

    task = "textline_orientation"
    model_class = TextlineOrientation

    def format_results(self, fetch, infos):
        return [{"label": label, "angle": angle_of(label), "score": score}
                for label, score in self.model.postprocess(dict(self._outputs(fetch)), infos)]


OCR_OPS: dict[str, type[ImageModelOp]] = {
    op.task: op for op in (TextDetectionOp, TextRecognitionOp, TextlineOrientationOp)
}
