"""LocalPredictor and build_inference_config with real Paddle Inference on CPU (tiny models)."""

from __future__ import annotations

import logging
import re
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest

from generator.runtime.errors import PredictorError
from generator.runtime.inference.model_files import find_model_files
from generator.runtime.inference.predictor import (
    LocalPredictor,
    PredictorOptions,
    build_inference_config,
)
from generator.serving_model import read_model_config
from tests.helpers.tiny_models import (
    SavedModel,
    linear_reference,
    linear_weights,
    save_conv_classifier,
    save_linear_model,
    save_linear_models,
    save_tiny_detector,
    write_serving_server,
)

paddle_infer = pytest.importorskip("paddle.inference")

FORMATS = ("pir", "legacy", "legacy_separate", "legacy_combined")
KINDS = {
    "pir": ("pir_json", False),
    "legacy": ("pdmodel", True),
    "legacy_separate": ("separate", True),
    "legacy_combined": ("combined_legacy", True),
}


@pytest.fixture(scope="module")
def linear(tmp_path_factory) -> dict[str, SavedModel]:
    """The linear model in every format (one subprocess), each with a uci-style prototxt
    whose fetch alias is "price"."""
    models = save_linear_models(tmp_path_factory.mktemp("linear"), FORMATS)
    for m in models.values():
        write_serving_server(m, fetch_alias_names=["price"])
    return models


@pytest.fixture(scope="module")
def detector(tmp_path_factory) -> SavedModel:
    m = save_tiny_detector(tmp_path_factory.mktemp("det") / "model", num_classes=2)
    write_serving_server(m, m.model_dir / "serving_server",
                         fetch_alias_names=["bbox", "bbox_num"])
    return m


@pytest.fixture(scope="module")
def det_predictor(detector) -> LocalPredictor:
    return LocalPredictor(detector.model_dir / "serving_server")


@pytest.fixture(scope="module")
def uci_predictor(linear) -> LocalPredictor:
    return LocalPredictor(linear["legacy_separate"].model_dir)


def _direct_run(config, feed: dict[str, np.ndarray]) -> list[np.ndarray]:
    """Run a paddle.inference predictor directly, outputs in model order."""
    pred = paddle_infer.create_predictor(config)
    for name in pred.get_input_names():
        pred.get_input_handle(name).copy_from_cpu(feed[name])
    pred.run()
    return [pred.get_output_handle(n).copy_to_cpu() for n in pred.get_output_names()]


# ----------------------------------------------------------------------------- model files


@pytest.mark.parametrize("fmt", FORMATS)
def test_find_model_files_detects_each_layout(linear, fmt):
    files = find_model_files(linear[fmt].model_dir)
    assert (files.kind, files.needs_legacy_ir) == KINDS[fmt]
    if fmt == "legacy_separate":
        assert files.model_file is None and files.params_file is None
    else:
        assert files.model_file.is_file() and files.params_file.is_file()


def test_find_model_files_prefers_matching_stems(tmp_path):
    for name in ("a.pdmodel", "b.pdmodel", "b.pdiparams", "other.json"):
        (tmp_path / name).write_bytes(b"x")
    files = find_model_files(tmp_path)
    assert (files.model_file.name, files.params_file.name) == ("b.pdmodel", "b.pdiparams")


def test_find_model_files_ignores_unrelated_json(tmp_path):
    (tmp_path / "infer_cfg.json").write_text("{}")
    (tmp_path / "model.pdiparams").write_bytes(b"x")
    with pytest.raises(PredictorError) as err:
        find_model_files(tmp_path)
    msg = str(err.value)
    assert str(tmp_path) in msg
    assert "__model__ + __params__" in msg and "*.json + *.pdiparams" in msg
    assert "infer_cfg.json" in msg  # lists what was found


def test_missing_model_dir_message(tmp_path):
    with pytest.raises(PredictorError, match="model directory not found"):
        LocalPredictor(tmp_path / "nope")


def test_unknown_option_names_the_closest_known_one(linear):
    with pytest.raises(PredictorError, match=r"unknown predictor option\(s\) \['thred_num'\] "
                                             r"\(did you mean 'thread_num'\?\)"):
        LocalPredictor(linear["pir"].model_dir, thred_num=2)


# ----------------------------------------------------------------------------- predict


