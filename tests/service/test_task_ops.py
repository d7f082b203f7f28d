"""Task Ops of generated services, in-process (`LocalService`) and served: real exported models,
the real test image, toolkit preprocessing, the request/response contract."""

from __future__ import annotations

import base64
import concurrent.futures
import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from generator.preprocess import build_preprocess, decode_rgb, make_feed
from generator.runtime import PipelineClient, WebService
from generator.runtime.inference.predictor import LocalPredictor
from generator.service import (
    ClassificationOp,
    DetectionOp,
    EmbeddingOp,
    LocalService,
    ServiceCallError,
    read_deploy_config,
)
from tests.helpers.services import free_port
from tests.helpers.tiny_models import save_conv_classifier, write_serving_server

REPO = Path(__file__).resolve().parents[2]
JPG = (REPO / "tests" / "data" / "shapes_320x240.jpg").read_bytes()
PNG = (REPO / "tests" / "data" / "shapes_320x240.png").read_bytes()


@pytest.fixture(scope="module")
def yolo(tmp_path_factory):
    from generator.export.exporter import export_config

    out = tmp_path_factory.mktemp("yolo")
    res = export_config(REPO / "serving_configs" / "yolov3.yml", out,
                        overrides=["model.args.image_shape=[3,64,64]"], model_format="pir",
                        fixed_input_shape=None, export_serving_model=True, verify=False,
                        rtol=1e-3, atol=1e-6)
    return res.model_dir


def _det_op(model_dir, **kw):
    return DetectionOp(name="det", input_ops=None, deploy_config=model_dir / "infer_cfg.yml", **kw)


def test_detection_boxes_are_in_original_image_pixels(yolo):
    svc = LocalService(_det_op(yolo, draw_threshold=0.0), yolo / "serving_server")
    dets = svc.predict_images({"image": JPG})["image"]
    assert dets, "random weights still give boxes at threshold 0"
    assert set(dets[0]) == {"category_id", "label", "score", "bbox"}
    x2 = max(d["bbox"][2] for d in dets)
    y2 = max(d["bbox"][3] for d in dets)
    # the model sees 64x64; boxes come back in the 320x240 original (scale_factor fed for real)
    assert 64 < x2 <= 320 and y2 <= 240
    labels = read_deploy_config(yolo / "infer_cfg.yml").labels
    assert all(d["label"] == labels[d["category_id"]] for d in dets)
    # same numbers as running the toolkit preprocessing and the predictor directly
    cfg = read_deploy_config(yolo / "infer_cfg.yml")
    pre = build_preprocess(cfg.preprocess, cfg.toolkit)
    pred = LocalPredictor(str(yolo / "serving_server"))
    out = pred.predict(make_feed([pre(decode_rgb(JPG))], pred.feed_names))
    bbox = out["fetch_name_0"]
    keep = bbox[bbox[:, 0] > -1]
    assert len(dets) == len(keep)
    np.testing.assert_allclose(sorted(d["score"] for d in dets), sorted(keep[:, 1]), rtol=1e-5)


def test_threshold_filters_and_several_images_batch(yolo):
    svc = LocalService(_det_op(yolo, draw_threshold=0.0), yolo / "serving_server")
    single_jpg = svc.predict_images({"image": JPG})["image"]
    single_png = svc.predict_images({"image": PNG})["image"]
    both = svc.predict_images({"image_1": PNG, "image_0": JPG})
    assert list(both) == ["image_0", "image_1"]
    for got, want in ((both["image_0"], single_jpg), (both["image_1"], single_png)):
        assert len(got) == len(want)
        np.testing.assert_allclose([d["bbox"] for d in got], [d["bbox"] for d in want], atol=1e-3)
    strict = LocalService(_det_op(yolo, draw_threshold=0.99), yolo / "serving_server")
    kept = strict.predict_images({"image": JPG})["image"]
    assert all(d["score"] >= 0.99 for d in kept) and len(kept) < len(single_jpg)


def test_missing_or_undecodable_image_is_a_clear_5000(yolo):
    svc = LocalService(_det_op(yolo), yolo / "serving_server")
    with pytest.raises(ServiceCallError) as missing:
        svc.call({"img": base64.b64encode(JPG).decode()})
    assert missing.value.err_no == 5000
    assert "'image'" in missing.value.err_msg and "img" in missing.value.err_msg
    with pytest.raises(ServiceCallError) as garbage:
        svc.call({"image": base64.b64encode(b"not an image at all").decode()})
    assert garbage.value.err_no == 5000 and "'image'" in garbage.value.err_msg
    with pytest.raises(ServiceCallError) as not_b64:
        svc.call({"image": "%%%%"})
    assert not_b64.value.err_no == 5000


