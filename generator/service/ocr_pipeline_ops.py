"""The two-stage OCR service's Ops, chained as Paddle Serving's OCR example chains them: a text
detection Op feeding [a text-line orientation Op, then] a text recognition Op, each with its own
model (`local_service_conf.model_config`), so each stage has its own backend and concurrency.

    det = OcrDetectionOp(name="det", input_ops=[read_op], model_dir=HERE / "det")
    ori = OcrOrientationOp(name="ori", input_ops=[det], model_dir=HERE / "ori")  # optional
    rec = OcrRecognitionOp(name="rec", input_ops=[ori], model_dir=HERE / "rec")

`model_dir` is the folder holding the stage's `inference.yml` (pre/post-processing).

Request: `image` (or `image_0` ... `image_N`): base64 of an encoded image file, or in tensor
mode a uint8 tensor (1-D: the file's bytes; [H, W, 3]: RGB pixels). Answer, per image key, a
JSON string: `[{"text": str, "score": float, "poly": [[x, y], [x, y], [x, y], [x, y]]}]` in
original pixels and reading order (see `generator.ocr.pipeline`, which computes the same in
process).
"""

from __future__ import annotations

import collections
import json
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from generator.imaging import ImageDecodeError
from generator.imaging.limits import check_count
from generator.ocr import pipeline as ocr
from generator.ocr.crops import crop_quads, rotate_180
from generator.ocr.textline_ori import angle_of
from generator.runtime.errors import CustomException, ErrorCode
from generator.runtime.pipeline.operator import Op
from generator.service.ops import image_keys, load_bgr

_MAX_PENDING = 4096
#: PaddleX's `text_det_params` keys, in its order
OCR_DET_PARAMS = ("limit_side_len", "limit_type", "thresh", "max_side_limit", "box_thresh",
                  "unclip_ratio")


def _first_output(fetch: dict) -> dict:
    return {k: v for k, v in fetch.items() if not k.endswith(".lod") and isinstance(v, np.ndarray)}


def _one_input(op: Op, input_dicts: dict) -> dict:
    if len(input_dicts) != 1:
        raise CustomException(ErrorCode.NOT_IMPLEMENTED,
                              f"{type(op).__name__} takes exactly one input Op")
    return next(iter(input_dicts.values()))


class _StageOp(Op):
    """An OCR stage: its `inference.yml` folder and the per-request state between preprocess
    and postprocess (keyed by data_id, as the task Ops keep theirs)."""

    stage: ClassVar[str] = ""

    def __init__(self, name: str | None = None, input_ops: list[Op] | None = None, *,
                 model_dir: str | Path, **op_kwargs: Any):
        super().__init__(name=name, input_ops=input_ops, **op_kwargs)
        self.model_dir = Path(model_dir)
        self._pending: collections.OrderedDict[int, Any] = collections.OrderedDict()

    def _keep(self, data_id: int, state: Any) -> None:
        self._pending[data_id] = state
        while len(self._pending) > _MAX_PENDING:  # requests that failed after preprocess
            self._pending.popitem(last=False)

    def _outputs(self, fetch_data: Any, count: int) -> list[dict]:
        outs = fetch_data if isinstance(fetch_data, list) else [fetch_data]
        if len(outs) != count:
            raise CustomException(ErrorCode.TYPE_ERROR, f"[{self.name}] expected {count} "
                                  f"inference results, got {len(outs)}")
        return [_first_output(o) for o in outs]