@pytest.mark.parametrize("fmt", FORMATS)
def test_predict_each_format_with_fetch_alias(linear, fmt):
    m = linear[fmt]
    p = LocalPredictor(m.model_dir)
    assert p.feed_names == ["x"]
    assert p.fetch_names == ["price"]
    x = m.example_feed(batch=3)["x"]
    out = p.predict({"x": x})
    assert list(out) == ["price"]
    np.testing.assert_allclose(out["price"], linear_reference(x, m), rtol=1e-5, atol=1e-6)


def test_outputs_equal_direct_inference_and_dynamic_model(linear):
    import paddle

    m = linear["pir"]
    x = m.example_feed(batch=4, seed=3)["x"]
    out = LocalPredictor(m.model_dir).predict({"x": x})["price"]
    config = paddle_infer.Config(str(m.model_dir / "model.json"),
                                 str(m.model_dir / "model.pdiparams"))
    config.disable_mkldnn()
    np.testing.assert_array_equal(out, _direct_run(config, {"x": x})[0])
    layer = paddle.nn.Linear(13, 1)
    w = linear_weights()
    layer.weight.set_value(w["w"])
    layer.bias.set_value(w["b"])
    np.testing.assert_allclose(out, layer(paddle.to_tensor(x)).numpy(), rtol=1e-5, atol=1e-6)


def test_feed_is_cast_to_prototxt_dtype(uci_predictor, linear):
    x64 = linear["pir"].example_feed(batch=2)["x"].astype("float64")
    out64 = uci_predictor.predict({"x": x64})["price"]
    out32 = uci_predictor.predict({"x": x64.astype("float32")})["price"]
    assert out64.dtype == np.float32
    np.testing.assert_array_equal(out64, out32)


def test_list_input_is_reshaped_to_prototxt_shape(uci_predictor, linear):
    x = linear["pir"].example_feed(batch=2)["x"]
    out = uci_predictor.predict({"x": x.ravel().tolist()})["price"]
    assert out.shape == (2, 1)
    np.testing.assert_allclose(out, linear_reference(x, linear["pir"]), rtol=1e-5, atol=1e-6)


def test_batch_false_adds_leading_axis(uci_predictor, linear):
    x = linear["pir"].example_feed(batch=1)["x"][0]
    for value in (x, x.tolist()):
        out = uci_predictor.predict({"x": value}, batch=False)["price"]
        assert out.shape == (1, 1)
        np.testing.assert_allclose(out[0], linear_reference(x, linear["pir"]), rtol=1e-5,
                                   atol=1e-6)


def test_missing_feed_names_input_and_expected_list(det_predictor):
    with pytest.raises(PredictorError) as err:
        det_predictor.predict({"image": np.zeros((1, 3, 64, 64), "float32")}, log_id=7)
    msg = str(err.value)
    assert "'im_shape'" in msg
    assert "['image', 'im_shape', 'scale_factor']" in msg
    assert "log_id 7" in msg


def test_lod_input_is_set_and_lod_output_returned(linear):
    x = linear["pir"].example_feed(batch=3)["x"]
    for fmt in ("legacy_separate", "pir"):
        p = LocalPredictor(linear[fmt].model_dir)
        out = p.predict({"x": x, "x.lod": [0, 1, 3]})
        np.testing.assert_array_equal(out["price.lod"], np.array([0, 1, 3], dtype=np.int32))
        assert out["price.lod"].dtype == np.int32
        # A later batch without LoD must not report the earlier (stale) LoD.
        out = p.predict({"x": x[:2]})
        assert "price.lod" not in out and out["price"].shape == (2, 1)


def test_feed_alias_names(tmp_path):
    m = save_linear_model(tmp_path / "m", fmt="pir", seed=5)
    write_serving_server(m, feed_alias_names=["features"], fetch_alias_names=["y"])
    p = LocalPredictor(m.model_dir)
    assert p.feed_names == ["features"]
    assert [v.name for v in p.feed_vars] == ["x"]
    x = m.example_feed(batch=2)["x"]
    np.testing.assert_allclose(p.predict({"features": x})["y"], linear_reference(x, m),
                               rtol=1e-5, atol=1e-6)
    # The model variable name is accepted too.
    np.testing.assert_allclose(p.predict({"x": x})["y"], linear_reference(x, m), rtol=1e-5,
                               atol=1e-6)


