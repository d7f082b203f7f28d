"""Exports of each model source, formats, parity, infer_cfg and the error paths."""

from __future__ import annotations

import numpy as np
import paddle
import pytest
import yaml

from generator.export.errors import ConfigError, InputSpecError, ParityError, WeightsError
from generator.export.exporter import export_built_model, export_config
from generator.export.infer_cfg import read_infer_cfg
from generator.export.native_config import build_model, load_native_config
from generator.export.parity import check_parity, format_parity_table
from generator.export.predictor import create_predictor, run_predictor
from generator.export.specs import parse_inputs, random_inputs
from generator.serving_model.model_config import read_model_config


def _no_leftovers(parent):
    return [p.name for p in parent.iterdir()] == []


def test_factory_nested_dict_and_constant(pir_export, configs):
    res = pir_export
    assert res.model_file.name == "model.json" and res.params_file.is_file()
    assert res.model_dir.name == "tiny" and res.parity.ok
    assert [o.name for o in res.parity.outputs] == ["fetch_name_0", "fetch_name_1"]
    assert res.feed_names == ["x", "b"]
    conf = read_model_config(res.serving_server)
    assert [(v.name, v.shape, v.dtype) for v in conf.feed_vars] == [
        ("x", (4,), "float32"), ("b", (3,), "float32")]
    assert (res.serving_server / "model.json").is_file()
    assert (res.serving_client / "serving_client_conf.prototxt").is_file()
    # parity passed with the dynamic model called with the constant 3.0 packed in
    x = np.ones((2, 4), "float32")
    b = np.zeros((2, 3), "float32")
    out = dict(run_predictor(create_predictor(res.model_dir), {"x": x, "b": b}))
    probs, relu = out["fetch_name_0"], out["fetch_name_1"]
    assert relu.shape == (2, 3) and np.all(relu >= 0)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    infer = read_infer_cfg(res.model_dir)
    assert list(infer)[:3] == ["mode", "arch", "task"] and infer["arch"] == "build"


def test_non_forward_method_legacy_format(legacy_export):
    res = legacy_export
    names = sorted(p.name for p in res.model_dir.iterdir())
    assert "model.pdmodel" in names and "model.json" not in names
    assert res.parity is not None and res.parity.ok
    # loadable by paddle.inference in this (PIR) process, and from serving_server/
    for d in (res.model_dir, res.serving_server):
        out = run_predictor(create_predictor(d), {"x0": np.ones((2, 4), "float32"),
                                                  "x1": np.zeros((2, 4), "float32")})
        assert out[0][1].shape == (2, 3)
    assert read_infer_cfg(res.model_dir)["task"] == "embedding"


def test_vision_arch_fixed_shape_and_infer_cfg(configs, tmp_path):
    res = export_config(configs / "mbv3.yml", tmp_path, fixed_input_shape="[32,32]")
    assert res.parity.ok
    conf = read_model_config(res.serving_server)
    assert conf.feed_vars[0].name == "x" and conf.feed_vars[0].shape == (3, 32, 32)
    assert conf.fetch_vars[0].shape == (5,)
    text = (res.model_dir / "infer_cfg.yml").read_text()
    assert text.index("mode:") < text.index("arch:") < text.index("Preprocess:") \
        < text.index("label_list:")
    infer = read_infer_cfg(res.model_dir)
    assert infer["arch"] == "mobilenet_v3_small" and infer["label_list"][0] == "cat"
    assert [op["type"] for op in infer["Preprocess"]] == [
        "ResizeImage", "CropImage", "NormalizeImage", "ToCHWImage"]
    assert infer["Preprocess"][1]["size"] == 32 and infer["input_shape"] == [None, 3, 32, 32]
    out = run_predictor(create_predictor(res.model_dir),
                        {"x": np.random.rand(2, 3, 32, 32).astype("float32")})[0][1]
    np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-5)  # softmax added


def test_fixed_shape_nchw_form_on_factory(configs, tmp_path):
    path = configs / "conv.yml"
    path.write_text(yaml.safe_dump({
        "version": 1, "task": "segmentation", "model": {"factory": "tinynets:build_conv"},
        "inputs": [{"name": "image", "shape": [None, 3, None, None]}]}))
    res = export_config(path, tmp_path, fixed_input_shape=[2, 3, 24, 16],
                        export_serving_model=False)
    assert res.serving_server is None and not (res.model_dir / "serving_server").exists()
    predictor = create_predictor(res.model_dir)
    assert predictor.get_input_handle("image").shape() == [2, 3, 16, 24]
    infer = read_infer_cfg(res.model_dir)
    assert infer["Preprocess"][0] == {"type": "Resize", "target_size": [24, 16]}


