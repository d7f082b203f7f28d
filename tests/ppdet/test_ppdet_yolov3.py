"""The YOLOv3 family: PaddleDetection parameter names, strict weights, decode, export parity."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import yaml
from ppdet_paths import FIXTURES, ROOT, SHARED_PPDET

from generator.models import ARCHITECTURES
from generator.ppdet.builder import build_ppdet_model
from generator.ppdet.config import load_ppdet_config
from generator.ppdet.errors import UnsupportedArchitectureError, WeightsMismatchError
from generator.ppdet.weights import RandomWeightsWarning

paddle = pytest.importorskip("paddle")

TINY = FIXTURES / "configs" / "tinyyolo" / "tiny_yolov3_mbv1.yml"
NAMES = ("image", "im_shape", "scale_factor")


def _build(path: Path, opts: list[str] | None = None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RandomWeightsWarning)
        return build_ppdet_model(load_ppdet_config(path, opts), path)


def _randomize(layer, seed: int = 0) -> dict[str, np.ndarray]:
    """Seeded, diverse parameters (so detections differ) with sane BN statistics."""
    rng = np.random.default_rng(seed)
    state = {}
    for key, value in layer.state_dict().items():
        shape = value.shape
        if key.endswith("_variance"):
            arr = rng.uniform(0.5, 1.5, shape)
        elif key.endswith("_mean"):
            arr = rng.normal(0, 0.1, shape)
        elif "batch_norm.weight" in key:
            arr = rng.uniform(0.5, 1.5, shape)
        else:
            fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else 1
            arr = rng.normal(0, 1.0 / np.sqrt(fan_in), shape)
        state[key] = arr.astype(np.float32)
    layer.set_state_dict(state)
    return state


def _run(layer, inputs):
    out = layer(*[paddle.to_tensor(inputs[n]) for n in NAMES])
    return out[0].numpy(), out[1].numpy()


def _state_sig(layer) -> dict[str, tuple[list[int], str]]:
    return {
        k: ([int(d) for d in v.shape], str(v.dtype).replace("paddle.", ""))
        for k, v in layer.state_dict().items()
    }


def _check_expectations(sig, exp):
    assert len(sig) == exp["total"]
    for prefix, count in exp["prefixes"].items():
        assert sum(1 for k in sig if k.startswith(prefix + ".")) == count
    for key, shape in exp["samples"].items():
        assert sig[key] == (shape, "float32"), key


def _tsv(name: str) -> dict[str, tuple[list[int], str]]:
    rows = (SHARED_PPDET / "state_dict" / f"{name}.state_dict.tsv").read_text().splitlines()
    out = {}
    for row in rows[1:]:
        key, shape, dtype = row.split("\t")
        out[key] = (yaml.safe_load(shape), dtype)
    return out


@pytest.fixture(scope="module")
def mbv1_full():
    cfg_path = ROOT / "serving_configs" / "yolov3_mobilenet_v1.yml"
    data = yaml.safe_load(cfg_path.read_text())
    data["model"]["args"]["image_shape"] = [3, 64, 64]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RandomWeightsWarning)
        return ARCHITECTURES["YOLOv3"](data["model"], data)


def test_state_dicts_follow_own_structure_rules(mbv1_full, darknet_model):
    exp = yaml.safe_load((FIXTURES / "state_dict_expectations.yml").read_text())
    _check_expectations(_state_sig(mbv1_full.layer), exp["mobilenet_v1"])
    _check_expectations(_state_sig(darknet_model.layer), exp["darknet53"])


def test_state_dicts_equal_paddledetection_lists(shared_ppdet, mbv1_full, darknet_model):
    for built, name in (
        (mbv1_full, "yolov3_mobilenet_v1_270e_coco"),
        (darknet_model, "yolov3_darknet53_270e_coco"),
    ):
        sig, ref = _state_sig(built.layer), _tsv(name)
        assert list(sig) == list(ref)  # same names, same order
        assert sig == ref


def test_weights_reload_strictly_and_mismatch_is_reported_key_by_key(tmp_path):
    first = _build(TINY)
    state = _randomize(first.layer, seed=1)
    path = tmp_path / "model_final.pdparams"
    paddle.save({k: paddle.to_tensor(v) for k, v in state.items()}, str(path))
    # PaddleDetection's rule: `.pdparams` is appended to a bare weights path
    second = _build(TINY, [f"weights={tmp_path / 'model_final'}"])
    inputs = second.sample_inputs()
    for a, b in zip(_run(first.layer, inputs), _run(second.layer, inputs), strict=True):
        np.testing.assert_array_equal(a, b)

    broken = dict(state)
    broken.pop("backbone.conv1._conv.weight")
    broken["extra.weight"] = np.zeros(3, np.float32)
    broken["yolo_head.yolo_output.0.bias"] = np.zeros(7, np.float32)
    paddle.save(broken, str(tmp_path / "broken.pdparams"))
    with pytest.raises(WeightsMismatchError) as info:
        _build(TINY, [f"weights={tmp_path / 'broken.pdparams'}"])
    err = info.value
    assert err.missing == ["backbone.conv1._conv.weight"]
    assert err.unexpected == ["extra.weight"]
    assert err.wrong_shape == [("yolo_head.yolo_output.0.bias", [7], [16])]
    assert "missing in the weights file: 1" in str(err) and "[7] vs [16]" in str(err)


def test_no_weights_warns_random():
    with pytest.warns(RandomWeightsWarning, match="RANDOM"):
        build_ppdet_model(load_ppdet_config(TINY), TINY)


def test_decode_gives_original_image_pixels():
    built = _build(TINY, ["BBoxPostProcess.decode.clip_bbox=false"])
    _randomize(built.layer, seed=2)
    img = np.random.default_rng(3).normal(size=(1, 3, 64, 64)).astype(np.float32)
    im_shape = np.array([[64, 64]], np.float32)
    base = {"image": img, "im_shape": im_shape, "scale_factor": np.array([[0.2, 0.1]], np.float32)}
    half = dict(base, scale_factor=np.array([[0.1, 0.05]], np.float32))  # 2x larger original
    (b1, n1), (b2, n2) = _run(built.layer, base), _run(built.layer, half)
    assert n1.dtype == np.int32 and n1[0] == b1.shape[0] > 0 and b1.shape[1] == 6
    np.testing.assert_array_equal(n1, n2)
    np.testing.assert_allclose(b2[:, :2], b1[:, :2], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(b2[:, 2:], 2 * b1[:, 2:], rtol=1e-3, atol=1e-2)
    # original image is 320 (h) x 640 (w): box centres land in that frame, not in 64x64
    cx = (b1[:, 2] + b1[:, 4]) / 2
    cy = (b1[:, 3] + b1[:, 5]) / 2
    assert cx.max() > 64 and 0 <= cx.min() and cx.max() <= 640 and cy.max() <= 320

    clipped = _build(TINY)
    clipped.layer.set_state_dict(built.layer.state_dict())
    boxes, _ = _run(clipped.layer, base)
    assert boxes[:, 2:].min() >= 0 and boxes[:, [2, 4]].max() <= 639 and boxes[:, [3, 5]].max() <= 319
    assert set(np.unique(boxes[:, 0])) <= {0.0, 1.0, 2.0}  # 3 classes, none is background


def _export_and_compare(built, tmp_path: Path, inputs=None):
    from paddle import inference

    layer = built.layer
    inputs = inputs or built.sample_inputs()
    expected = _run(layer, inputs)
    static = paddle.jit.to_static(layer, input_spec=built.input_spec, full_graph=True)
    paddle.jit.save(static, str(tmp_path / "model"), input_spec=built.input_spec)
    config = inference.Config(str(tmp_path), "model")
    config.disable_mkldnn()
    config.disable_glog_info()
    predictor = inference.create_predictor(config)
    assert sorted(predictor.get_input_names()) == sorted(NAMES)
    for name in predictor.get_input_names():
        predictor.get_input_handle(name).copy_from_cpu(inputs[name])
    predictor.run()
    got = [predictor.get_output_handle(n).copy_to_cpu() for n in predictor.get_output_names()]
    assert got[0].dtype == np.float32 and got[0].shape[1] == 6
    assert got[1].dtype == np.int32
    np.testing.assert_array_equal(got[1], expected[1])
    np.testing.assert_allclose(got[0], expected[0], rtol=1e-4, atol=1e-3)
    return got


def test_export_mobilenet_parity_with_fused_normalize(tmp_path):
    built = _build(TINY, ["TestReader.fuse_normalize=true"])
    assert [tuple(s.shape) for s in built.input_spec] == [(-1, 3, 64, 64), (-1, 2), (-1, 2)]
    assert [s.name for s in built.input_spec] == list(NAMES)
    assert built.task == "detection" and built.fixed_input_shape_target == "image"
    assert built.label_list == built.infer_cfg["label_list"]
    assert [p["type"] for p in built.infer_cfg["Preprocess"]] == ["Resize", "Permute"]
    _randomize(built.layer, seed=4)
    # fused normalisation: feeding 0..255 equals feeding the normalised image to the plain model
    plain = _build(TINY)
    plain.layer.set_state_dict(built.layer.state_dict())
    raw = built.sample_inputs()
    assert raw["image"].max() > 2  # raw pixel range
    normed = dict(raw, image=((raw["image"] / 255.0 - 0.5) / 0.25).astype(np.float32))
    for a, b in zip(_run(built.layer, raw), _run(plain.layer, normed), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-3)
    got = _export_and_compare(built, tmp_path)
    assert got[1][0] > 0


def test_export_darknet53_parity(darknet_model, tmp_path):
    _randomize(darknet_model.layer, seed=5)
    got = _export_and_compare(darknet_model, tmp_path)
    assert got[0].shape[0] == got[1].sum()


def test_native_builder_is_registered(mbv1_full):
    assert "YOLOv3" in ARCHITECTURES
    assert mbv1_full.infer_cfg["Preprocess"][0]["target_size"] == [64, 64]
    assert mbv1_full.label_list[0] == "person" and len(mbv1_full.label_list) == 80
    assert tuple(mbv1_full.input_spec[0].shape) == (-1, 3, 64, 64)


def test_unsupported_architectures_name_the_ways_forward(tmp_path):
    path = FIXTURES / "configs" / "other" / "tiny_rcnn.yml"
    with pytest.raises(UnsupportedArchitectureError) as info:
        build_ppdet_model(load_ppdet_config(path), path)
    msg = str(info.value)
    assert "'FasterRCNN'" in msg and "tools/export_model.py" in msg
    assert "scaffold new --model-dir" in msg and "--ppdet-root" in msg and "use_gpu=false" in msg
    # PP-YOLOE declares `architecture: YOLOv3` with other components
    cfg = load_ppdet_config(TINY, ["YOLOv3.backbone=CSPResNet", "YOLOv3.yolo_head=PPYOLOEHead"])
    with pytest.raises(UnsupportedArchitectureError, match="backbone CSPResNet, yolo_head PPYOLOEHead"):
        build_ppdet_model(cfg, TINY)