def test_write_serving_server_layout(detector, tmp_path):
    dest = write_serving_server(detector, tmp_path / "serving_server",
                                fetch_alias_names=["bbox", "bbox_num"],
                                client_dir=tmp_path / "serving_client")
    names = sorted(p.name for p in dest.iterdir())
    assert names == ["model.json", "model.pdiparams", "serving_server_conf.prototxt",
                     "serving_server_conf.stream.prototxt"]
    client = read_model_config(tmp_path / "serving_client" / "serving_client_conf.prototxt")
    assert [v.alias_name for v in client.fetch_vars] == ["bbox", "bbox_num"]
    assert [(v.name, v.shape) for v in client.feed_vars] == [
        ("image", (3, 64, 64)), ("im_shape", (2,)), ("scale_factor", (2,))]


def test_detector_outputs_and_fetch_filtering(det_predictor, detector):
    assert det_predictor.feed_names == ["image", "im_shape", "scale_factor"]
    assert det_predictor.fetch_names == ["bbox", "bbox_num"]
    assert [v.dtype for v in det_predictor.fetch_vars] == ["float32", "int32"]
    feed = detector.example_feed(batch=2)
    out = det_predictor.predict(feed)
    assert set(out) == {"bbox", "bbox_num"}
    assert out["bbox"].ndim == 2 and out["bbox"].shape[1] == 6
    assert out["bbox_num"].dtype == np.int32 and out["bbox_num"].shape == (2,)
    assert int(out["bbox_num"].sum()) == out["bbox"].shape[0]

    only = det_predictor.predict(feed, fetch=["bbox_num"])
    assert list(only) == ["bbox_num"]
    np.testing.assert_array_equal(only["bbox_num"], out["bbox_num"])
    by_model_name = det_predictor.predict(feed, fetch=["fetch_name_1"])
    np.testing.assert_array_equal(by_model_name["fetch_name_1"], out["bbox_num"])
    # a name the model lacks is skipped, as Paddle Serving 0.9's LocalPredictor.predict does
    assert list(det_predictor.predict(feed, fetch=["bbox", "nope"])) == ["bbox"]


def test_detector_matches_direct_inference(det_predictor, detector):
    feed = detector.example_feed(batch=2, seed=1)
    out = det_predictor.predict(feed)
    config = paddle_infer.Config(str(detector.model_dir / "model.json"),
                                 str(detector.model_dir / "model.pdiparams"))
    config.disable_mkldnn()
    bbox, bbox_num = _direct_run(config, feed)
    np.testing.assert_allclose(out["bbox"], bbox, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(out["bbox_num"], bbox_num)


def test_positional_fetch_fallback(uci_predictor, linear):
    x = linear["pir"].example_feed(batch=2)["x"]
    out = uci_predictor.predict({"x": x}, fetch=["legacy_name"])
    assert list(out) == ["legacy_name"]
    np.testing.assert_allclose(out["legacy_name"], linear_reference(x, linear["pir"]),
                               rtol=1e-5, atol=1e-6)


def test_bare_model_uses_own_names(tmp_path, caplog):
    m = save_linear_model(tmp_path / "bare", fmt="pir")
    with caplog.at_level(logging.WARNING, logger="generator.runtime.inference.predictor"):
        p = LocalPredictor(m.model_dir)
    assert "no serving_server_conf.prototxt" in caplog.text
    assert p.feed_names == ["x"] and p.fetch_names == m.output_names
    assert p.feed_vars[0].dtype == "float32"
    x = m.example_feed()["x"]
    out = p.predict({"x": x.astype("float64")})
    np.testing.assert_allclose(out[m.output_names[0]], linear_reference(x, m), rtol=1e-5,
                               atol=1e-6)


# ----------------------------------------------------------------------------- clone / threads


def test_clone_gives_identical_outputs_and_is_thread_safe(det_predictor, detector):
    feeds = [detector.example_feed(batch=2, seed=s) for s in range(4)]
    expected = [det_predictor.predict(f) for f in feeds]
    clones = [det_predictor.clone(), det_predictor.clone()]
    for k in expected[0]:
        np.testing.assert_array_equal(clones[0].predict(feeds[0])[k], expected[0][k])
    errors: list[BaseException] = []

    def worker(pred: LocalPredictor, offset: int) -> None:
        try:
            for i in range(30):
                j = (i + offset) % len(feeds)
                got = pred.predict(feeds[j])
                for k, v in expected[j].items():
                    np.testing.assert_array_equal(got[k], v)
        except BaseException as exc:  # noqa: BLE001 - reported to the main thread
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(c, i)) for i, c in enumerate(clones)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors


