"""OCR models of Paddle 3 toolkit exports (PaddleOCR 3 / PaddleX `inference.yml`), with the
inference semantics of PaddleX's predictors.

Single-model building blocks; every class is built from a model folder
(`from_model_dir(dir)`) or from its parsed `generator.toolkit.ToolkitExport`, works on BGR
uint8 HWC images (as PaddleX's `ReadImage` gives them) and never runs the network itself: it
makes the feed and reads the outputs, so any predictor (Paddle, ONNX Runtime, the runtime's
`LocalPredictor`) can sit in between.

    det = TextDetector.from_model_dir(det_dir)      # overrides: thresh, box_thresh,
                                                    # unclip_ratio, limit_side_len, limit_type,
                                                    # max_side_limit (PaddleX's predict args)
    feed, meta = det.preprocess(image_bgr)          # {det.input_name: [1, 3, H', W'] float32}
    polys = det.postprocess(outputs, meta)          # [(poly [4, 2] float32, score), ...]
                                                    # original pixels, PaddleX's order ([N, 2]
                                                    # polygons when the yml says box_type poly)

    rec = TextRecognizer.from_model_dir(rec_dir)
    feed, meta = rec.preprocess_batch(crops_bgr)    # {rec.input_name: [N, 3, 48, W] float32}
    texts = rec.postprocess(outputs, meta)          # [(text, score), ...] one per crop
    rec.image_shape, rec.max_width                  # (3, 48, 320), width limit of a batch

    ori = TextlineOrientation.from_model_dir(ori_dir)
    feed, meta = ori.preprocess_batch(crops_bgr)    # {ori.input_name: [N, 3, 80, 160]}
    labels = ori.postprocess(outputs)               # [(label, score), ...]; label
                                                    # "0_degree" | "180_degree"; angle 0 | 180

    model = load_ocr_model(dir_or_yml)              # the class its inference.yml's kind names
    feed, meta = model.sample_feed(image_bgr)       # one image's feed (any of the three)

`outputs` may be the predictor's output dict (name -> array; the first output is used) or the
array itself. Errors are `generator.toolkit.ToolkitExportError` (bad folder/yml) and
`ValueError` (bad image or outputs).

Inside: `db_postprocess` (DB map -> boxes), `raster` (OpenCV 4.10's polygon fill, which DB
scores depend on), `yml_ops` (PreProcess readers). Two-stage pieces: `crops` (rotated crops of
quads), `ordering` (reading order), `pipeline` (det -> [ori] -> rec in process).
"""

from pathlib import Path

from generator.ocr.text_det import TextDetector
from generator.ocr.text_rec import TextRecognizer
from generator.ocr.textline_ori import TextlineOrientation
from generator.toolkit import ToolkitExportError, read_toolkit_export

__all__ = ["OCR_MODELS", "TextDetector", "TextRecognizer", "TextlineOrientation",
           "load_ocr_model"]

#: kind (generator.toolkit) -> the OCR model class
OCR_MODELS: dict[str, type] = {
    "text_detection": TextDetector,
    "text_recognition": TextRecognizer,
    "textline_orientation": TextlineOrientation,
}


def load_ocr_model(model_dir_or_yml: str | Path) -> TextDetector | TextRecognizer | \
        TextlineOrientation:
    """The OCR model class for a toolkit export's kind, built from its inference.yml."""
    export = read_toolkit_export(model_dir_or_yml)
    cls = OCR_MODELS.get(export.kind)
    if cls is None:
        raise ToolkitExportError(f"{export.source}: a {export.kind} model, not one of the OCR "
                                 f"kinds {', '.join(OCR_MODELS)}")
    return cls(export)
