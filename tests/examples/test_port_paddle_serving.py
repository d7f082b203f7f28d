"""The `examples/port_paddle_serving` guide: two services written for Paddle Serving 0.9 (the
imagenet classifier and the two-Op OCR det -> rec DAG) run unchanged on `generator.runtime`
apart from their imports. Each example folder is copied to a temporary directory, given small
models built here with the real models' feed/fetch names, started as a real subprocess
(`python web_service.py`, process-mode Ops) and queried over gRPC and HTTP, also with the
example's own client scripts."""

from __future__ import annotations

import ast
import base64
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import requests

from tests.helpers.services import REPO_ROOT, free_port, service_env, start_service, stop_service
from tests.helpers.tiny_models import (
    SavedModel,
    VarSpec,
    save_conv_classifier,
    write_serving_server,
)

pytestmark = pytest.mark.slow

EXAMPLE = REPO_ROOT / "examples" / "port_paddle_serving"
OCR_FETCH = "save_infer_model/scale_0.tmp_1"
NUM_CLASSES = 10
#: the 8 white rectangles (x, y, w, h) of the OCR test image: 8 boxes = mini-batches of 6 + 2
OCR_RECTS = [(x, y, 140, 26) for y in (30, 105, 180, 255) for x in (40, 290)]
ORIGINAL_IMPORTS = ("paddle_serving_server", "paddle_serving_app", "paddle_serving_client")


# ----------------------------------------------------------------------------- helpers


def _copy_example(name: str, dest: Path, rpc: int, http: int) -> Path:
    """Copy an example folder and point its config.yml at free ports (nothing else changes)."""
    work = dest / name
    shutil.copytree(EXAMPLE / name, work)
    cfg = work / "config.yml"
    text = cfg.read_text()
    text, n_rpc = re.subn(r"(?m)^rpc_port: \d+$", f"rpc_port: {rpc}", text)
    text, n_http = re.subn(r"(?m)^http_port: \d+$", f"http_port: {http}", text)
    assert n_rpc == n_http == 1, "config.yml must set rpc_port and http_port once each"
    cfg.write_text(text)
    return work


def _code_lines(path: Path) -> list[str]:
    return [ln for ln in path.read_text().splitlines() if ln.strip() and not ln.lstrip().startswith("#")]


def _output_names(model_dir: Path) -> list[str]:
    import paddle.inference as pi

    config = pi.Config(str(model_dir / "model.json"), str(model_dir / "model.pdiparams"))
    config.disable_glog_info()
    config.disable_mkldnn()
    return list(pi.create_predictor(config).get_output_names())


def _jit_save(layer, input_spec: list, model_dir: Path) -> list[str]:
    import paddle

    layer.eval()
    static = paddle.jit.to_static(layer, input_spec=input_spec, full_graph=True)
    paddle.jit.save(static, str(model_dir / "model"))
    return _output_names(model_dir)


def _save_ocr_models(work: Path, num_chars: int) -> None:
    """`ocr_det_model`: x [N,3,H,W] -> probability map [N,1,H,W], bright where the input image
    is bright (a fixed 1x1 conv on the normalised channels, then sigmoid).
    `ocr_rec_model`: x [N,3,32,W] -> softmax [N, W/4, num_chars + 2] (CTC blank + dictionary +
    space), a seeded conv with large weights so the CTC scores are confident."""
    import paddle
    from paddle import nn

    class Det(nn.Layer):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2D(3, 1, 1)

        def forward(self, x):
            return nn.functional.sigmoid(self.conv(x))

    class Rec(nn.Layer):
        def __init__(self, classes: int):
            super().__init__()
            self.conv = nn.Conv2D(3, classes, (32, 4), stride=(32, 4))

        def forward(self, x):
            y = paddle.squeeze(self.conv(x), axis=2)  # [N, C, T]
            return nn.functional.softmax(paddle.transpose(y, [0, 2, 1]), axis=-1)

    det = Det()
    det.conv.weight.set_value(np.full((1, 3, 1, 1), 10.0 / 3, dtype=np.float32))
    det.conv.bias.set_value(np.zeros((1,), dtype=np.float32))
    rec = Rec(num_chars + 2)
    rng = np.random.default_rng(7)
    for p in rec.parameters():
        p.set_value(rng.standard_normal(p.shape).astype("float32"))

    specs = {
        "ocr_det_model": (det, [None, 3, None, None], (None, 1, None, None)),
        "ocr_rec_model": (rec, [None, 3, 32, None], (None, None, num_chars + 2)),
    }
    for name, (layer, in_shape, out_shape) in specs.items():
        raw = work / f"_{name}_raw"
        raw.mkdir()
        spec = [paddle.static.InputSpec(in_shape, "float32", "x")]
        (out_name,) = _jit_save(layer, spec, raw)
        model = SavedModel(raw, "pir", sorted(raw.iterdir()),
                           [VarSpec("x", "float32", tuple(in_shape))],
                           [VarSpec(out_name, "float32", out_shape)])
        write_serving_server(model, work / name, fetch_alias_names=[OCR_FETCH])


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("utf8")


