"""`scaffold new` end to end: generate from serving_configs/ -> `python web_service.py` in a
subprocess -> the generated HTTP and gRPC clients (subprocesses) with the real test image ->
served outputs equal the in-process inference (LocalService) of the exported model."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml
from scaffold_helpers import IMAGE, run_script

from generator.runtime.config import load_pipeline_config
from generator.service import OPS_BY_TASK, LocalService
from tests.helpers.services import start_service, stop_service

pytestmark = pytest.mark.slow


def _local(folder, task, **kwargs):
    """The exported model run in-process with the service's pre/post-processing."""
    op = OPS_BY_TASK[task](name=task, deploy_config=folder / "infer_cfg.yml",
                           labels=folder / "label_list.txt", **kwargs)
    return LocalService(op, folder / "serving_server").predict_images(
        {"image": IMAGE.read_bytes()})["image"]


def _query(folder, http_port, rpc_port):
    outs = {}
    for client, port in (("pipeline_http_client.py", http_port),
                         ("pipeline_rpc_client.py", rpc_port)):
        proc = run_script(folder, client, str(IMAGE), "--host", "127.0.0.1", "--port", str(port))
        assert proc.returncode == 0, proc.stderr + proc.stdout
        answer = json.loads(proc.stdout.strip().splitlines()[-1])
        assert answer["err_no"] == 0 and answer["err_msg"] == ""
        assert list(answer["result"]) == ["image"]
        outs[client] = answer["result"]["image"]
    return outs


def test_detection_service_end_to_end(generated):
    folder, http_port, rpc_port = generated("detection")
    conf = load_pipeline_config(str(folder / "config.yml"))
    assert conf["http_port"] == http_port and conf["rpc_port"] == rpc_port
    proc = start_service(["web_service.py"], folder, http_port)
    try:
        outs = _query(folder, http_port, rpc_port)
        bad = run_script(folder, "pipeline_http_client.py", str(folder / "config.yml"),
                         "--port", str(http_port))
    finally:
        code = stop_service(proc)
    assert code == 0, "SIGTERM must drain and exit 0"
    want = _local(folder, "detection", draw_threshold=0.0)
    assert want, "threshold 0 keeps the random model's boxes"
    labels = (folder / "label_list.txt").read_text().splitlines()
    for got in outs.values():
        assert len(got) == len(want)
        for g, w in zip(got, want, strict=True):
            assert set(g) == {"category_id", "label", "score", "bbox"}
            assert g["label"] == labels[g["category_id"]] == w["label"]
            np.testing.assert_allclose(g["bbox"], w["bbox"], atol=1e-3)
            np.testing.assert_allclose(g["score"], w["score"], rtol=1e-5)
        # boxes in original-image pixels (the model saw 64x64; the image is 320x240)
        assert max(d["bbox"][2] for d in got) > 64
        assert all(0 <= d["bbox"][0] <= d["bbox"][2] <= 320 for d in got)
    # an undecodable "image" is a clear err_no 5000, and the client exits 1
    assert bad.returncode == 1
    err = json.loads(bad.stdout.strip().splitlines()[-1])
    assert err["err_no"] == 5000 and "image" in err["err_msg"]


def test_classification_service_end_to_end(generated):
    folder, http_port, rpc_port = generated("classification")
    proc = start_service(["web_service.py"], folder, http_port)
    try:
        outs = _query(folder, http_port, rpc_port)
    finally:
        stop_service(proc)
    want = _local(folder, "classification", top_k=3)
    assert len(want) == 3
    for got in outs.values():
        assert [g["category_id"] for g in got] == [w["category_id"] for w in want]
        assert all(set(g) == {"category_id", "label", "score"} for g in got)
        np.testing.assert_allclose([g["score"] for g in got], [w["score"] for w in want],
                                   rtol=1e-5)
    # the deploy record of the export is the one served
    record = yaml.safe_load((folder / "infer_cfg.yml").read_text())
    assert [op["type"] for op in record["Preprocess"]][:2] == ["ResizeImage", "CropImage"]


def test_generated_infer_py_matches_local_inference(generated):
    folder, _, _ = generated("segmentation")
    proc = run_script(folder, "infer.py", str(IMAGE))
    assert proc.returncode == 0, proc.stderr
    answer = json.loads(proc.stdout.strip().splitlines()[-1])
    got = answer["result"]["image"]
    want = _local(folder, "segmentation")
    assert got["shape"] == [240, 320] == want["shape"]
    assert got["label_map"] == want["label_map"]


@pytest.mark.parametrize("kind", ["segmentation", "embedding", "detection_darknet53"])
def test_other_serving_configs_served_end_to_end(generated, kind):
    """The remaining serving_configs/: served over HTTP and gRPC by the generated clients,
    equal to in-process inference of the exported model."""
    folder, http_port, rpc_port = generated(kind)
    proc = start_service(["web_service.py"], folder, http_port)
    try:
        outs = _query(folder, http_port, rpc_port)
    finally:
        assert stop_service(proc) == 0
    task = yaml.safe_load((folder / ".scaffold.yml").read_text())["task"]
    want = _local(folder, task, **({"draw_threshold": 0.0} if task == "detection" else {}))
    for got in outs.values():
        if task == "segmentation":
            assert got["shape"] == [240, 320] and got["label_map"] == want["label_map"]
        elif task == "embedding":
            np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)
            assert len(got) == 512  # resnet18 features
        else:
            assert len(got) == len(want) > 0
            np.testing.assert_allclose([d["bbox"] for d in got], [d["bbox"] for d in want],
                                       atol=1e-3)
