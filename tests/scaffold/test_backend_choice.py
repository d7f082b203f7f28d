"""`scaffold new` chooses the inference backend: every available candidate is measured in a
probe process on a preprocessed sample image, compared with Paddle Inference (oneDNN off), and
the fastest with the same outputs is written into config.yml; the served results then equal the
reference's. Also the parity rules themselves, on arrays."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml
from scaffold_helpers import CONFIGS, IMAGE, scaffold

from generator.quality.backend_parity import outputs_equivalent
from generator.quality.compare import Tolerance, compare_detections
from generator.service import OPS_BY_TASK, LocalService
from tests.helpers.services import free_port, start_service, stop_service

YOLO = CONFIGS / "yolov3.yml"
SMALL = ["-o", "model.args.image_shape=[3,160,160]", "-o", "service.draw_threshold=0.02"]


def _local_conf(folder):
    conf = yaml.safe_load((folder / "config.yml").read_text())
    return conf["op"]["detection"]["local_service_conf"]


def _local(folder, **conf):
    op = OPS_BY_TASK["detection"](name="detection", deploy_config=folder / "infer_cfg.yml",
                                  labels=folder / "label_list.txt", draw_threshold=0.02)
    return LocalService(op, folder / "serving_server", **conf).predict_images(
        {"image": IMAGE.read_bytes()})["image"]


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    from generator.quality.realistic_weights import make_realistic_detector_weights

    path = tmp_path_factory.mktemp("w") / "yolo160.pdparams"
    make_realistic_detector_weights(YOLO, SMALL[1::2][:1], path)
    return path


@pytest.mark.slow
def test_default_new_serves_the_fastest_backend_with_the_reference_detections(tmp_path,
                                                                               weights):
    out = tmp_path / "det"
    http = free_port()
    res = scaffold("new", "--config", str(YOLO), *SMALL, "-o", f"weights={weights}",
                   "--output", str(out), "--no-vendor", "--http-port", str(http),
                   "--rpc-port", str(free_port()), "--backend", "auto", "--name", "det")
    assert res.exit_code == 0, res.output
    table = res.output[res.output.index("backend: "):]
    assert "paddle (oneDNN off)" in table and "1.00x" in table
    chosen = [ln for ln in table.splitlines() if ln.startswith("* ")]
    assert len(chosen) == 1 and "same outputs" in chosen[0]
    conf = _local_conf(out)
    text = (out / "config.yml").read_text()
    assert "chosen by scaffold new" in text and chosen[0][2:].split()[0] in text
    label = chosen[0][2:]
    assert conf["backend"] == label.split()[0]
    assert conf["use_mkldnn"] is ("oneDNN (" in label)
    programs = {p.suffix for p in (out / "serving_server").iterdir()}
    assert (".pdmodel" in programs) == ("legacy" in label or conf["backend"] == "openvino")
    # the reference is replaced only by a candidate >= 10 % faster on the median
    ms = {ln[2:].split("  ")[0].strip(): float(ln.split(" ms")[0].split()[-1])
          for ln in table.splitlines()[1:] if " ms [" in ln and "same outputs" in ln}
    name = label.split("  ")[0].strip()
    assert name == "paddle (oneDNN off)" or ms[name] <= 0.9 * ms["paddle (oneDNN off)"], table

    want = _local(out, backend="paddle", use_mkldnn=False)
    assert want and np.std([d["score"] for d in want]) > 0.01, "realistic, not degenerate"
    proc = start_service(["web_service.py"], out, http)
    try:
        import requests

        body = {"key": ["image"], "value": [__import__("base64").b64encode(
            IMAGE.read_bytes()).decode()]}
        answer = requests.post(f"http://127.0.0.1:{http}/{out.name}/prediction",
                               json=body, timeout=60).json()
    finally:
        assert stop_service(proc) == 0
    assert answer["err_no"] == 0, answer
    got = json.loads(answer["value"][0])
    check = compare_detections("served", got, want, Tolerance(iou=0.98, score_atol=2e-3))
    assert check.ok, check.note


@pytest.mark.slow
def test_backend_openvino_installs_the_legacy_program_with_the_same_aliases(tmp_path):
    pytest.importorskip("openvino", reason="the openvino extra is not installed")
    out = tmp_path / "ov"
    res = scaffold("new", "--config", str(YOLO), "-o", "model.args.image_shape=[3,64,64]",
                   "--output", str(out), "--no-vendor", "--backend", "openvino")
    assert res.exit_code == 0, res.output
    assert _local_conf(out)["backend"] == "openvino"
    assert "paddle-serving-scaffold[paddle-cpu,openvino]==" in \
        (out / "requirements.txt").read_text()
    server = out / "serving_server"
    assert (server / "model.pdmodel").is_file() and not (server / "model.json").exists()
    from generator.serving_model import read_model_config

    conf = read_model_config(server)
    assert [v.alias_name for v in conf.fetch_vars] == ["fetch_name_0", "fetch_name_1"]
    assert [v.name for v in conf.fetch_vars][0].startswith("multiclass_nms3")
    assert isinstance(_local(out), list)  # the generated config's backend runs in-process
    res = scaffold("bench", str(out), "--backends")  # the same comparison for this folder
    assert res.exit_code == 0, res.output
    assert "config.yml uses backend openvino" in res.output
    assert "paddle (oneDNN off)" in res.output and "openvino fp32" in res.output
    assert "paddle oneDNN (legacy)" in res.output  # the folder holds the legacy program


@pytest.mark.slow
def test_backend_onnxruntime_on_a_pir_detector_with_leaky_relu_and_upsampling(tmp_path):
    """YOLOv3's PIR program (double leaky_relu slopes and upsample scales, multiclass_nms3):
    converted with the misreads corrected, checked on the service's preprocessed sample."""
    pytest.importorskip("paddle2onnx", reason="the onnx extra is not installed")
    pytest.importorskip("onnxruntime", reason="the onnx extra is not installed")
    out = tmp_path / "ort"
    res = scaffold("new", "--config", str(YOLO), "-o", "model.args.image_shape=[3,64,64]",
                   "--output", str(out), "--no-vendor", "--backend", "onnxruntime")
    assert res.exit_code == 0, res.output
    chosen = [ln for ln in res.output.splitlines() if ln.startswith("* ")]
    assert len(chosen) == 1 and "onnxruntime fp32" in chosen[0] \
        and "same outputs" in chosen[0], res.output
    assert _local_conf(out)["backend"] == "onnxruntime"
    assert (out / "serving_server" / "model.onnx").is_file()
    # the service installs Paddle and ONNX Runtime only (not the converter, not OpenVINO)
    assert "paddle-serving-scaffold[paddle-cpu,onnxruntime]==" in \
        (out / "requirements.txt").read_text()
    assert isinstance(_local(out), list)  # the generated config's backend runs in-process


