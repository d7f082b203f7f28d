"""`paddlex --serve` (PaddleX 3.7.2 basic serving, side venv) on local model folders, and the
pydantic schemas of its API, for tests and benchmarks only (never a product dependency).

    with paddlex_server(pipeline_config("object_detection", "PicoDet-S", model_dir),
                        tmp_path) as base:          # "http://127.0.0.1:<port>"
        requests.post(base + "/object-detection", json=...)
    built, checked = schemas(build=[...], check=[...])   # see paddlex_schemas_check.py

The serving extra (`paddlex[serving,cv]`) is installed into the oracle's venv by
`paddlex_oracle.build_venv` (stamp `.serving-installed`); `serving_unavailable()` says why not.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests
import yaml

from tests.helpers import paddlex_oracle as po
from tests.helpers.services import free_port

CHECK_SCRIPT = Path(__file__).with_name("paddlex_schemas_check.py")
START_S = 300.0
#: our task -> (PaddleX pipeline, its sub-module key, module name, the keys its pipeline reads)
PIPELINES = {"detection": ("object_detection", "ObjectDetection", "object_detection",
                           {"img_size": None, "threshold": None}),
             "classification": ("image_classification", "ImageClassification",
                                "image_classification", {"topk": 5}),
             "segmentation": ("semantic_segmentation", "SemanticSegmentation",
                              "semantic_segmentation", {"target_size": None})}
#: PaddleX's CPU engine settings of the oracle (its default oneDNN mode crashes on some graphs)
ENGINE = {"engine": "paddle_static", "engine_config": {"run_mode": "paddle"}}


def serving_unavailable() -> str:
    """Why `paddlex --serve` cannot run here ("" when it can); builds the venv if needed."""
    if po.PaddleXOracle.get() is None:
        return po.PaddleXOracle.unavailable_reason()
    if not po.serving_installed():
        try:
            po.build_venv(po.FIXTURE_BUILD_TIMEOUT)  # adds the serving extra
        except po.OracleUnavailable as e:
            return str(e)
    if not po.serving_installed():
        return f"the serving extra cannot be installed in {po.VENV} (make paddlex-oracle)"
    return ""


def pipeline_config(task: str, model_name: str, model_dir: str | Path) -> dict[str, Any]:
    """A one-model PaddleX pipeline config for our `task` on a local folder."""
    pipeline, key, module, extra = PIPELINES[task]
    sub: dict[str, Any] = {"module_name": module, "model_name": model_name,
                           "model_dir": str(model_dir), "batch_size": 1, **extra}
    return {"pipeline_name": pipeline, **ENGINE, "Serving": {"visualize": False},
            "SubModules": {key: sub}}


def ocr_config(det: tuple[str, Path], rec: tuple[str, Path],
               ori: tuple[str, Path] | None = None) -> dict[str, Any]:
    """PaddleX's OCR pipeline on local det + rec [+ text-line orientation] folders, with the
    oracle's settings (orientation batch 1: see paddlex_predict.run_ocr)."""
    det_params = {"limit_side_len": 64, "limit_type": "min", "max_side_limit": 4000,
                  "thresh": 0.3, "box_thresh": 0.6, "unclip_ratio": 1.5}
    config = {"pipeline_name": "OCR", **ENGINE, "Serving": {"visualize": False},
              "text_type": "general", "use_doc_preprocessor": False,
              "use_textline_orientation": ori is not None,
              "SubModules": {
                  "TextDetection": {"module_name": "text_detection", "model_name": det[0],
                                    "model_dir": str(det[1]), **det_params},
                  "TextRecognition": {"module_name": "text_recognition", "model_name": rec[0],
                                      "model_dir": str(rec[1]), "batch_size": 6,
                                      "score_thresh": 0.0}}}
    if ori is not None:
        config["SubModules"]["TextLineOrientation"] = {
            "module_name": "textline_orientation", "model_name": ori[0],
            "model_dir": str(ori[1]), "batch_size": 1}
    return config


@contextmanager
def paddlex_server(config: dict[str, Any], workdir: Path, port: int | None = None,
                   threads: int = 2) -> Iterator[str]:
    """`paddlex --serve` with `config` on 127.0.0.1, offline; yields its base URL once
    `GET /health` answers. Its log is `workdir/paddlex-serve.log`."""
    port = port or free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    config_path = workdir / "pipeline.yaml"
    config_path.write_text(yaml.safe_dump(config), encoding="utf-8")
    env = po.oracle_env(workdir / "pdx-cache")
    env.update({"PADDLE_PDX_CPU_NUM_THREADS": str(threads), "OMP_NUM_THREADS": str(threads)})
    log_path = workdir / "paddlex-serve.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [str(po.VENV / "bin" / "paddlex"), "--serve", "--pipeline", str(config_path),
             "--device", "cpu", "--host", "127.0.0.1", "--port", str(port)],
            cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_S
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"paddlex --serve exited with {proc.returncode}:\n"
                                   f"{log_path.read_text(errors='replace')[-3000:]}")
            try:
                if requests.get(base + "/health", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"paddlex --serve not up after {START_S:.0f}s:\n"
                                   f"{log_path.read_text(errors='replace')[-3000:]}")
            time.sleep(0.5)
        yield base
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)


def schemas(build: list[dict[str, Any]] = (), check: list[dict[str, Any]] = (),
            timeout: float = 300.0) -> tuple[list[dict], list[str | None]]:
    """Run paddlex_schemas_check.py in the side venv: the built requests and the check
    results (None: valid)."""
    with tempfile.TemporaryDirectory(prefix="pdx-schemas-") as tmp:
        job, out = Path(tmp) / "job.json", Path(tmp) / "out.json"
        job.write_text(json.dumps({"build": list(build), "check": list(check)}),
                       encoding="utf-8")
        proc = subprocess.run([str(po.VENV / "bin" / "python"), str(CHECK_SCRIPT), str(job),
                               str(out)], capture_output=True, text=True, timeout=timeout,
                              env=po.oracle_env(Path(tmp) / "cache"), cwd=tmp)
        if proc.returncode != 0 or not out.exists():
            raise RuntimeError(f"schema check failed (rc {proc.returncode}):\n"
                               f"{(proc.stderr or proc.stdout)[-3000:]}")
        data = json.loads(out.read_text(encoding="utf-8"))
    return data["built"], data["checked"]
