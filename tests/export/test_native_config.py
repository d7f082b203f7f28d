"""The native config schema: validation errors and model building."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from generator.export.errors import ConfigError, InputSpecError, ModelBuildError
from generator.export.native_config import build_model, load_native_config


def _write(tmp_path, data, name="m.yml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data) if not isinstance(data, str) else data)
    return path


BASE = {"version": 1, "model": {"factory": "tinynets:build"},
        "inputs": [{"name": "x", "shape": [None, 4]}, {"dict": {"b": {"shape": [None, 3]}}}]}


def test_load_defaults_and_passthrough(configs, tmp_path):
    data = dict(BASE, service={"anything": [1, 2]}, preprocess={"free": "form"},
                postprocess=None, labels={"issue5": True})
    cfg = load_native_config(_write(tmp_path, data, "my_model.yml"), ["model.args.hidden=3"])
    assert cfg["name"] == "my_model" and cfg["task"] == "generic"
    assert cfg["service"] == {"anything": [1, 2]} and cfg["labels"] == {"issue5": True}
    assert cfg["model"]["args"] == {"hidden": 3}


@pytest.mark.parametrize("data, err, msg", [
    ({"model": {"arch": "resnet18"}}, ConfigError, "missing `version: 1`"),
    ({"version": 2, "model": {"arch": "resnet18"}}, ConfigError, "unsupported config version"),
    (dict(BASE, modle={}), ConfigError, "did you mean 'model'"),
    ({"version": 1, "model": {"arch": "resnet18", "wieghts": "a"}}, ConfigError,
     "did you mean 'weights'"),
    ({"version": 1, "task": "detect", "model": {"arch": "resnet18"}}, ConfigError,
     "did you mean 'detection'"),
    ({"version": 1, "model": {"arch": "a", "factory": "b:c"}}, ConfigError, "exactly one"),
    ({"version": 1, "model": {"factory": "tinynets:build"}}, ConfigError, "needs `inputs:`"),
    ({"version": 1, "model": {"arch": "resnet18", "args": [1]}}, ConfigError, "mapping"),
    (dict(BASE, inputs=[{"shape": "big"}]), InputSpecError, "shape"),
])
def test_schema_errors(tmp_path, data, err, msg):
    with pytest.raises(err, match=msg):
        load_native_config(_write(tmp_path, data))


def test_override_unknown_key_and_malformed(tmp_path):
    path = _write(tmp_path, BASE)
    with pytest.raises(ConfigError, match="did you mean 'inputs'"):
        load_native_config(path, ["input=1"])
    with pytest.raises(ConfigError, match="malformed override"):
        load_native_config(path, ["model.args"])


@pytest.mark.parametrize("factory, err, msg", [
    ("nosuchmodule_xyz:build", ConfigError, "cannot import module"),
    ("tinynets:nothing", ConfigError, "no attribute"),
    ("tinynets", ConfigError, "package.module:function"),
    ("tinynets:not_a_layer", ModelBuildError, "not a paddle.nn.Layer"),
])
def test_factory_errors(configs, factory, err, msg):
    data = dict(BASE, model={"factory": factory})
    path = _write(configs, data, "factory_err.yml")
    with pytest.raises(err, match=msg):
        build_model(load_native_config(path), path)


def test_factory_bad_args_and_method(configs):
    path = _write(configs, dict(BASE, model={"factory": "tinynets:build", "args": {"hiden": 3}}),
                  "bad_args.yml")
    with pytest.raises(ConfigError, match="model.args do not fit"):
        build_model(load_native_config(path), path)
    path = _write(configs, dict(BASE, model={"factory": "tinynets:build", "method": "embedd"}),
                  "bad_method.yml")
    with pytest.raises(ConfigError, match="did you mean 'embed'"):
        build_model(load_native_config(path), path)


def test_arch_unknown_and_pretrained(tmp_path):
    path = _write(tmp_path, {"version": 1, "model": {"arch": "resnet5O"}})
    with pytest.raises(ConfigError, match="did you mean 'resnet50'"):
        build_model(load_native_config(path), path)
    path = _write(tmp_path, {"version": 1, "model": {"arch": "resnet18",
                                                     "args": {"pretrained": True}}})
    with pytest.raises(ConfigError, match="does not download"):
        build_model(load_native_config(path), path)


PPDET_TINY_MBV1 = (Path(__file__).resolve().parents[1] / "fixtures" / "ppdet" / "configs"
                   / "tinyyolo" / "tiny_yolov3_mbv1.yml")


def test_ppdet_config_is_routed_and_exported(tmp_path):
    """A PaddleDetection config goes through generator.ppdet (its `_BASE_` chain, `-o` on
    TestReader) and exports with PaddleDetection's feeds and infer_cfg.yml."""
    from generator.export.exporter import export_config
    from generator.serving_model.model_config import read_model_config

    overrides = ["TestReader.inputs_def.image_shape=[3,32,32]"]
    cfg = load_native_config(PPDET_TINY_MBV1, overrides)
    assert cfg["__ppdet__"] is True and cfg["architecture"] == "YOLOv3"
    assert "version" not in cfg  # not validated against the native schema
    res = export_config(PPDET_TINY_MBV1, tmp_path, overrides)
    assert sorted(res.feed_names) == ["im_shape", "image", "scale_factor"]
    assert len(res.fetch_names) == 2 and res.parity is not None and res.parity.ok
    served = read_model_config(res.serving_server)
    image = next(v for v in served.feed_vars if v.name == "image")
    assert list(image.shape) == [3, 32, 32]
    infer = yaml.safe_load(res.infer_cfg_path.read_text())
    assert res.infer_cfg_path == tmp_path / "tiny_yolov3_mbv1" / "infer_cfg.yml"
    assert infer["mode"] == "paddle" and infer["arch"] == "YOLO"
    assert infer["Preprocess"][0] == {"type": "Resize", "target_size": [32, 32],
                                      "keep_ratio": False, "interp": 1}
    assert infer["label_list"][:2] == ["cat", "dog"]


def test_weights_override_alias_is_relative_to_the_working_directory(tmp_path, monkeypatch):
    from generator.export.native_config import load_native_config

    cfg = tmp_path / "configs" / "cls.yml"
    cfg.parent.mkdir()
    cfg.write_text("version: 1\ntask: classification\nmodel:\n  arch: resnet18\n"
                   "  args: {num_classes: 2}\n")
    monkeypatch.chdir(tmp_path)
    loaded = load_native_config(cfg, ["weights=w/model.pdparams"])
    assert loaded["model"]["weights"] == str(tmp_path / "w" / "model.pdparams")
    assert load_native_config(cfg, ["weights="])["model"]["weights"] in (None, "")