def test_unknown_backend_is_refused_before_anything_is_written(tmp_path):
    res = scaffold("new", "--config", str(YOLO), "--output", str(tmp_path / "x"),
                   "--backend", "tensorrt")
    assert res.exit_code != 0 and "tensorrt" in res.output
    assert not (tmp_path / "x").exists()


# ----------------------------------------------------------------------------- parity rules

def _dets():
    rows = np.array([[0, 0.90, 10, 10, 50, 60], [1, 0.40, 5, 5, 20, 20],
                     [0, 0.11, 70, 70, 90, 95]], "float32")
    return {"bbox": rows, "bbox_num": np.array([3], "int32")}


def test_parity_matches_detections_row_by_row_within_kernel_noise():
    want = _dets()
    got = {k: v.copy() for k, v in want.items()}
    got["bbox"] = got["bbox"][[2, 0, 1]]  # order does not matter
    got["bbox"][:, 1] *= 1.001
    got["bbox"][:, 2:] += 0.4
    ok, summary = outputs_equivalent(got, want)
    assert ok, summary


def test_parity_rejects_a_moved_box_a_changed_count_or_class():
    want = _dets()
    moved = {k: v.copy() for k, v in want.items()}
    moved["bbox"][0, 2] += 5
    assert not outputs_equivalent(moved, want)[0]
    fewer = {"bbox": want["bbox"][:2], "bbox_num": np.array([2], "int32")}
    ok, summary = outputs_equivalent(fewer, want)
    assert not ok and "per image" in summary
    other = {k: v.copy() for k, v in want.items()}
    other["bbox"][0, 0] = 1
    assert not outputs_equivalent(other, want)[0]