def test_weights_roundtrip_and_mismatch_errors(configs, tmp_path):
    cfg_path = configs / "tiny.yml"
    built = build_model(load_native_config(cfg_path), cfg_path)
    good = tmp_path / "good.pdparams"
    paddle.save(built.layer.state_dict(), str(good))
    loaded = build_model(load_native_config(cfg_path, [f"model.weights={good}"]), cfg_path)
    np.testing.assert_array_equal(loaded.layer.fc.weight.numpy(), built.layer.fc.weight.numpy())

    state = built.layer.state_dict()
    bad = {"fc.weight": paddle.zeros([5, 3]), "extra.w": paddle.zeros([1])}
    bad_path = tmp_path / "bad.pdparams"
    paddle.save(bad, str(bad_path))
    assert "fc.bias" in state
    out = tmp_path / "out"
    with pytest.raises(WeightsError) as info:
        export_config(cfg_path, out, [f"model.weights={bad_path}"])
    msg = str(info.value)
    assert "missing in the file: fc.bias" in msg and "unexpected in the file: extra.w" in msg
    assert "fc.weight: file [5, 3] vs model [4, 3]" in msg
    assert not out.exists() or _no_leftovers(out)

    with pytest.raises(WeightsError, match="is a URL.*download"):
        export_config(cfg_path, out, ["model.weights=https://x.org/m/yolo.pdparams"])
    with pytest.raises(WeightsError, match="not found"):
        export_config(cfg_path, out, ["model.weights=nope/missing.pdparams"])
    assert not out.exists() or _no_leftovers(out)


def test_inputspec_mismatch_leaves_nothing(configs, tmp_path):
    path = configs / "mismatch.yml"
    path.write_text(yaml.safe_dump({
        "version": 1, "model": {"factory": "tinynets:build"},
        "inputs": [{"name": "x", "shape": [None, 4]}]}))
    with pytest.raises(InputSpecError, match="no input spec for d"):
        export_config(path, tmp_path / "o")
    assert not (tmp_path / "o").exists() or _no_leftovers(tmp_path / "o")


def test_parity_detects_tampered_params(configs, tmp_path):
    cfg_path = configs / "embed.yml"
    built = build_model(load_native_config(cfg_path), cfg_path)
    res = export_built_model(built, tmp_path / "m", export_serving_model=False)
    specs = parse_inputs(load_native_config(cfg_path)["inputs"])
    inputs = random_inputs(specs)
    report = check_parity(built.layer.embed, res.model_dir, inputs, input_spec=specs)
    assert report.ok and report.outputs[0].max_abs_diff < 1e-5
    # overwrite the weights in the exported params with different values
    built.layer.fc.weight.set_value(built.layer.fc.weight.numpy() + 0.5)
    paddle.jit.save(paddle.jit.to_static(built.layer.embed, input_spec=[
        [paddle.static.InputSpec([None, 4], "float32", "x0"),
         paddle.static.InputSpec([None, 4], "float32", "x1")]], full_graph=True),
        str(tmp_path / "other" / "model"))
    (res.model_dir / "model.pdiparams").write_bytes(
        (tmp_path / "other" / "model.pdiparams").read_bytes())
    built.layer.fc.weight.set_value(built.layer.fc.weight.numpy() - 0.5)
    report = check_parity(built.layer.embed, res.model_dir, inputs, input_spec=specs)
    assert not report.ok and report.outputs[0].max_abs_diff > 0.1
    table = format_parity_table(report)
    assert "NO" in table and "parity FAIL" in table and "fetch_name_0" in table


def test_failed_parity_fails_export_and_cleans_up(configs, tmp_path):
    path = configs / "drift.yml"
    path.write_text(yaml.safe_dump({
        "version": 1, "model": {"factory": "tinynets:build_drift"},
        "inputs": [{"name": "x", "shape": [None, 4]}]}))
    with pytest.raises(ParityError, match="does not reproduce") as info:
        export_config(path, tmp_path / "out")
    assert info.value.report is not None and not info.value.report.ok
    assert _no_leftovers(tmp_path / "out")
    res = export_config(path, tmp_path / "out", verify=False)
    assert res.parity is None and (tmp_path / "out" / "drift" / "model.json").is_file()
    with pytest.raises(ConfigError, match="rtol"):
        export_config(path, tmp_path / "out2", rtol=-1.0)
