"""Inference backends behind LocalPredictor, with real Paddle, OpenVINO and (where installed)
ONNX Runtime on CPU: oneDNN with the Paddle 3.3.1 workarounds, the child-process probe that
survives a real oneDNN crash, and each backend's outputs against Paddle with oneDNN off."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from generator.quality.backend_parity import outputs_equivalent
from generator.runtime.errors import PredictorError
from generator.runtime.inference.backends.paddle_backend import (
    ONEDNN_DOUBLE_ATTR_PASSES,
    onednn_workaround_passes,
)
from generator.runtime.inference.model_files import find_model_files
from generator.runtime.inference.predictor import LocalPredictor
from tests.helpers.tiny_models import save_conv_classifier, save_tiny_yolo, write_serving_server


@pytest.fixture(scope="module")
def yolo(tmp_path_factory):
    root = tmp_path_factory.mktemp("yolo")
    models = {fmt: save_tiny_yolo(root / fmt, fmt=fmt, image_size=None)
              for fmt in ("pir", "legacy")}
    for m in models.values():
        write_serving_server(m, feed_alias_names=["image", "im_shape", "scale_factor"],
                             fetch_alias_names=["bbox", "bbox_num"], sort_fetch=False)
    return models


@pytest.fixture(scope="module")
def classifier(tmp_path_factory):
    root = tmp_path_factory.mktemp("cls")
    models = {fmt: save_conv_classifier(root / fmt, fmt=fmt, image_size=None)
              for fmt in ("pir", "legacy")}
    for m in models.values():
        write_serving_server(m)
    return models


def _feed(model, batch: int = 2, side: int = 96) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(7)
    feed = {"image": rng.uniform(-1, 1, (batch, 3, side, side)).astype("float32"),
            "im_shape": np.full((batch, 2), side, "float32"),
            "scale_factor": np.ones((batch, 2), "float32")}
    if model.input_names == ["x"]:
        return {"x": feed["image"]}
    return feed


def _reference(model, feed):
    return LocalPredictor(model.model_dir, use_mkldnn=False).predict(feed)


def test_workaround_passes_only_for_pir_programs_with_double_attributes(yolo, classifier):
    assert onednn_workaround_passes(find_model_files(yolo["pir"].model_dir)) == \
        ONEDNN_DOUBLE_ATTR_PASSES
    assert onednn_workaround_passes(find_model_files(yolo["legacy"].model_dir)) == ()
    assert onednn_workaround_passes(find_model_files(classifier["pir"].model_dir)) == ()


@pytest.mark.slow
def test_a_real_onednn_crash_in_the_probe_falls_back_to_onednn_off(yolo, caplog):
    """Without the workarounds, Paddle 3.3.1 + oneDNN dies with SIGSEGV on this program: the
    probe child dies, the predictor runs oneDNN off, says why, and answers correctly."""
    m = yolo["pir"]
    feed = _feed(m)
    with caplog.at_level(logging.WARNING, logger="generator.runtime.inference.predictor"):
        p = LocalPredictor(m.model_dir, use_mkldnn=True, onednn_workarounds=False)
    assert "SIGSEGV" in p.fallback_reason
    assert p.backend == "paddle" and p.options.use_mkldnn is False
    assert any("oneDNN off instead" in r.getMessage() for r in caplog.records)
    got, want = p.predict(feed), _reference(m, feed)
    for k, v in want.items():
        np.testing.assert_array_equal(got[k], v)


@pytest.mark.slow
def test_interleaved_rounds_time_every_candidate_and_survive_a_crash(yolo):
    """measure_backends(rounds=3): each built candidate gets 3 per-round medians; the oneDNN
    candidate without the workarounds dies with SIGSEGV while being built, gets that failure,
    and the others are still measured (interleaved) in a new child."""
    from generator.runtime.inference.predictor import PredictorOptions
    from generator.runtime.inference.probe import measure_backends

    d = yolo["pir"].model_dir
    opts = [PredictorOptions(thread_num=1, use_mkldnn=False, mem_optim=False),
            PredictorOptions(thread_num=1, use_mkldnn=True, onednn_workarounds=False,
                             mem_optim=False),
            PredictorOptions(thread_num=1, use_mkldnn=True, mem_optim=False)]
    got = measure_backends([(d, o) for o in opts], _feed(yolo["pir"], batch=1, side=64),
                           runs=2, min_seconds=0.0, rounds=3)
    assert got[1].failure and "SIGSEGV" in got[1].failure
    for r in (got[0], got[2]):
        assert r.ok, r.failure
        assert len(r.rounds_s) == 3 and len(r.times_s) == 6
        assert r.median_s == pytest.approx(float(np.median(r.rounds_s)))
    ok, summary = outputs_equivalent(got[2].outputs, got[0].outputs)
    assert ok, summary


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["pir", "legacy"])
def test_onednn_detector_equals_onednn_off(yolo, fmt):
    m = yolo[fmt]
    feed = _feed(m)
    p = LocalPredictor(m.model_dir, use_mkldnn=True)
    assert p.fallback_reason == "" and p.options.use_mkldnn is True
    want = _reference(m, feed)
    assert want["bbox_num"].sum() > 0 and want["bbox"][:, 1].std() > 0  # not degenerate
    ok, summary = outputs_equivalent(p.predict(feed), want)
    assert ok, summary


@pytest.mark.parametrize("fmt", ["pir", "legacy"])
def test_onednn_classifier_equals_onednn_off(classifier, fmt):
    m = classifier[fmt]
    feed = _feed(m)
    p = LocalPredictor(m.model_dir, use_mkldnn=True)
    assert p.options.use_mkldnn is True
    ok, summary = outputs_equivalent(p.predict(feed), _reference(m, feed))
    assert ok, summary


def test_openvino_detector_and_classifier_equal_paddle(yolo, classifier):
    pytest.importorskip("openvino", reason="the openvino extra is not installed")
    for m in (yolo["legacy"], classifier["legacy"]):
        p = LocalPredictor(m.model_dir, backend="openvino", thread_num=1)
        assert p.backend == "openvino" and p.releases_gil and p.fallback_reason == ""
        assert p.feed_names == [v.name for v in m.inputs]  # the prototxt's order
        for batch in (1, 3):
            feed = _feed(m, batch=batch)
            ok, summary = outputs_equivalent(p.predict(feed), _reference(m, feed))
            assert ok, f"batch {batch}: {summary}"
        twin = p.clone()  # its own infer request on the same compiled model
        feed = _feed(m, batch=1, side=64)
        ok, summary = outputs_equivalent(twin.predict(feed), p.predict(feed))
        assert ok, summary


def test_openvino_compiles_a_stream_per_instance_that_shares_the_model(classifier):
    """Thread-mode instances share one compiled model; a stream runs one request at a time, so
    two instances on a one-stream model ran one after the other (measured: 0.7x of one
    instance of two threads, 1.2x with a stream each)."""
    pytest.importorskip("openvino", reason="the openvino extra is not installed")
    import concurrent.futures

    from generator.runtime.executor.threads import _share

    m = classifier["legacy"]
    one = LocalPredictor(m.model_dir, backend="openvino", thread_num=2)
    two = LocalPredictor(m.model_dir, backend="openvino", thread_num=1, streams=2)
    assert int(one._engine._compiled.get_property("NUM_STREAMS")) == 1
    assert int(two._engine._compiled.get_property("NUM_STREAMS")) == 2
    assert int(two._engine._compiled.get_property("INFERENCE_NUM_THREADS")) == 2
    feed = _feed(m, batch=1)
    want = _reference(m, feed)
    # each instance (its own infer request on the shared model) in its own thread, at once
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        runs = pool.map(lambda p: [p.predict(feed) for _ in range(4)], [two, two.clone()])
        for got in (g for run in runs for g in run):
            assert outputs_equivalent(got, want)[0]
    # the copies of an Op go round-robin over its devices: the most on one device
    assert [_share(c, d) for c, d in ((1, 1), (2, 1), (4, 1), (3, 2), (2, 4))] == [1, 2, 4, 2, 1]


def test_openvino_refuses_pir_programs_with_the_fix(yolo):
    pytest.importorskip("openvino", reason="the openvino extra is not installed")
    with pytest.raises(PredictorError, match="model_format legacy"):
        LocalPredictor(yolo["pir"].model_dir, backend="openvino", startup_probe=False)


def test_unknown_backend_and_lod_inputs_are_clear_errors(yolo):
    with pytest.raises(PredictorError, match="backend must be one of"):
        LocalPredictor(yolo["legacy"].model_dir, backend="tensorflow")
    pytest.importorskip("openvino", reason="the openvino extra is not installed")
    p = LocalPredictor(yolo["legacy"].model_dir, backend="openvino", startup_probe=False)
    feed = {**_feed(yolo["legacy"], batch=1), "image.lod": [0, 1]}
    with pytest.raises(PredictorError, match="LoD"):
        p.predict(feed)


@pytest.mark.slow
def test_a_service_whose_backend_crashes_in_the_probe_still_starts_and_answers(yolo):
    """A real service (gRPC + HTTP) configured with oneDNN without the workarounds: the
    probe child dies with SIGSEGV, the service starts on oneDNN off, is ready and answers
    with the reference's boxes."""
    import json

    import requests

    from generator.runtime import Op, WebService
    from tests.helpers.services import free_port

    m = yolo["pir"]
    feed = _feed(m, batch=1, side=64)

    class DetOp(Op):
        def preprocess(self, input_dicts, data_id, log_id):
            return feed, False, None, ""

        def postprocess(self, input_dicts, fetch_dict, data_id, log_id):
            return {"bbox": json.dumps(fetch_dict["bbox"].tolist())}, None, ""

    class Service(WebService):
        def get_pipeline_response(self, read_op):
            return DetOp(name="det", input_ops=[read_op])

    conf = {"rpc_port": free_port(), "http_port": free_port(), "dag": {"is_thread_op": True},
            "op": {"det": {"local_service_conf": {
                "model_config": str(m.model_dir), "client_type": "local_predictor",
                "use_mkldnn": True, "onednn_workarounds": False}}}}
    svc = Service(name="det")
    svc.prepare_pipeline_config(yml_dict=conf)
    server = svc.start()
    try:
        base = f"http://127.0.0.1:{server.http_port}"
        ready = requests.get(f"{base}/health/ready", timeout=10)
        assert ready.status_code == 200
        assert any("SIGSEGV" in w and "oneDNN off instead" in w
                   for w in ready.json()["warnings"]), ready.json()
        answer = requests.post(f"{base}/det/prediction", json={"key": ["x"], "value": ["1"]},
                               timeout=60).json()
    finally:
        server.stop(5)
    assert answer["err_no"] == 0, answer
    want = _reference(m, feed)["bbox"]
    np.testing.assert_array_equal(np.asarray(json.loads(answer["value"][0]), "float32"), want)
