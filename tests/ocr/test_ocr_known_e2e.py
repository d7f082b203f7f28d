"""The two-stage OCR service proven against the truth: networks whose outputs are known by
construction (tests/ocr/known_models.py: a detector marking dark pixels, a recognizer spelling
the characters colour codes stand for), a page whose lines, texts and corners are known, and
`scaffold new --model-dir DET --model-dir REC` served by a real subprocess over HTTP and gRPC.

What it checks against the truth: the boxes (DB map -> unclipped quads in original pixels),
the reading order (a right neighbour 4 px higher stays second; rows top to bottom), the crops
(a tilted line warped upright, a vertical line turned to read top down: any mirrored or
turned crop would spell the text backwards), CTC decoding (a repeated character kept across a
blank) and the dictionary (characters scattered in the yml's `character_dict`, one of them
non-ASCII), recognition in batches grouped by width (8 crops: 6 + 2); with a text-line
orientation model (a third --model-dir), an upside-down line turned before recognition."""

from __future__ import annotations

import base64
import json

import cv2
import numpy as np
import pytest
import requests
import yaml
from click.testing import CliRunner

from generator.runtime import PipelineClient
from generator.service.ocr_pipeline_ops import local_ocr_pipeline
from tests.helpers.services import free_port, start_service, stop_service
from tests.ocr.known_models import (
    page_one,
    page_two,
    save_code_rec,
    save_dark_det,
    save_top_ori,
    unclipped,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def ocr_service(tmp_path_factory):
    """(service folder, http_port, rpc_port, page PNG bytes, lines) of a generated service."""
    from generator.cli import main

    root = tmp_path_factory.mktemp("ocr_known")
    det, rec = save_dark_det(root / "det_model"), save_code_rec(root / "rec_model")
    http_port, rpc_port = free_port(), free_port()
    out = root / "ocr_serving"
    res = CliRunner().invoke(main, ["new", "--model-dir", str(det), "--model-dir", str(rec),
                                    "--output", str(out), "--no-vendor", "--http-port",
                                    str(http_port), "--rpc-port", str(rpc_port)],
                             catch_exceptions=False)
    assert res.exit_code == 0, res.output
    page, lines = page_one()
    ok, png = cv2.imencode(".png", page)
    assert ok
    return out, http_port, rpc_port, png.tobytes(), lines


def _http(port: int, keys: list[str], values: list[str]) -> dict:
    r = requests.post(f"http://127.0.0.1:{port}/ocr/prediction",
                      json={"key": keys, "value": values}, timeout=120)
    assert r.status_code == 200
    return r.json()


def _oip_answers(http_port: int, rpc_port: int, png: bytes) -> list:
    """The pipeline model `ocr` over the Open Inference Protocol (REST with binary tensors,
    then gRPC): the JSON answer of one image each."""
    import tritonclient.grpc as grpcclient
    import tritonclient.http as httpclient

    out = []
    for module, url, extra in ((httpclient, f"127.0.0.1:{http_port}", {"binary_data": True}),
                               (grpcclient, f"127.0.0.1:{rpc_port}", {})):
        client = module.InferenceServerClient(url)
        inp = module.InferInput("image", [1], "BYTES")
        inp.set_data_from_numpy(np.array([png], dtype=np.object_), **extra)
        out.append(json.loads(client.infer("ocr", [inp]).as_numpy("image")[0]))
        client.close()
    return out


def _check_truth(answer: list[dict], lines) -> None:
    assert [a["text"] for a in answer] == [ln.text for ln in lines]
    for a, ln in zip(answer, lines, strict=True):
        assert set(a) == {"text", "score", "poly"}
        assert a["score"] > 0.99, a
        got = np.array(a["poly"], dtype=float)
        want = unclipped(ln.corners)
        # every expected corner has a detected one near it (pixel rounding; the tilted line's
        # contour is a staircase)
        dist = np.linalg.norm(got[:, None, :] - want[None, :, :], axis=-1).min(axis=0)
        assert dist.max() < 3.5, (ln.text, got.tolist(), want.round(1).tolist())


def test_ocr_service_answers_the_known_truth_over_http_and_grpc(ocr_service):
    folder, http_port, rpc_port, png, lines = ocr_service
    conf = yaml.safe_load((folder / "config.yml").read_text())
    assert set(conf["op"]) == {"det", "rec"}  # one Op per stage, each with its model
    assert conf["op"]["det"]["local_service_conf"]["model_config"] == "det/serving_server"
    assert conf["op"]["rec"]["local_service_conf"]["model_config"] == "rec/serving_server"
    assert all(conf["op"][op]["local_service_conf"]["backend"] for op in ("det", "rec"))
    blank = cv2.imencode(".png", np.full((200, 300, 3), 255, np.uint8))[1].tobytes()
    b64 = base64.b64encode(png).decode()
    proc = start_service(["web_service.py"], folder, http_port, timeout=180)
    try:
        http = _http(http_port, ["image_0", "image_1"],
                     [b64, base64.b64encode(blank).decode()])
        bad = _http(http_port, ["image"], ["bm90IGFuIGltYWdl"])  # base64 of "not an image"
        with PipelineClient() as client:
            client.connect([f"127.0.0.1:{rpc_port}"])
            grpc = client.predict({"image": b64})
            tensor = client.predict({"image": np.frombuffer(png, np.uint8)},
                                    pack_tensor_format=True)
        again = _http(http_port, ["image"], [b64])  # the bad request did not hurt the service
        oip = _oip_answers(http_port, rpc_port, png)
        doc = requests.get(f"http://127.0.0.1:{http_port}/openapi.json", timeout=30).json()
        page_html = requests.get(f"http://127.0.0.1:{http_port}/", timeout=30).text
    finally:
        assert stop_service(proc) == 0
    assert http["err_no"] == 0, http["err_msg"]
    answers = dict(zip(http["key"], http["value"], strict=True))
    assert json.loads(answers["image_1"]) == []
    served = json.loads(answers["image_0"])
    _check_truth(served, lines)
    assert bad["err_no"] == 5000 and "image" in bad["err_msg"]
    for resp in (grpc, tensor):
        assert resp.err_no == 0, resp.err_msg
        assert json.loads(dict(zip(resp.key, resp.value, strict=True))["image"]) == served
    assert json.loads(again["value"][0]) == served
    assert oip == [served, served]  # Open Inference Protocol, REST and gRPC: the same answer
    # the API description and the try page know the answer's form
    assert doc["x-service"] == {"name": "ocr", "task": "ocr"}
    described = doc["paths"]["/ocr/prediction"]["post"]["description"]
    assert '"poly": [[x, y], [x, y], [x, y], [x, y]]' in described and "reading order" in described
    assert '"task": "ocr"' in page_html and "drawOcr" in page_html


def test_in_process_pipeline_equals_the_truth_and_batches_by_width(ocr_service):
    folder, _, _, png, lines = ocr_service
    pipeline = local_ocr_pipeline(folder)
    page = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
    feeds = []
    run_rec = pipeline.run_rec

    def recording(feed):
        feeds.append(next(iter(feed.values())))
        return run_rec(feed)

    pipeline.run_rec = recording
    answer = pipeline.predict(page)
    _check_truth(answer, lines)
    # 8 crops, 6 per batch, the narrowest first: each batch padded to its widest crop, at least
    # 320 px (PaddleX's base width at height 48); only the widest line is wider than that
    assert [f.shape[0] for f in feeds] == [6, 2]
    assert feeds[0].shape[3] == 320 < feeds[1].shape[3]


def test_scaffold_verify_and_bench_run_on_the_ocr_service(ocr_service):
    from generator.quality.bench import BenchOptions, bench_service
    from generator.quality.verify import VerifyOptions, verify_service

    folder, _, _, png, _ = ocr_service
    report = verify_service(folder, VerifyOptions(images={"page.png": png}))
    assert report.ok, report.table()
    ran = {c.name: c for c in report.checks if not c.skipped}
    assert set(ran) == {"grpc page.png", "http page.png"}
    assert all("8 lines" in c.note for c in ran.values())
    # generated images hold no text: verify says so instead of passing on empty answers
    blank = cv2.imencode(".png", np.full((64, 64, 3), 255, np.uint8))[1].tobytes()
    empty = verify_service(folder, VerifyOptions(images={"blank.png": blank},
                                                 protocols=("http",)))
    assert not empty.ok and "no text line" in empty.table()

    bench = bench_service(folder, BenchOptions(image=png, concurrency=(1, 2), duration=1.0,
                                               protocols=("grpc", "http"),
                                               baseline_seconds=0.5, progress=False))
    assert set(bench.inprocess_ips) == {1} and bench.inprocess_ips[1] > 0
    assert [(lv.protocol, lv.concurrency) for lv in bench.levels] == \
        [("grpc", 1), ("grpc", 2), ("http", 1), ("http", 2)]
    assert all(lv.errors == 0 and lv.qps > 0 for lv in bench.levels)

    from generator.scaffold.backend_compare import compare_service_backends

    table = compare_service_backends(folder)  # scaffold bench --backends: stage by stage
    assert "det (det/): config.yml uses backend" in table
    assert "rec (rec/): config.yml uses backend" in table
    assert table.count("same outputs") >= 2


def test_orientation_stage_turns_upside_down_lines(tmp_path):
    from generator.cli import main
    from generator.ocr.pipeline import OcrPipeline

    det, rec = save_dark_det(tmp_path / "det_model"), save_code_rec(tmp_path / "rec_model")
    ori = save_top_ori(tmp_path / "ori_model")
    http_port, rpc_port = free_port(), free_port()
    out = tmp_path / "ocr_serving"
    res = CliRunner().invoke(main, [  # any order: the kinds come from each inference.yml
        "new", "--model-dir", str(ori), "--model-dir", str(rec), "--model-dir", str(det),
        "--output", str(out), "--no-vendor", "--backend", "paddle", "--http-port",
        str(http_port), "--rpc-port", str(rpc_port)], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    assert list(yaml.safe_load((out / "config.yml").read_text())["op"]) == ["det", "ori", "rec"]
    page, lines = page_two()
    b64 = base64.b64encode(cv2.imencode(".png", page)[1].tobytes()).decode()
    proc = start_service(["web_service.py"], out, http_port, timeout=180)
    try:
        answer = _http(http_port, ["image"], [b64])
    finally:
        assert stop_service(proc) == 0
    assert answer["err_no"] == 0, answer["err_msg"]
    _check_truth(json.loads(answer["value"][0]), lines)
    assert lines[1].text == "901"
    # without the orientation stage the upside-down line reads backwards
    bare = OcrPipeline.from_model_dirs(det, rec).predict(page)
    assert [a["text"] for a in bare] == ["4中7", "109", "-14"]


def test_generated_infer_py_prints_the_service_answer(ocr_service, tmp_path):
    import subprocess
    import sys

    from tests.helpers.services import service_env

    folder, _, _, png, lines = ocr_service
    (tmp_path / "page.png").write_bytes(png)
    proc = subprocess.run([sys.executable, "infer.py", str(tmp_path / "page.png")], cwd=folder,
                          env=service_env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    answer = json.loads(proc.stdout.strip().splitlines()[-1])
    assert answer["err_no"] == 0 and list(answer["result"]) == ["image"]
    _check_truth(answer["result"]["image"], lines)
    bad = subprocess.run([sys.executable, "infer.py", str(tmp_path / "missing.png")],
                         cwd=folder, env=service_env(), capture_output=True, text=True,
                         timeout=300)
    assert bad.returncode == 2 and "missing.png" in bad.stderr


def test_process_mode_ops_answer_the_same(ocr_service, tmp_path):
    """`dag.is_thread_op: false` (each Op in its own processes, as Paddle Serving's OCR
    example requires): images, quads and crops travel between the Op processes."""
    import shutil

    folder, _, _, png, lines = ocr_service
    copy = tmp_path / "ocr_processes"
    shutil.copytree(folder, copy, ignore=shutil.ignore_patterns("*.log", "PipelineServingLogs"))
    conf = yaml.safe_load((copy / "config.yml").read_text())
    http_port, rpc_port = free_port(), free_port()
    conf.update(http_port=http_port, rpc_port=rpc_port)
    conf["dag"]["is_thread_op"] = False
    conf["op"]["det"]["concurrency"] = 2  # two detection processes feeding one recognizer
    (copy / "config.yml").write_text(yaml.safe_dump(conf), encoding="utf-8")
    b64 = base64.b64encode(png).decode()
    proc = start_service(["web_service.py"], copy, http_port, timeout=240)
    try:
        answers = [_http(http_port, ["image_0", "image_1"], [b64, b64]) for _ in range(3)]
    finally:
        assert stop_service(proc) == 0
    for answer in answers:
        assert answer["err_no"] == 0, answer["err_msg"]
        for value in answer["value"]:
            _check_truth(json.loads(value), lines)