def test_parity_allows_a_swap_only_at_the_keep_cutoff():
    want = _dets()
    swapped = {k: v.copy() for k, v in want.items()}
    swapped["bbox"][2] = [1, 0.1101, 30, 30, 40, 40]  # a near-tied candidate at the cutoff
    assert outputs_equivalent(swapped, want)[0]
    swapped["bbox"][2, 1] = 0.2  # not a tie: a different detection
    assert not outputs_equivalent(swapped, want)[0]


def test_parity_of_arrays_is_relative_to_the_output_scale():
    want = {"logits": np.array([[10.0, -3.0, 0.0001]], "float32")}
    assert outputs_equivalent({"logits": want["logits"] + 5e-4}, want)[0]
    assert not outputs_equivalent({"logits": want["logits"] + 0.05}, want)[0]
    labels = {"map": np.zeros((100, 100), "int64")}
    flipped = labels["map"].copy()
    flipped[0, :5] = 1  # 0.05 % of pixels
    assert outputs_equivalent({"map": flipped}, labels)[0]
    flipped[:5] = 1
    assert not outputs_equivalent({"map": flipped}, labels)[0]


@pytest.mark.slow
def test_backend_onnxruntime_serves_a_classifier_with_paddles_results(tmp_path):
    pytest.importorskip("paddle2onnx", reason="the onnx extra is not installed")
    pytest.importorskip("onnxruntime", reason="the onnx extra is not installed")
    from scaffold_helpers import SERVICES

    config, opts = SERVICES["classification"]
    out = tmp_path / "cls"
    res = scaffold("new", "--config", str(config), *[a for o in opts for a in ("-o", o)],
                   "--output", str(out), "--no-vendor", "--backend", "onnxruntime")
    assert res.exit_code == 0, res.output
    conf = yaml.safe_load((out / "config.yml").read_text())["op"]["classification"]
    assert conf["local_service_conf"]["backend"] == "onnxruntime"
    assert conf["concurrency"] == 2  # ONNX Runtime releases the GIL
    assert (out / "serving_server" / "model.onnx").is_file()

    def top(**backend):
        op = OPS_BY_TASK["classification"](name="classification",
                                           deploy_config=out / "infer_cfg.yml",
                                           labels=out / "label_list.txt", top_k=3)
        return LocalService(op, out / "serving_server", **backend).predict_images(
            {"image": IMAGE.read_bytes()})["image"]

    got, want = top(backend="onnxruntime"), top(backend="paddle", use_mkldnn=False)
    assert [g["category_id"] for g in got] == [w["category_id"] for w in want]
    np.testing.assert_allclose([g["score"] for g in got], [w["score"] for w in want],
                               rtol=1e-4, atol=1e-6)


# ----------------------------------------------------------------------------- PIR-only models

def _trouble_export(root):
    """A PaddleClas-style export of the troublesome-ops classifier (PIR only)."""
    from tests.helpers.pir_trouble import save_trouble_classifier

    src = save_trouble_classifier(root / "PP-Trouble_infer", prefix="inference")
    labels = [f"class {i}" for i in range(5)]
    (src / "inference.yml").write_text(yaml.safe_dump({
        "Global": {"model_name": "PP-Trouble"},
        "PreProcess": {"transform_ops": [
            {"ResizeImage": {"resize_short": 36}}, {"CropImage": {"size": 32}},
            {"NormalizeImage": {"scale": 1 / 255, "mean": [0.485, 0.456, 0.406],
                                "std": [0.229, 0.224, 0.225], "order": ""}},
            {"ToCHWImage": None}]},
        "PostProcess": {"Topk": {"topk": 3, "label_list": labels}}}))
    return src