def _jpeg(img: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 95])
    assert ok
    return buf.tobytes()


def _run_client(work: Path, script: str, *args: str) -> str:
    proc = subprocess.run([sys.executable, script, *args], cwd=work, env=service_env(),
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


# ----------------------------------------------------------------------------- imagenet


@pytest.fixture(scope="module")
def imagenet(tmp_path_factory):
    rpc, http = free_port(), free_port()
    work = _copy_example("imagenet", tmp_path_factory.mktemp("port"), rpc, http)
    model = save_conv_classifier(work / "_raw_model", num_classes=NUM_CLASSES, image_size=224,
                                 input_name="image", seed=3)
    write_serving_server(model, work / "ResNet50_vd_model", fetch_alias_names=["score"])
    proc = start_service(["web_service.py"], work, http)
    yield {"proc": proc, "rpc": rpc, "http": http, "dir": work}
    stop_service(proc)


def _imagenet_direct(work: Path, image_bytes: bytes) -> tuple[str, float]:
    """The same preprocessing with the runtime's reader ops, then Paddle Inference in-process."""
    from generator.runtime import LocalPredictor
    from generator.runtime.reader import (
        RGB2BGR,
        CenterCrop,
        Div,
        Normalize,
        Resize,
        Sequential,
        Transpose,
    )

    seq = Sequential([Resize(256), CenterCrop(224), RGB2BGR(), Transpose((2, 0, 1)), Div(255),
                      Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225], True)])
    im = cv2.imdecode(np.frombuffer(image_bytes, np.uint8), cv2.IMREAD_COLOR)
    predictor = LocalPredictor(work / "ResNet50_vd_model", ir_optim=False)
    score = predictor.predict({"image": seq(im)[np.newaxis]}, fetch=["score"])["score"][0]
    labels = (work / "imagenet.label").read_text().splitlines()
    idx = int(np.argmax(score))
    return labels[idx].strip().replace(",", ""), float(score[idx])


def test_imagenet_port_changes_only_imports():
    for script in ("web_service.py", "pipeline_rpc_client.py"):
        text = (EXAMPLE / "imagenet" / script).read_text()
        code = "\n".join(_code_lines(EXAMPLE / "imagenet" / script))
        assert not any(name in code for name in ORIGINAL_IMPORTS)
        assert "# was: from paddle_serving_" in text  # the original import is shown above ours
    service = (EXAMPLE / "imagenet" / "web_service.py").read_text()
    assert "Resize(256), CenterCrop(224), RGB2BGR(), Transpose((2, 0, 1))" in service


def test_imagenet_grpc_matches_direct_inference(imagenet):
    from generator.runtime import PipelineClient

    image = (EXAMPLE / "imagenet" / "sample.jpg").read_bytes()
    client = PipelineClient()
    client.connect([f"127.0.0.1:{imagenet['rpc']}"])
    ret = client.predict(feed_dict={"image": _b64(image)}, fetch=["label", "prob"])
    assert ret.err_no == 0, ret.err_msg
    out = dict(zip(ret.key, ret.value, strict=True))
    label, prob = _imagenet_direct(imagenet["dir"], image)
    assert ast.literal_eval(out["label"]) == [label]
    assert ast.literal_eval(out["prob"]) == pytest.approx([prob], rel=1e-5)
    assert "," not in label  # commas of the label file are removed, as the original does


def test_imagenet_http_batch_of_requests_matches_direct_inference(imagenet):
    url = f"http://127.0.0.1:{imagenet['http']}/imagenet/prediction"
    rng = np.random.default_rng(0)
    for h, w in ((300, 400), (256, 256), (500, 260)):  # both worker processes get work
        img = cv2.GaussianBlur(rng.integers(0, 256, (h, w, 3), dtype=np.uint8), (0, 0), 9)
        data = _jpeg(img)
        r = requests.post(url, data=json.dumps({"key": ["image"], "value": [_b64(data)]}),
                          timeout=30)
        assert r.status_code == 200
        body = r.json()
        assert body["err_no"] == 0, body["err_msg"]
        out = dict(zip(body["key"], body["value"], strict=True))
        label, prob = _imagenet_direct(imagenet["dir"], data)
        assert ast.literal_eval(out["label"]) == [label]
        assert ast.literal_eval(out["prob"]) == pytest.approx([prob], rel=1e-5)