@pytest.fixture(scope="module")
def classifier(tmp_path_factory):
    root = tmp_path_factory.mktemp("cls")
    model = save_conv_classifier(root / "serving_server", num_classes=4, image_size=32,
                                 input_name="x")
    write_serving_server(model)
    cfg = {"mode": "paddle", "arch": "TinyNet", "task": "classification",
           "Preprocess": [{"type": "ResizeImage", "resize_short": 36},
                          {"type": "CropImage", "size": 32},
                          {"type": "NormalizeImage", "scale": 1 / 255, "mean": [0.485, 0.456, 0.406],
                           "std": [0.229, 0.224, 0.225], "order": ""},
                          {"type": "ToCHWImage"}],
           "label_list": ["cat", "dog", "ship", "tree"]}
    (root / "infer_cfg.yml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    return root


def test_classification_top_k_and_embedding_vectors(classifier):
    cls = LocalService(ClassificationOp(name="cls", deploy_config=classifier / "infer_cfg.yml",
                                        top_k=3), classifier / "serving_server")
    top = cls.predict_images({"image": JPG})["image"]
    cfg = read_deploy_config(classifier / "infer_cfg.yml")
    chw, _ = build_preprocess(cfg.preprocess, "ppcls")(decode_rgb(JPG))
    scores = LocalPredictor(str(classifier / "serving_server")).predict({"x": chw[None]})
    probs = next(iter(scores.values()))[0]
    order = np.argsort(-probs)[:3]
    assert [t["category_id"] for t in top] == order.tolist()
    assert [t["label"] for t in top] == [cfg.labels[i] for i in order]
    np.testing.assert_allclose([t["score"] for t in top], probs[order], rtol=1e-5)
    emb = LocalService(EmbeddingOp(name="emb", deploy_config=classifier / "infer_cfg.yml"),
                       classifier / "serving_server")
    vec = emb.predict_images({"image": JPG})["image"]
    np.testing.assert_allclose(vec, probs, rtol=1e-5)


def test_served_detection_with_auto_batching_matches_local(yolo):
    class Svc(WebService):
        def get_pipeline_response(self, read_op):
            return DetectionOp(name="det", input_ops=[read_op],
                               deploy_config=yolo / "infer_cfg.yml", draw_threshold=0.0)

    svc = Svc(name="det")
    svc.prepare_pipeline_config(yml_dict={
        "rpc_port": free_port(), "http_port": free_port(), "worker_num": 8,
        "op": {"det": {"batch_size": 4, "auto_batching_timeout": 50, "local_service_conf": {
            "model_config": str(yolo / "serving_server"), "client_type": "local_predictor"}}}})
    server = svc.start()
    try:
        local = LocalService(_det_op(yolo, draw_threshold=0.0), yolo / "serving_server")
        images = [JPG, PNG] * 4
        want = [local.predict_images({"image": im})["image"] for im in images]
        client = PipelineClient()
        client.connect([f"127.0.0.1:{server.rpc_port}"])
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            resps = list(pool.map(lambda im: client.predict(
                {"image": base64.b64encode(im).decode()}), images))
        for resp, expected in zip(resps, want, strict=True):
            assert resp.err_no == 0, resp.err_msg
            got = json.loads(resp.value[0])
            assert len(got) == len(expected)
            np.testing.assert_allclose([d["bbox"] for d in got], [d["bbox"] for d in expected],
                                       atol=1e-3)
        tensor = client.predict({"image": np.frombuffer(JPG, np.uint8)}, pack_tensor_format=True)
        assert tensor.err_no == 0, tensor.err_msg
        assert len(json.loads(tensor.value[0])) == len(want[0])
    finally:
        server.stop(5)


def test_images_as_tensors_give_the_same_results(yolo):
    """Tensor mode (PipelineClient(pack_tensor_format=True)): the file's bytes as a uint8 vector,
    or decoded RGB pixels, give what base64 text gives; other tensors are a clear 5000."""
    svc = LocalService(_det_op(yolo, draw_threshold=0.0), yolo / "serving_server")
    want = svc.predict_images({"image": JPG})["image"]
    as_bytes = json.loads(svc.call({"image": np.frombuffer(JPG, np.uint8)})["image"])
    as_pixels = json.loads(svc.call({"image": decode_rgb(JPG)})["image"])
    for got in (as_bytes, as_pixels):
        np.testing.assert_allclose([d["bbox"] for d in got], [d["bbox"] for d in want], atol=1e-3)
    with pytest.raises(ServiceCallError) as bad:
        svc.call({"image": np.zeros((4, 4), np.float32)})
    assert bad.value.err_no == 5000 and "uint8" in bad.value.err_msg