@pytest.mark.slow
def test_backend_openvino_on_a_pir_only_export_reads_the_onnx_conversion(tmp_path):
    """No legacy program can be made from a --model-dir export: --backend openvino converts
    to ONNX (misreads corrected), checks it, and the service's OpenVINO reads model.onnx."""
    pytest.importorskip("paddle2onnx", reason="the onnx extra is not installed")
    pytest.importorskip("onnxruntime", reason="the onnx extra is not installed")
    pytest.importorskip("openvino", reason="the openvino extra is not installed")
    src = _trouble_export(tmp_path)
    out = tmp_path / "ov"
    res = scaffold("new", "--model-dir", str(src), "--output", str(out), "--no-vendor",
                   "--name", "trouble", "--backend", "openvino")
    assert res.exit_code == 0, res.output
    chosen = [ln for ln in res.output.splitlines() if ln.startswith("* ")]
    assert len(chosen) == 1 and "openvino fp32 (ONNX)" in chosen[0] \
        and "same outputs" in chosen[0], res.output
    conf = yaml.safe_load((out / "config.yml").read_text())
    assert conf["op"]["classification"]["local_service_conf"]["backend"] == "openvino"
    server = out / "serving_server"
    assert (server / "model.onnx").is_file() and (server / "inference.json").is_file()
    assert "[paddle-cpu,openvino]==" in (out / "requirements.txt").read_text()
    op = OPS_BY_TASK["classification"](name="c", deploy_config=out / "inference.yml",
                                       labels=out / "label_list.txt", top_k=3)
    image = {"image": IMAGE.read_bytes()}
    got = LocalService(op, server, backend="openvino").predict_images(image)
    want = LocalService(op, server, backend="paddle", use_mkldnn=False).predict_images(image)
    assert [g["category_id"] for g in got["image"]] == [w["category_id"] for w in want["image"]]


@pytest.mark.slow
def test_pir_only_toolkit_export_gets_onnxruntime_and_openvino_candidates(tmp_path):
    """A PaddleClas-style export (inference.json + inference.pdiparams + inference.yml) whose
    program has leaky_relu, hardswish and scaled interpolations: the ONNX conversion (PIR
    misreads corrected) is compared on the service's own preprocessing, and ONNX Runtime and
    OpenVINO (reading that ONNX) are measured candidates with Paddle's outputs."""
    pytest.importorskip("paddle2onnx", reason="the onnx extra is not installed")
    pytest.importorskip("onnxruntime", reason="the onnx extra is not installed")
    pytest.importorskip("openvino", reason="the openvino extra is not installed")
    src = _trouble_export(tmp_path)
    out = tmp_path / "svc"
    res = scaffold("new", "--model-dir", str(src), "--output", str(out), "--no-vendor",
                   "--name", "trouble", "--backend", "auto")
    assert res.exit_code == 0, res.output
    table = res.output[res.output.index("backend: "):]
    rows = {ln[2:].split("  ")[0].strip(): ln for ln in table.splitlines()[1:]}
    for label in ("onnxruntime fp32", "openvino fp32 (ONNX)"):
        assert label in rows, table
        assert " ms " in rows[label] and "same outputs" in rows[label], table
    assert "doubles" not in table  # no candidate refused before it was tried
    conf = yaml.safe_load((out / "config.yml").read_text())
    local = conf["op"]["classification"]["local_service_conf"]
    server = out / "serving_server"
    assert (server / "model.onnx").is_file() == (local["backend"] != "paddle")
    op = OPS_BY_TASK["classification"](name="c", deploy_config=out / "inference.yml",
                                       labels=out / "label_list.txt", top_k=3)
    image = {"image": IMAGE.read_bytes()}
    want = LocalService(op, server, backend="paddle", use_mkldnn=False).predict_images(image)
    for backend in {local["backend"]} - {"paddle"}:  # the chosen one reads its model.onnx
        got = LocalService(op, server, backend=backend).predict_images(image)
        assert [g["category_id"] for g in got["image"]] == \
            [w["category_id"] for w in want["image"]]
        assert [g["score"] for g in got["image"]] == pytest.approx(
            [w["score"] for w in want["image"]], abs=1e-4)
