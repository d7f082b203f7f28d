"""OCR models of Paddle 3 toolkit exports (PaddleOCR 3 / PaddleX `inference.yml`), with the
inference semantics of PaddleX's predictors.

Single-model building blocks (helper "core"); every class is built from a model folder
(`from_model_dir(dir)`) or from its parsed `generator.toolkit.ToolkitExport`, works on BGR
uint8 HWC images (as PaddleX's `ReadImage` gives them) and never runs the network itself: it
makes the feed and reads the outputs, so any predictor (Paddle, ONNX Runtime, the runtime's
`LocalPredictor`) can sit in between.

    det = TextDetector.from_model_dir(det_dir)
    feed, meta = det.preprocess(image_bgr)          # {det.input_name: [1, 3, H', W'] float32}
    polys = det.postprocess(outputs, meta)          # [(poly [4, 2] float32, score), ...]
                                                    # original pixels, PaddleX's order

    rec = TextRecognizer.from_model_dir(rec_dir)
    feed, meta = rec.preprocess_batch(crops_bgr)    # {rec.input_name: [N, 3, 48, W] float32}
    texts = rec.postprocess(outputs, meta)          # [(text, score), ...] one per crop
    rec.image_shape, rec.max_width                  # (3, 48, 320), width limit of a batch

    ori = TextlineOrientation.from_model_dir(ori_dir)
    feed, meta = ori.preprocess_batch(crops_bgr)    # {ori.input_name: [N, 3, 80, 160]}
    labels = ori.postprocess(outputs)               # [(label, score), ...]; label
                                                    # "0_degree" | "180_degree"; angle 0 | 180

`outputs` may be the predictor's output dict (name -> array; the first output is used) or the
array itself. Errors are `generator.toolkit.ToolkitExportError` (bad folder/yml) and
`ValueError` (bad image or outputs).

Two-stage pieces (helper "ocr"): `crops` (rotated crops of quads), `ordering` (reading
order), `pipeline` (det -> [ori] -> rec in process).
"""

from generator.ocr.text_det import TextDetector
from generator.ocr.text_rec import TextRecognizer
from generator.ocr.textline_ori import TextlineOrientation

__all__ = ["TextDetector", "TextRecognizer", "TextlineOrientation"]