def test_imagenet_bad_image_is_an_error_reply_not_a_crash(imagenet):
    url = f"http://127.0.0.1:{imagenet['http']}/imagenet/prediction"
    r = requests.post(url, data=json.dumps({"key": ["picture"], "value": ["abc"]}), timeout=30)
    body = r.json()
    assert body["err_no"] == 10000
    assert "ImagenetOp.preprocess" in body["err_msg"] and "image" in body["err_msg"]


def test_imagenet_example_clients_print_the_result(imagenet):
    label, _ = _imagenet_direct(imagenet["dir"], (imagenet["dir"] / "sample.jpg").read_bytes())
    http_out = _run_client(imagenet["dir"], "pipeline_http_client.py",
                           "--port", str(imagenet["http"]))
    reply = ast.literal_eval(http_out.strip().splitlines()[-1])
    assert reply["err_no"] == 0 and reply["key"] == ["label", "prob"]
    assert ast.literal_eval(reply["value"][0]) == [label]
    rpc_out = _run_client(imagenet["dir"], "pipeline_rpc_client.py",
                          "--port", str(imagenet["rpc"]), "--image", "sample.jpg")
    assert 'key: "label"' in rpc_out and 'key: "prob"' in rpc_out
    assert label in rpc_out and "err_no" not in rpc_out  # err_no 0 is not printed by protobuf


# ----------------------------------------------------------------------------- OCR


@pytest.fixture(scope="module")
def ocr(tmp_path_factory):
    rpc, http = free_port(), free_port()
    work = _copy_example("ocr", tmp_path_factory.mktemp("port"), rpc, http)
    chars = (work / "ppocr_keys_v1.txt").read_text().splitlines()
    _save_ocr_models(work, len(chars))
    proc = start_service(["web_service.py"], work, http)
    yield {"proc": proc, "rpc": rpc, "http": http, "dir": work, "chars": chars}
    stop_service(proc)


def _text_image() -> np.ndarray:
    """500x330 (not multiples of 32, so ResizeByFactor rescales) with 8 white rectangles."""
    img = np.zeros((330, 500, 3), np.uint8)
    for x, y, w, h in OCR_RECTS:
        cv2.rectangle(img, (x, y), (x + w - 1, y + h - 1), (255, 255, 255), -1)
    return img


def _check_ocr_result(value: str, chars: list[str]) -> list:
    result = ast.literal_eval(value)
    assert isinstance(result, list)
    for (text, score), box in result:
        assert set(text) <= set(chars) | {" "}
        assert 0.5 <= score <= 1.0
        assert np.asarray(box).shape == (4, 2)
    return result


def _covers(box: list, rect: tuple[int, int, int, int]) -> bool:
    pts = np.asarray(box)
    x, y, w, h = rect
    return (pts[:, 0].min() <= x + 2 and pts[:, 0].max() >= x + w - 3
            and pts[:, 1].min() <= y + 2 and pts[:, 1].max() >= y + h - 3)


def _ocr_direct(work: Path, image_bytes: bytes) -> list:
    """The det -> rec chain computed in-process with the runtime's reader ops and
    LocalPredictor (one model call per mini-batch of 6 boxes), as `[[(text, score), box]]`."""
    from generator.runtime import LocalPredictor
    from generator.runtime.reader import (
        DBPostProcess,
        Div,
        FilterBoxes,
        GetRotateCropImage,
        Normalize,
        OCRReader,
        ResizeByFactor,
        Sequential,
        SortedBoxes,
        Transpose,
    )

    im = cv2.imdecode(np.frombuffer(image_bytes, np.uint8), cv2.IMREAD_COLOR)
    det_in = Sequential([ResizeByFactor(32, 960), Div(255),
                         Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]),
                         Transpose((2, 0, 1))])(im)
    det = LocalPredictor(work / "ocr_det_model", ir_optim=True)
    prob_map = det.predict({"x": det_in[np.newaxis]})[OCR_FETCH]
    ratios = [det_in.shape[1] / im.shape[0], det_in.shape[2] / im.shape[1]]
    db = DBPostProcess({"thresh": 0.3, "box_thresh": 0.6, "max_candidates": 1000,
                        "unclip_ratio": 1.5, "min_size": 3})
    boxes = SortedBoxes()(FilterBoxes(10, 10)(db(prob_map, [ratios])[0], im.shape))
    reader = OCRReader(char_dict_path=str(work / "ppocr_keys_v1.txt"))
    rec = LocalPredictor(work / "ocr_rec_model", ir_optim=True)
    texts = []
    for start in range(0, len(boxes), 6):
        crops = [GetRotateCropImage()(im, b) for b in boxes[start:start + 6]]
        ratio = max(c.shape[1] / c.shape[0] for c in crops)
        x = np.stack([reader.resize_norm_img(c, ratio) for c in crops])
        texts += reader.postprocess_ocrv2(rec.predict({"x": x}), with_score=True)
    return [[t, b.tolist()] for t, b in zip(texts, boxes, strict=True) if t[1] >= 0.5]


