"""The two-stage OCR pipeline in process: detect text quads -> crop each -> [text-line
orientation: turn upside-down lines] -> recognise the crops in batches grouped by aspect ratio ->
`[{"text", "score", "poly"}]` in original pixels, in reading order.

It follows PaddleX's OCR pipeline (`paddlex.create_pipeline("OCR")` without document
preprocessing): quads sorted top to bottom then left to right (`ordering`), crops as
`CropByPolys` cuts them (`crops`), crops sorted by width / height and recognised
`REC_BATCH_SIZE` at a time (each batch padded to its widest crop, so neighbours in a batch have
similar widths), the detector run with the pipeline's settings (`OCR_DET_SETTINGS`), lines
whose recognition score is under `score_thresh` dropped (PaddleX's default threshold is 0.0:
none is). The same functions run inside the served Ops
(`generator.service.ocr_pipeline_ops`), and `OcrPipeline` is what `scaffold verify` compares a
served OCR service with.

Each stage runs through a `Runner`: a callable from a feed dict to the model's outputs (a
`LocalPredictor.predict`, any backend), so every stage can have its own backend.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from generator.ocr.crops import crop_quads, rotate_180
from generator.ocr.ordering import reading_order
from generator.ocr.text_det import TextDetector
from generator.ocr.text_rec import TextRecognizer
from generator.ocr.textline_ori import TextlineOrientation, angle_of

#: a model: feed dict -> outputs (name -> array)
Runner = Callable[[dict[str, np.ndarray]], Any]

#: crops recognised per inference (PaddleX's OCR pipeline config: TextRecognition batch_size)
REC_BATCH_SIZE = 6
#: crops classified per inference (TextLineOrientation batch_size)
ORI_BATCH_SIZE = 6
#: lines recognised with a lower score are dropped (PaddleX: TextRecognition score_thresh)
REC_SCORE_THRESH = 0.0
#: the text detection settings PaddleX's OCR pipeline gives its detector (OCR.yaml
#: SubModules.TextDetection), whatever the model's own defaults
OCR_DET_SETTINGS: dict[str, Any] = {"limit_side_len": 64, "limit_type": "min",
                                    "max_side_limit": 4000, "thresh": 0.3, "box_thresh": 0.6,
                                    "unclip_ratio": 1.5}


def ordered_quads(det: TextDetector, outputs: Any, meta: Any) -> list[np.ndarray]:
    """The text quads ([4, 2] float32, original pixels) of one image's detector outputs, in
    reading order."""
    quads = [np.asarray(poly, dtype=np.float32).reshape(4, 2)
             for poly, _ in det.postprocess(outputs, meta)]
    return [quads[i] for i in reading_order(quads)]


def detect_quads(det: TextDetector, run: Runner, image_bgr: np.ndarray) -> list[np.ndarray]:
    """The text quads of one image (see `ordered_quads`)."""
    feed, meta = det.preprocess(image_bgr)
    return ordered_quads(det, run(feed), meta)


def ratio_batches(crops: Sequence[np.ndarray], batch_size: int) -> list[list[int]]:
    """Crop indices grouped for recognition: sorted by width / height (stable), then cut into
    batches of `batch_size`."""
    order = sorted(range(len(crops)), key=lambda i: crops[i].shape[1] / float(crops[i].shape[0]))
    return [order[k:k + batch_size] for k in range(0, len(order), batch_size)]


def orient_crops(ori: TextlineOrientation, run: Runner, crops: Sequence[np.ndarray],
                 batch_size: int = ORI_BATCH_SIZE) -> tuple[list[np.ndarray], list[int]]:
    """(crops with upside-down lines turned, angle per crop: 0 or 180)."""
    angles: list[int] = []
    for k in range(0, len(crops), batch_size):
        chunk = list(crops[k:k + batch_size])
        feed, meta = ori.preprocess_batch(chunk)
        for label, _ in ori.postprocess(run(feed), meta):
            angles.append(180 if angle_of(label) == 180 else 0)
    turned = [rotate_180(c) if a == 180 else c for c, a in zip(crops, angles, strict=True)]
    return turned, angles


def recognition_feeds(rec: TextRecognizer, crops: Sequence[np.ndarray],
                      batch_size: int = REC_BATCH_SIZE) -> list[tuple[list[int], dict, Any]]:
    """[(crop indices, feed, meta)] per recognition batch (see `ratio_batches`)."""
    out = []
    for idxs in ratio_batches(crops, batch_size):
        feed, meta = rec.preprocess_batch([crops[i] for i in idxs])
        out.append((idxs, feed, meta))
    return out


def read_batches(rec: TextRecognizer, batches: Sequence[tuple[list[int], dict, Any]],
                 outputs: Sequence[Any], count: int) -> list[tuple[str, float]]:
    """(text, score) per crop, in crop order, from each batch's model outputs."""
    texts: list[tuple[str, float]] = [("", 0.0)] * count
    for (idxs, _, meta), out in zip(batches, outputs, strict=True):
        decoded = rec.postprocess(out, meta)
        if len(decoded) != len(idxs):
            raise ValueError(f"the recognition model answered for {len(decoded)} lines, the "
                             f"batch had {len(idxs)}")
        for i, (text, score) in zip(idxs, decoded, strict=True):
            texts[i] = (str(text), float(score))
    return texts