# ----------------------------------------------------------------------------- options


def test_mem_optim_default_does_not_crash(linear):
    pir = LocalPredictor(linear["pir"].model_dir)  # mem_optim=True is the default
    assert pir.memory_optim_enabled is False  # Paddle 3 rejects it for PIR programs
    legacy = LocalPredictor(linear["legacy"].model_dir, mem_optim=True)
    assert legacy.memory_optim_enabled is True
    x = linear["pir"].example_feed()["x"]
    np.testing.assert_allclose(pir.predict({"x": x})["price"], legacy.predict({"x": x})["price"],
                               rtol=1e-5, atol=1e-6)


def test_uci_example_conf_mkldnn_and_ir_optim(linear):
    """Paddle Serving's uci example: use_mkldnn True + ir_optim True on a legacy model."""
    m = linear["legacy_separate"]
    conf = {"model_config": str(m.model_dir), "client_type": "local_predictor",
            "device_type": 0, "devices": "", "fetch_list": ["price"], "thread_num": 2,
            "precision": "fp32", "ir_optim": True, "use_mkldnn": True,
            "mkldnn_cache_capacity": 10}
    p = LocalPredictor.from_local_service_conf(conf, "cpu", 0)
    assert p.options.use_mkldnn and p.options.ir_optim and p.options.mem_optim
    x = m.example_feed(batch=2)["x"]
    np.testing.assert_allclose(p.predict({"x": x}, fetch=["price"])["price"],
                               linear_reference(x, m), rtol=1e-4, atol=1e-5)


def test_build_inference_config_maps_cpu_options(linear):
    files = find_model_files(linear["legacy"].model_dir)
    cfg = build_inference_config(files, PredictorOptions(thread_num=3))
    assert cfg.use_gpu() is False
    assert cfg.mkldnn_enabled() is False  # disabled explicitly: Paddle 3 enables it by default
    assert cfg.cpu_math_library_num_threads() == 3
    assert cfg.ir_optim() is False
    assert cfg.use_feed_fetch_ops_enabled() is False
    assert cfg.new_ir_enabled() is False
    assert cfg.glog_info_disabled() is True
    assert cfg.tensorrt_engine_enabled() is False

    cfg = build_inference_config(files, PredictorOptions(
        use_mkldnn=True, ir_optim=True, precision="bf16", mkldnn_cache_capacity=4,
        mkldnn_op_list=["conv2d"], mkldnn_bf16_op_list=["conv2d"],
        collect_shape_range_info=str(files.model_dir / "shapes.pbtxt")))
    assert cfg.mkldnn_enabled() is True
    assert cfg.ir_optim() is True
    assert cfg.shape_range_info_collected() is True
    assert cfg.shape_range_info_path().endswith("shapes.pbtxt")

    pir = build_inference_config(find_model_files(linear["pir"].model_dir), PredictorOptions())
    assert pir.model_dir() == "" and pir.prog_file().endswith("model.json")


def test_gpu_devices_rejected_clearly_on_cpu_build(linear):
    import paddle

    if paddle.device.is_compiled_with_cuda():
        pytest.skip("CUDA build: the GPU path is exercised instead")
    for device in ("gpu", "trt"):
        with pytest.raises(PredictorError, match="CPU build") as err:
            LocalPredictor(linear["pir"].model_dir, device=device)
        assert str(linear["pir"].model_dir) in str(err.value)


def test_invalid_options():
    with pytest.raises(PredictorError, match="device must be one of"):
        PredictorOptions(device="tpu").validate()
    with pytest.raises(PredictorError, match="missing"):
        PredictorOptions(dynamic_shape_info={"min_input_shape": {"x": [1]}}).validate()