class OcrDetectionOp(_StageOp):
    """Decode each request image, detect its text quads (one inference per image: sizes
    differ); passes `{"keys", "images", "quads"}` on, quads in reading order."""

    stage = "text_detection"

    def init_op(self) -> None:
        from generator.ocr import TextDetector

        self.det = TextDetector.from_model_dir(self.model_dir, **ocr.OCR_DET_SETTINGS)

    def preprocess(self, input_dicts, data_id=0, log_id=0):
        request = _one_input(self, input_dicts)
        keys = image_keys(request)
        try:
            check_count(len(keys))
        except ImageDecodeError as exc:
            raise CustomException(ErrorCode.INPUT_PARAMS_ERROR, str(exc)) from None
        images = [load_bgr(k, request[k]) for k in keys]
        feeds, metas = [], []
        for key, image in zip(keys, images, strict=True):
            try:
                feed, meta = self.det.preprocess(image)
            except ValueError as exc:
                raise CustomException(ErrorCode.INPUT_PARAMS_ERROR, f"'{key}': {exc}") from None
            feeds.append(feed)
            metas.append(meta)
        self._keep(data_id, (keys, images, metas))
        return feeds, False, None, ""

    def postprocess(self, input_dicts, fetch_data, data_id=0, log_id=0):
        keys, images, metas = self._pending.pop(data_id)
        quads = [ocr.ordered_quads(self.det, out, meta) for out, meta in
                 zip(self._outputs(fetch_data, len(keys)), metas, strict=True)]
        return {"keys": keys, "images": images, "quads": quads,
                "options": _options(_one_input(self, input_dicts))}, None, ""


def _options(request: dict) -> dict:
    """The request's `paddlex.*` options (PaddleX's API), passed down the stages."""
    return {k: v for k, v in request.items() if isinstance(k, str) and k.startswith("paddlex.")}


def _crops_of(data: dict) -> list[list[np.ndarray]]:
    if "crops" in data:
        return data["crops"]
    return [crop_quads(img, q) for img, q in zip(data["images"], data["quads"], strict=True)]