def test_ocr_port_changes_only_imports():
    for script in ("web_service.py", "pipeline_rpc_client.py"):
        code = "\n".join(_code_lines(EXAMPLE / "ocr" / script))
        assert not any(name in code for name in ORIGINAL_IMPORTS)
        assert "# was: from paddle_serving_" in (EXAMPLE / "ocr" / script).read_text()


def test_ocr_grpc_finds_every_text_box_in_two_mini_batches(ocr):
    from generator.runtime import PipelineClient

    client = PipelineClient()
    client.connect([f"127.0.0.1:{ocr['rpc']}"])
    image = _jpeg(_text_image())
    ret = client.predict(feed_dict={"image": _b64(image)}, fetch=["res"])
    assert ret.err_no == 0, ret.err_msg
    assert list(ret.key) == ["result"]
    result = _check_ocr_result(ret.value[0], ocr["chars"])
    # 8 boxes -> RecOp feeds a list of 2 mini-batches (6 + 2); every box comes back, in the
    # SortedBoxes order (top to bottom, left to right), in ORIGINAL image coordinates
    assert len(result) == len(OCR_RECTS)
    for (_, box), rect in zip(result, OCR_RECTS, strict=True):
        assert _covers(box, rect), (box, rect)
        assert np.asarray(box)[:, 0].max() < 500 and np.asarray(box)[:, 1].max() < 330
    assert all(text for (text, _), _ in result)
    expected = _ocr_direct(ocr["dir"], image)
    assert [box for _, box in result] == [box for _, box in expected]
    assert [text for (text, _), _ in result] == [text for (text, _), _ in expected]
    assert [s for (_, s), _ in result] == pytest.approx([s for (_, s), _ in expected], rel=1e-5)


def test_ocr_http_as_the_example_client_and_skip_without_text(ocr):
    url = f"http://127.0.0.1:{ocr['http']}/ocr/prediction"
    img = np.zeros((240, 320, 3), np.uint8)
    x, y, w, h = 60, 100, 180, 30
    cv2.rectangle(img, (x, y), (x + w - 1, y + h - 1), (255, 255, 255), -1)
    r = requests.post(url, data=json.dumps({"key": ["image"], "value": [_b64(_jpeg(img))]}),
                      timeout=30)
    body = r.json()
    assert r.status_code == 200 and body["err_no"] == 0, body["err_msg"]
    result = _check_ocr_result(body["value"][0], ocr["chars"])
    assert len(result) == 1 and _covers(result[0][1], (x, y, w, h))

    # no text region: DetOp finds no box, RecOp skips the model; a normal, empty reply
    blank = np.full((240, 320, 3), 20, np.uint8)
    r = requests.post(url, data=json.dumps({"key": ["image"], "value": [_b64(_jpeg(blank))]}),
                      timeout=30)
    body = r.json()
    assert body["err_no"] == 0, body["err_msg"]
    assert body["key"] == ["result"] and ast.literal_eval(body["value"][0]) == []


def test_ocr_example_clients_print_the_result(ocr):
    http_out = _run_client(ocr["dir"], "pipeline_http_client.py", "--port", str(ocr["http"]))
    lines = http_out.strip().splitlines()
    reply = ast.literal_eval(lines[0])
    assert reply["err_no"] == 0
    result = _check_ocr_result(reply["value"][0], ocr["chars"])
    assert result and len(lines) == 1 + len(result)  # one printed line per recognised box
    rpc_out = _run_client(ocr["dir"], "pipeline_rpc_client.py", "--port", str(ocr["rpc"]),
                          "--image", "imgs/sample_text.jpg")
    assert 'key: "result"' in rpc_out and "err_no" not in rpc_out
