"""`scaffold new --model-dir` of single PaddleOCR 3 exports (stand-ins in the exporter's exact
layout) -> `python web_service.py` in a subprocess -> HTTP and gRPC answers: text detection
`[{"poly", "score"}]` and text recognition `{"text", "score"}`, equal to the models run
in-process with `generator.ocr` around a plain Paddle predictor; textline orientation through
the same Op in-process."""

from __future__ import annotations

import base64
import json

import cv2
import numpy as np
import paddle.inference as pi
import pytest
import requests
from click.testing import CliRunner

from generator.cli import main
from generator.ocr import TextDetector, TextlineOrientation, TextRecognizer
from generator.runtime import PipelineClient
from generator.service import OPS_BY_TASK, LocalService
from tests.helpers import toolkit_exports as te
from tests.helpers.services import free_port, start_service, stop_service

pytestmark = pytest.mark.slow


def _runner(model_dir):
    """A plain Paddle predictor on the export folder: feed dict -> list of outputs."""
    config = pi.Config(str(model_dir / "inference.json"), str(model_dir / "inference.pdiparams"))
    config.disable_mkldnn()
    config.disable_glog_info()
    predictor = pi.create_predictor(config)

    def run(feed):
        (value,) = feed.values()
        predictor.get_input_handle(predictor.get_input_names()[0]).copy_from_cpu(value)
        predictor.run()
        return [predictor.get_output_handle(n).copy_to_cpu()
                for n in predictor.get_output_names()]
    return run