class OcrOrientationOp(_StageOp):
    """Crop each quad and turn the upside-down lines (text-line orientation model); passes
    `{"keys", "quads", "crops"}` on."""

    stage = "textline_orientation"

    def __init__(self, *args: Any, batch_size_crops: int = ocr.ORI_BATCH_SIZE, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.batch_size_crops = batch_size_crops

    def init_op(self) -> None:
        from generator.ocr import TextlineOrientation

        self.ori = TextlineOrientation.from_model_dir(self.model_dir)

    def preprocess(self, input_dicts, data_id=0, log_id=0):
        data = _one_input(self, input_dicts)
        crops = _crops_of(data)
        flat = [c for per_image in crops for c in per_image]
        n = self.batch_size_crops
        chunks = [flat[k:k + n] for k in range(0, len(flat), n)]
        feeds, metas = [], []
        for chunk in chunks:
            feed, meta = self.ori.preprocess_batch(chunk)
            feeds.append(feed)
            metas.append(meta)
        passed = {"keys": data["keys"], "quads": data["quads"], "crops": crops,
                  "options": data.get("options", {})}
        if not feeds:
            return passed, True, None, ""  # no text anywhere: nothing to classify
        self._keep(data_id, (passed, metas))
        return feeds, False, None, ""

    def postprocess(self, input_dicts, fetch_data, data_id=0, log_id=0):
        if data_id not in self._pending:  # skipped: passed on as it came
            return fetch_data, None, ""
        passed, metas = self._pending.pop(data_id)
        angles: list[int] = []
        for out, meta in zip(self._outputs(fetch_data, len(metas)), metas, strict=True):
            angles += [180 if angle_of(label) == 180 else 0
                       for label, _ in self.ori.postprocess(out, meta)]
        turned, per_image_angles, k = [], [], 0
        for per_image in passed["crops"]:
            turned.append([rotate_180(c) if angles[k + j] == 180 else c
                           for j, c in enumerate(per_image)])
            per_image_angles.append([angles[k + j] // 180 for j in range(len(per_image))])
            k += len(per_image)
        return {**passed, "crops": turned, "angles": per_image_angles}, None, ""


class OcrRecognitionOp(_StageOp):
    """Recognise every crop (batches of similar aspect ratio, per image as PaddleX does) and
    answer `[{"text", "score", "poly"}]` per image key."""

    stage = "text_recognition"
    task: ClassVar[str] = "ocr"

    def __init__(self, *args: Any, batch_size_crops: int = ocr.REC_BATCH_SIZE,
                 score_thresh: float = ocr.REC_SCORE_THRESH, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.batch_size_crops = batch_size_crops
        self.score_thresh = score_thresh

    def init_op(self) -> None:
        from generator.ocr import TextRecognizer

        self.rec = TextRecognizer.from_model_dir(self.model_dir)

    def paddlex_settings(self) -> dict[str, Any]:
        """What PaddleX's API reports as this pipeline's settings (`prunedResult`)."""
        det = OCR_DET_PARAMS
        return {"text_det_params": {k: ocr.OCR_DET_SETTINGS[k] for k in det},
                "use_textline_orientation": any(isinstance(op, OcrOrientationOp)
                                                for op in self._input_ops),
                "text_rec_score_thresh": float(self.score_thresh)}

    def oip_signature(self) -> tuple[list, list]:
        """Open Inference Protocol: `image` BYTES in (encoded files), `image` BYTES out (the
        JSON answer per image)."""
        from generator.runtime.protocols.oip.models import TensorSpec

        return ([TensorSpec("image", "BYTES", [-1], base64=True)],
                [TensorSpec("image", "BYTES", [-1])])

    def preprocess(self, input_dicts, data_id=0, log_id=0):
        data = _one_input(self, input_dicts)
        crops = _crops_of(data)
        plan, feeds = [], []
        for per_image in crops:
            batches = ocr.recognition_feeds(self.rec, per_image, self.batch_size_crops)
            plan.append(batches)
            feeds += [feed for _, feed, _ in batches]
        state = (data["keys"], data["quads"], crops, plan,
                 data.get("angles") if "paddlex.angles" in data.get("options", {}) else None)
        if not feeds:
            return state, True, None, ""  # no text in any image
        self._keep(data_id, state)
        return feeds, False, None, ""

    def postprocess(self, input_dicts, fetch_data, data_id=0, log_id=0):
        if data_id in self._pending:
            keys, quads, crops, plan, angles = self._pending.pop(data_id)
            outputs = self._outputs(fetch_data, sum(len(p) for p in plan))
        else:  # skipped: no text
            keys, quads, crops, plan, angles = fetch_data
            outputs = []
        answers, k = {}, 0
        for i, (key, q, per_image, batches) in enumerate(zip(keys, quads, crops, plan,
                                                               strict=True)):
            try:
                texts = ocr.read_batches(self.rec, batches, outputs[k:k + len(batches)],
                                         len(per_image))
            except ValueError as exc:
                raise CustomException(ErrorCode.TYPE_ERROR, f"[{self.name}] {exc}") from None
            k += len(batches)
            lines = ocr.ocr_lines(q, texts, float("-inf"))
            if angles is not None:  # PaddleX's API: each line's orientation class (0, 1)
                for line, angle in zip(lines, angles[i], strict=True):
                    line["angle"] = angle
            answers[key] = json.dumps([line for line in lines
                                       if line["score"] >= self.score_thresh],
                                      ensure_ascii=False)
        return answers, None, ""


#: local_service_conf keys that decide how a stage's model runs in process too
_RUN_KEYS = ("backend", "use_mkldnn", "thread_num", "ir_optim", "precision")


def local_ocr_pipeline(service_dir: str | Path, device: str = "cpu",
                       **settings: Any) -> ocr.OcrPipeline:
    """The in-process `OcrPipeline` of a generated OCR service folder: each stage's model
    (`op.<det|ori|rec>.local_service_conf.model_config` of its config.yml) run the way the
    service runs it (backend, oneDNN, threads), with the stage folder's inference.yml."""
    from generator.runtime.config import load_pipeline_config

    folder = Path(service_dir).resolve()
    conf = load_pipeline_config(str(folder / "config.yml"))
    dirs: list[Path | None] = []
    servers: list[Path | None] = []
    options: list[dict[str, Any]] = []
    for op_name in ("det", "rec", "ori"):  # OcrPipeline.from_model_dirs' order
        local = (conf["op"].get(op_name) or {}).get("local_service_conf") or {}
        model = local.get("model_config")
        server = None if not model else Path(model) if Path(model).is_absolute() \
            else folder / model
        dirs.append(server.parent if server else None)
        servers.append(server)
        options.append({"device": device, **{k: local[k] for k in _RUN_KEYS
                                             if local.get(k) is not None}})
    if dirs[0] is None or dirs[1] is None:
        raise ValueError(f"{folder}/config.yml: an OCR service needs Ops 'det' and 'rec' with "
                         "local_service_conf.model_config")
    return ocr.OcrPipeline.from_model_dirs(*dirs, predictor_dirs=servers,
                                           predictor_options=options, **settings)
