"""Served answers vs PaddleX's: generate a service from toolkit export folders, start it, ask it
over HTTP, run its Op in process, and compare answers with the tolerances of issue 19
(polygons within 2 px, same texts, scores within 1e-3, boxes equal after clipping)."""

from __future__ import annotations

import base64
import importlib.util
import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import requests

from tests.helpers.paddlex_oracle import PaddleXOracle
from tests.helpers.services import free_port, start_service, stop_service

POLY_PX = 2.0
SCORE_TOL = 1e-3
BOX_PX = 0.05  # the same graph on both sides: boxes agree to float noise once clipped
SERVICE_START_S = 180.0
REQUEST_S = 120.0


def require_oracle() -> PaddleXOracle:
    """The PaddleX oracle, or skip the test with the reason it cannot be built."""
    oracle = PaddleXOracle.get()
    if oracle is None:
        pytest.skip(f"PaddleX 3.7.2 oracle unavailable: {PaddleXOracle.unavailable_reason()}")
    return oracle


def generate(model_dirs: Sequence[Path], out: Path, name: str = "m") -> tuple[Path, int, int]:
    """`scaffold new --model-dir D [--model-dir D2 ...]` into `out` on free ports; returns
    (out, http_port, rpc_port)."""
    from click.testing import CliRunner

    from generator.cli import main

    http_port, rpc_port = free_port(), free_port()
    args = ["new", "--output", str(out), "--name", name, "--http-port", str(http_port),
            "--rpc-port", str(rpc_port), "--no-vendor"]
    for d in model_dirs:
        args += ["--model-dir", str(d)]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, f"scaffold new failed:\n{res.output}"
    return out, http_port, rpc_port


@contextmanager
def running(folder: Path, http_port: int) -> Iterator[str]:
    """The generated service in `folder` running as a subprocess; yields its prediction URL."""
    proc = start_service(["web_service.py"], folder, http_port, timeout=SERVICE_START_S)
    try:
        yield f"http://127.0.0.1:{http_port}/{_service_name(folder)}/prediction"
    finally:
        stop_service(proc)


def _service_name(folder: Path) -> str:
    for line in (folder / "web_service.py").read_text().splitlines():
        if line.startswith("NAME = "):
            return line.split("=", 1)[1].strip().strip("\"'")
    raise AssertionError(f"no NAME in {folder / 'web_service.py'}")


def ask(url: str, image: Path) -> Any:
    """POST one image (base64, key "image") and return the decoded value."""
    body = {"key": ["image"], "value": [base64.b64encode(image.read_bytes()).decode()]}
    resp = requests.post(url, json=body, timeout=REQUEST_S)
    assert resp.status_code == 200, resp.text[:2000]
    data = resp.json()
    assert data["err_no"] == 0, data
    return json.loads(data["value"][0])


def ask_grpc(rpc_port: int, image: Path) -> Any:
    """The same request over gRPC (Paddle Serving's PipelineClient)."""
    from generator.runtime import PipelineClient

    with PipelineClient() as client:
        client.connect([f"127.0.0.1:{rpc_port}"])
        resp = client.predict({"image": base64.b64encode(image.read_bytes()).decode()})
    assert resp.err_no == 0, resp.err_msg
    return json.loads(resp.value[0])


def local_answers(folder: Path, images: Sequence[Path]) -> list[Any]:
    """The generated service's own Op (from its web_service.py) run in process."""
    from generator.runtime import RequestOp
    from generator.service import LocalService

    spec = importlib.util.spec_from_file_location(f"web_service_{folder.name}",
                                                  folder / "web_service.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    op = mod.Service.__new__(mod.Service).get_pipeline_response(RequestOp())
    svc = LocalService(op, folder / "serving_server")
    return [svc.predict_images({"image": p.read_bytes()})["image"] for p in images]


# ----------------------------------------------------------------------------- comparisons


def match_polys(got: Sequence[tuple[Any, float]], want: Sequence[tuple[Any, float]],
                where: str) -> None:
    """Same number of quads; each PaddleX quad has its own got quad within POLY_PX on every
    vertex with the score within SCORE_TOL (matched greedily, nearest first)."""
    assert len(got) == len(want), f"{where}: {len(got)} quads, PaddleX {len(want)}:\n" \
                                  f"got {[np.asarray(p).tolist() for p, _ in got]}\n" \
                                  f"want {[np.asarray(p).tolist() for p, _ in want]}"
    free = list(range(len(got)))
    for wp, ws in want:
        wp = np.asarray(wp, dtype=np.float64).reshape(-1, 2)
        dists = [np.abs(np.asarray(got[i][0], dtype=np.float64).reshape(-1, 2) - wp).max()
                 if np.asarray(got[i][0]).size == wp.size else np.inf for i in free]
        j = int(np.argmin(dists))
        assert dists[j] <= POLY_PX, f"{where}: no quad within {POLY_PX}px of PaddleX's " \
                                    f"{wp.tolist()} (nearest {dists[j]:.2f}px)"
        gs = got[free[j]][1]
        assert abs(gs - ws) <= SCORE_TOL, f"{where}: quad {wp.tolist()} score {gs} vs {ws}"
        free.pop(j)


def match_boxes(got: Sequence[dict[str, Any]], want: Sequence[dict[str, Any]], where: str
                ) -> None:
    """Detection boxes: the same (class, score, box) multiset; boxes within BOX_PX. At the
    NMS output's cut (keep_top_k) rows whose scores tie within SCORE_TOL with the last kept
    one may be chosen differently (OpenVINO's multi-threaded NMS breaks exact ties in another
    order than Paddle's): such a PaddleX row may pair with an unmatched served row of the same
    class and score; nowhere else."""
    assert len(got) == len(want), f"{where}: {len(got)} boxes, PaddleX {len(want)}"
    free = list(range(len(got)))
    cut = min((w["score"] for w in want), default=0.0)
    at_cut = []
    for w in want:
        wb = np.asarray(w["coordinate"], dtype=np.float64)
        best, best_d = None, np.inf
        for k, i in enumerate(free):
            g = got[i]
            if g["category_id"] != w["cls_id"] or abs(g["score"] - w["score"]) > SCORE_TOL:
                continue
            d = np.abs(np.asarray(g["bbox"], dtype=np.float64) - wb).max()
            if d < best_d:
                best, best_d = k, d
        if (best is None or best_d > BOX_PX) and w["score"] - cut <= SCORE_TOL:
            at_cut.append(w)
            continue
        assert best is not None and best_d <= BOX_PX, \
            f"{where}: PaddleX box {w} has no served match (nearest {best_d:.3f}px)"
        free.pop(best)
    for w in at_cut:  # a tie at the cut: any unmatched row of that class and score
        k = next((k for k, i in enumerate(free) if got[i]["category_id"] == w["cls_id"]
                  and abs(got[i]["score"] - w["score"]) <= SCORE_TOL), None)
        assert k is not None, f"{where}: PaddleX box {w} (at the top-k cut) has no served match"
        free.pop(k)


def decode_label_map(png_b64: str) -> np.ndarray:
    import cv2

    buf = np.frombuffer(base64.b64decode(png_b64), np.uint8)
    return cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
