"""Run PaddleX predictions for the test oracle. Runs INSIDE the PaddleX side venv, standalone
(imports nothing from this repository): `python paddlex_predict.py JOB.json OUT.json`.

JOB: {"tasks": [task, ...]}, each task one of
  {"model_name": str, "model_dir": str, "images": [path, ...], "predict_kwargs": {...}}
  {"pipeline": "OCR", "det": [name, dir], "rec": [name, dir], "ori": [name, dir] | null,
   "images": [path, ...], "det_params": {...}}
OUT: {"results": [[per-image dict, ...] per task], "versions": {...}}; per-image dicts hold
PaddleX's result fields with numpy values as lists (input images are left out).

PaddleX runs on CPU with the Paddle Inference engine without oneDNN (`run_mode: paddle`): its
default oneDNN mode crashes on programs with double-array attributes (e.g. `interpolate`).
"""

from __future__ import annotations

import json
import sys
from typing import Any

import numpy as np

ENGINE = {"device": "cpu", "engine": "paddle_static", "engine_config": {"run_mode": "paddle"}}
#: result fields left out: images, font objects and the pipeline's echo of its settings
SKIP = {"input_img", "vis_font", "vis_fonts", "doc_preprocessor_res", "model_settings",
        "text_det_params"}


def _plain(v: Any) -> Any:
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items() if k not in SKIP}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, (str, int, float, bool)) or v is None:
        return v
    return str(v)


def _result(r: Any) -> dict[str, Any]:
    return {k: _plain(v) for k, v in dict(r).items() if k not in SKIP}


def run_model(task: dict[str, Any]) -> list[dict[str, Any]]:
    import paddlex

    model = paddlex.create_model(task["model_name"], model_dir=task["model_dir"], **ENGINE)
    kwargs = task.get("predict_kwargs") or {}
    return [_result(r) for img in task["images"] for r in model.predict(img, **kwargs)]


def run_ocr(task: dict[str, Any]) -> list[dict[str, Any]]:
    import paddlex

    def module(name_dir: list[str], **extra: Any) -> dict[str, Any]:
        return {"model_name": name_dir[0], "model_dir": name_dir[1], **extra}

    det_params = {"limit_side_len": 64, "limit_type": "min", "max_side_limit": 4000,
                  "thresh": 0.3, "box_thresh": 0.6, "unclip_ratio": 1.5}
    det_params.update(task.get("det_params") or {})
    config = {
        "pipeline_name": "OCR",
        "text_type": "general",
        "use_doc_preprocessor": False,
        "use_textline_orientation": bool(task.get("ori")),
        "SubModules": {
            "TextDetection": module(task["det"], module_name="text_detection", **det_params),
            "TextRecognition": module(task["rec"], module_name="text_recognition",
                                      batch_size=6, score_thresh=0.0),
        },
    }
    if task.get("ori"):
        # batch_size 1: in PaddleX 3.7.2 every result of a classification batch carries the
        # whole batch's class_ids, and the OCR pipeline reads `class_ids.ravel()[0]`, so with
        # its default batch of 6 every line of a batch is turned like the batch's first line.
        # One line per batch gives each line its own class (what the pipeline means to do).
        config["SubModules"]["TextLineOrientation"] = module(
            task["ori"], module_name="textline_orientation", batch_size=1)
    pipeline = paddlex.create_pipeline(config=config, **ENGINE)
    return [_result(r) for img in task["images"] for r in pipeline.predict(img)]


def main(job_path: str, out_path: str) -> None:
    import paddle
    import paddlex

    with open(job_path, encoding="utf-8") as f:
        job = json.load(f)
    results = [run_ocr(t) if t.get("pipeline") == "OCR" else run_model(t) for t in job["tasks"]]
    with open(out_path, "w", encoding="utf-8") as f:
        json.dump({"results": results,
                   "versions": {"paddlex": paddlex.__version__, "paddle": paddle.__version__}},
                  f, ensure_ascii=False)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