def _generate(model_dir, out):
    http, rpc = free_port(), free_port()
    res = CliRunner().invoke(main, ["new", "--model-dir", str(model_dir), "--output", str(out),
                                    "--no-vendor", "--http-port", str(http), "--rpc-port",
                                    str(rpc)], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    return http, rpc


def _png(img):
    return base64.b64encode(cv2.imencode(".png", img)[1].tobytes()).decode("ascii")


def _ask(name, http, rpc, images):
    """{key: image} -> (HTTP answer, gRPC answer), each {key: decoded JSON}."""
    keys, values = list(images), [_png(v) for v in images.values()]
    body = requests.post(f"http://127.0.0.1:{http}/{name}/prediction",
                         json={"key": keys, "value": values}, timeout=60).json()
    assert body["err_no"] == 0, body
    over_http = {k: json.loads(v) for k, v in zip(body["key"], body["value"], strict=True)}
    with PipelineClient() as client:
        client.connect([f"127.0.0.1:{rpc}"])
        resp = client.predict(dict(zip(keys, values, strict=True)))
    assert resp.err_no == 0, resp.err_msg
    over_grpc = {k: json.loads(v) for k, v in zip(resp.key, resp.value, strict=True)}
    return over_http, over_grpc


def test_text_detection_service(tmp_path):
    src = te.save_ppocr_det(tmp_path / "PP-OCRv5_mobile_det")
    out = tmp_path / "det_serving"
    http, rpc = _generate(src.model_dir, out)
    pages = {"image_0": te.draw_text_lines(640, 480, ["ab12 hello", "world 3-4", "x"], seed=1),
             "image_1": te.draw_text_lines(300, 100, ["abc"], seed=2, top=20)}
    proc = start_service(["web_service.py"], out, http)
    try:
        answers = _ask("PP-OCRv5_mobile_det", http, rpc, pages)
        bad = requests.post(f"http://127.0.0.1:{http}/PP-OCRv5_mobile_det/prediction",
                            json={"key": ["image"], "value": ["bm90IGFuIGltYWdl"]},
                            timeout=60).json()
        spec = requests.get(f"http://127.0.0.1:{http}/openapi.json", timeout=60).json()
    finally:
        assert stop_service(proc) == 0
    assert bad["err_no"] == 5000 and "image" in bad["err_msg"]
    assert spec["x-service"]["task"] == "text_detection"
    assert 'the text regions found' in json.dumps(spec)
    det, run = TextDetector.from_model_dir(src.model_dir), _runner(src.model_dir)
    for key, page in pages.items():
        want = det(page, run)
        assert len(want) >= 1
        for got in answers:
            regions = got[key]
            assert [set(r) for r in regions] == [{"poly", "score"}] * len(want)
            assert [r["poly"] for r in regions] == [p.astype(int).tolist() for p, _ in want]
            np.testing.assert_allclose([r["score"] for r in regions], [s for _, s in want],
                                       rtol=1e-4)
            h, w = page.shape[:2]
            for r in regions:
                xs, ys = [p[0] for p in r["poly"]], [p[1] for p in r["poly"]]
                assert min(xs) >= 0 and max(xs) <= w and min(ys) >= 0 and max(ys) <= h


def test_text_recognition_service(tmp_path):
    src = te.save_ppocr_rec(tmp_path / "PP-OCRv5_mobile_rec")
    out = tmp_path / "rec_serving"
    http, rpc = _generate(src.model_dir, out)
    lines = {"image_0": te.draw_text_lines(220, 48, ["hello"], top=8, line_height=40),
             "image_1": te.draw_text_lines(900, 40, ["a long line of text 123"], top=8)}
    proc = start_service(["web_service.py"], out, http)
    try:
        answers = _ask("PP-OCRv5_mobile_rec", http, rpc, lines)
        single = _ask("PP-OCRv5_mobile_rec", http, rpc, {"image": lines["image_0"]})
    finally:
        assert stop_service(proc) == 0
    rec, run = TextRecognizer.from_model_dir(src.model_dir), _runner(src.model_dir)
    batch = rec(list(lines.values()), run)  # one request = one batch padded to the widest
    alone = rec([lines["image_0"]], run)
    assert any(text for text, _ in batch), "the stand-in reads something from dark glyphs"
    for got in answers:
        for key, (text, score) in zip(lines, batch, strict=True):
            assert got[key]["text"] == text
            assert got[key]["score"] == pytest.approx(score, rel=1e-4)
            assert set(got[key]) == {"text", "score"}
            assert set(got[key]["text"]) <= set(te.REC_DICT) | {" "}
    for got in single:
        assert got["image"] == {"text": alone[0][0], "score": pytest.approx(alone[0][1],
                                                                            rel=1e-4)}


def test_textline_orientation_op(tmp_path):
    src = te.save_textline_ori(tmp_path / "PP-LCNet_x0_25_textline_ori")
    out = tmp_path / "ori_serving"
    _generate(src.model_dir, out)
    op = OPS_BY_TASK["textline_orientation"](name="o", deploy_config=out / "inference.yml",
                                             labels=out / "label_list.txt")
    svc = LocalService(op, out / "serving_server")
    line = np.full((40, 200, 3), 250, np.uint8)
    line[3:18, 10:190] = 30  # ink in the upper half: the stand-in says upright
    images = {"image_0": line, "image_1": te.rotate_180(line)}
    got = svc.predict_images({k: cv2.imencode(".png", v)[1].tobytes()
                              for k, v in images.items()})
    ori, run = TextlineOrientation.from_model_dir(src.model_dir), _runner(src.model_dir)
    want = ori(list(images.values()), run)
    assert [(g["label"], g["score"]) for g in got.values()] == \
        [(label, pytest.approx(score, abs=1e-5)) for label, score in want]
    assert [g["angle"] for g in got.values()] == [0, 180]
    assert [g["label"] for g in got.values()] == ["0_degree", "180_degree"]


def test_line_images_as_tensors_and_bad_inputs(tmp_path):
    from generator.service import ServiceCallError

    src = te.save_ppocr_rec(tmp_path / "PP-OCRv5_mobile_rec")
    out = tmp_path / "rec_serving"
    _generate(src.model_dir, out)
    op = OPS_BY_TASK["text_recognition"](name="r", deploy_config=out / "inference.yml")
    svc = LocalService(op, out / "serving_server")
    line = te.draw_text_lines(220, 48, ["hello"], top=8, line_height=40)
    png = cv2.imencode(".png", line)[1]
    by_file = svc.predict_images({"image": png.tobytes()})["image"]
    rgb = np.ascontiguousarray(line[:, :, ::-1])
    for value in (rgb, png.reshape(-1)):  # RGB pixels [H, W, 3]; the file's bytes (1-D)
        assert json.loads(svc.call({"image": value})["image"]) == by_file
    with pytest.raises(ServiceCallError) as info:
        svc.call({"image": np.zeros((4, 4), np.float32)})
    assert info.value.err_no == 5000 and "uint8 tensor" in info.value.err_msg
    with pytest.raises(ServiceCallError) as info:
        svc.call({"picture": "abc"})
    assert info.value.err_no == 5000 and "no image" in info.value.err_msg