def recognize_crops(rec: TextRecognizer, run: Runner, crops: Sequence[np.ndarray],
                    batch_size: int = REC_BATCH_SIZE) -> list[tuple[str, float]]:
    """(text, score) per crop, in crop order; crops recognised in batches of similar ratio."""
    batches = recognition_feeds(rec, crops, batch_size)
    return read_batches(rec, batches, [run(feed) for _, feed, _ in batches], len(crops))


def _number(v: float) -> float | int:
    v = float(v)
    return int(v) if v.is_integer() else round(v, 3)


def ocr_lines(quads: Sequence[np.ndarray], texts: Sequence[tuple[str, float]],
              score_thresh: float = REC_SCORE_THRESH) -> list[dict[str, Any]]:
    """The answer for one image: `[{"text", "score", "poly": [[x, y] x 4]}]` in the quads'
    order, lines scored under `score_thresh` left out."""
    return [{"text": text, "score": float(score),
             "poly": [[_number(x), _number(y)] for x, y in np.asarray(quad).reshape(4, 2)]}
            for quad, (text, score) in zip(quads, texts, strict=True) if score >= score_thresh]


@dataclass
class OcrPipeline:
    """det -> crops -> [ori] -> rec over one runner per stage (see the module docstring)."""

    det: TextDetector
    rec: TextRecognizer
    run_det: Runner
    run_rec: Runner
    ori: TextlineOrientation | None = None
    run_ori: Runner | None = None
    rec_batch_size: int = REC_BATCH_SIZE
    ori_batch_size: int = ORI_BATCH_SIZE
    score_thresh: float = REC_SCORE_THRESH

    def predict(self, image_bgr: np.ndarray) -> list[dict[str, Any]]:
        """The OCR answer for one BGR uint8 image."""
        quads = detect_quads(self.det, self.run_det, image_bgr)
        if not quads:
            return []
        crops = crop_quads(image_bgr, quads)
        if self.ori is not None and self.run_ori is not None:
            crops, _ = orient_crops(self.ori, self.run_ori, crops, self.ori_batch_size)
        texts = recognize_crops(self.rec, self.run_rec, crops, self.rec_batch_size)
        return ocr_lines(quads, texts, self.score_thresh)

    @classmethod
    def from_model_dirs(cls, det_dir: str | Path, rec_dir: str | Path,
                        ori_dir: str | Path | None = None, *,
                        predictor_dirs: Sequence[str | Path | None] | None = None,
                        predictor_options: Sequence[dict[str, Any]] | None = None,
                        **settings: Any) -> OcrPipeline:
        """A pipeline of the toolkit export folders `det_dir`, `rec_dir` [, `ori_dir`], each
        run by a `LocalPredictor` (on the same folders, or on `predictor_dirs[i]` — e.g. a
        service's converted `serving_server/` — with `predictor_options[i]`: backend,
        use_mkldnn, thread_num, ...)."""
        from generator.runtime.inference.predictor import LocalPredictor

        dirs = [det_dir, rec_dir, ori_dir]
        where = list(predictor_dirs or dirs)
        options = list(predictor_options or [{}, {}, {}])

        def runner(i: int) -> Runner | None:
            if dirs[i] is None:
                return None
            predictor = LocalPredictor(where[i] or dirs[i], **(options[i] if i < len(options)
                                                                 else {}))
            return lambda feed: predictor.predict(feed)

        return cls(det=TextDetector.from_model_dir(det_dir, **OCR_DET_SETTINGS),
                   rec=TextRecognizer.from_model_dir(rec_dir), run_det=runner(0),
                   run_rec=runner(1),
                   ori=TextlineOrientation.from_model_dir(ori_dir) if ori_dir else None,
                   run_ori=runner(2), **settings)