def test_from_local_service_conf_defaults_and_dynamic_shape_merge(linear):
    conf = {
        "model_config": str(linear["pir"].model_dir),
        "min_input_shape": {"x": [1, 13], "y": [1, 2]},
        "max_input_shape": {"x": [8, 13], "y": [4, 2]},
        "opt_input_shape": {"x": [4, 13], "y": [2, 2]},
    }
    hook = {"min_input_shape": {"x": [2, 13]}, "max_input_shape": {"x": [16, 13]},
            "opt_input_shape": {"x": [8, 13]}}
    p = LocalPredictor.from_local_service_conf(conf, "cpu", 0, dynamic_shape_info=hook)
    info = p.options.dynamic_shape_info
    assert info["min_input_shape"] == {"x": [2, 13], "y": [1, 2]}
    assert info["max_input_shape"] == {"x": [16, 13], "y": [4, 2]}
    assert info["opt_input_shape"] == {"x": [8, 13], "y": [2, 2]}
    defaults = PredictorOptions()
    assert (p.options.thread_num, p.options.mem_optim, p.options.ir_optim,
            p.options.precision, p.options.use_mkldnn, p.options.min_subgraph_size) == (
        defaults.thread_num, True, False, "fp32", False, 3)
    with pytest.raises(PredictorError, match="model_config"):
        LocalPredictor.from_local_service_conf({}, "cpu", 0)


# ----------------------------------------------------------------------------- failures


def test_unloadable_model_gives_predictor_error(tmp_path):
    d = tmp_path / "broken"
    d.mkdir()
    (d / "model.json").write_text('{"not": "a program"}')
    (d / "model.pdiparams").write_bytes(b"\x00" * 16)
    with pytest.raises(PredictorError) as err:
        LocalPredictor(d)
    msg = str(err.value)
    assert str(d) in msg and "model.json" in msg and "Paddle said" in msg
    with pytest.raises(PredictorError, match="use_mkldnn: false"):
        LocalPredictor(d, use_mkldnn=True)


# ----------------------------------------------------------------------------- warmup


def test_warmup(uci_predictor, det_predictor, tmp_path):
    assert uci_predictor.warmup(batch_size=2) is True
    assert det_predictor.warmup() is True
    cls = save_conv_classifier(tmp_path / "cls", image_size=None)
    write_serving_server(cls, dynamic_dims=True)  # H, W unknown -> shape [3, -1, -1]
    assert read_model_config(cls.model_dir).feed_vars[0].shape == (3, -1, -1)
    p = LocalPredictor(cls.model_dir)
    # the model's own rank and dtype: x is [-1, 3, -1, -1] float32 in the program
    feed = p.warmup_feed(batch_size=2)
    assert feed["x"].shape == (2, 3, 64, 64) and feed["x"].dtype == np.float32
    assert p.warmup() is True
    out = p.predict({"x": cls.example_feed(batch=2)["x"]})
    assert out[p.fetch_names[0]].shape == (2, 4)
    np.testing.assert_allclose(out[p.fetch_names[0]].sum(axis=1), 1.0, rtol=1e-5)
    # Paddle Serving's converter drops the dynamic dims (x [-1, 3, -1, -1] becomes shape: 3)
    conf = cls.model_dir / "serving_server_conf.prototxt"
    conf.write_text(re.sub(r"\n\s*shape: -1", "", conf.read_text()))
    assert read_model_config(cls.model_dir).feed_vars[0].shape == (3,)
    truncated = LocalPredictor(cls.model_dir)
    assert truncated.warmup_feed()["x"].shape == (1, 3, 64, 64)
    assert truncated.warmup() is True
    conf.unlink()
    assert LocalPredictor(cls.model_dir).warmup() is True


# ----------------------------------------------------------------------------- real uci model


def _uci_model_dir(request) -> Path:
    try:
        root = Path(request.getfixturevalue("serving_wheel_dir"))
    except Exception as exc:  # noqa: BLE001 - fixture missing or download failed
        pytest.skip(f"paddle-serving-server wheel not available: {exc}")
    hits = [p for p in root.rglob("uci_housing_model") if (p / "__model__").is_file()]
    if not hits:
        pytest.skip(f"no uci_housing_model with __model__ under {root}")
    return hits[0]


def test_real_paddle_serving_uci_model(request, tmp_path):
    src = _uci_model_dir(request)
    d = tmp_path / "uci_housing_model"
    shutil.copytree(src, d)
    p = LocalPredictor(d, use_mkldnn=True, ir_optim=True)
    assert p.model_files.kind == "separate"
    assert (p.feed_names, p.fetch_names) == (["x"], ["price"])
    x = np.random.default_rng(0).standard_normal((2, 13)).astype("float32")
    out = p.predict({"x": x.tolist()}, fetch=["price"])
    config = paddle_infer.Config(str(d))
    config.enable_new_ir(False)
    config.disable_mkldnn()
    np.testing.assert_allclose(out["price"], _direct_run(config, {"x": x})[0], rtol=1e-5,
                               atol=1e-5)
    assert p.warmup() is True
