"""Toolkit-exact preprocessing driven by an exported model's `Preprocess` list, and the
response helpers of the generated services.

    pre = build_preprocess(infer_cfg["Preprocess"], "ppdet")
    chw, im_info = pre(decode_rgb(image_bytes))
    feed = make_feed([(chw, im_info)], predictor.get_input_names())

Vocabularies (exact semantics of each toolkit's deploy code, see `supported_ops`):
ppdet Resize, NormalizeImage, Permute, PadStride, LetterBoxResize, Pad; ppcls DecodeImage,
ResizeImage, CropImage, NormalizeImage, ToCHWImage; ppseg Resize (w, h), ResizeByShort,
ResizeByLong, LimitLong, Normalize, Padding. Image arithmetic is shared with
`generator.runtime.reader` through `generator.imaging`.
"""

import numpy as np

from generator import imaging
from generator.imaging import ImageDecodeError
from generator.preprocess.base import ImInfo, PreprocessConfigError, PreprocessOp
from generator.preprocess.batching import INFO_FEEDS, make_feed
from generator.preprocess.pipeline import TOOLKITS, Preprocessor, build_preprocess, supported_ops
from generator.preprocess.postprocess import (
    classification_results,
    detection_results,
    embedding_results,
    segmentation_result,
)


def decode_rgb(data: bytes | str, *, is_base64: bool | None = None) -> np.ndarray:
    """Decode image file bytes, or base64 text when `data` is a str (or `is_base64`), into an
    RGB HWC uint8 array. Raises `ImageDecodeError` on bad input."""
    if is_base64 or (is_base64 is None and isinstance(data, str)):
        return imaging.decode_base64(data, to_rgb=True)
    return imaging.decode_bytes(data, to_rgb=True)


__all__ = [
    "INFO_FEEDS",
    "TOOLKITS",
    "ImInfo",
    "ImageDecodeError",
    "PreprocessConfigError",
    "PreprocessOp",
    "Preprocessor",
    "build_preprocess",
    "classification_results",
    "decode_rgb",
    "detection_results",
    "embedding_results",
    "make_feed",
    "segmentation_result",
    "supported_ops",
]
