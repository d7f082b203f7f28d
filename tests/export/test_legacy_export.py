"""`--model_format legacy` (`model.pdmodel`) for the built-in architectures: YOLOv3 (static-graph
`multiclass_nms3`), segmentation / embedding (`legacy_ops`), classification; equal outputs
and byte-identical `model.pdiparams` compared with the PIR export; the detector parity rule;
the error for an operator legacy mode cannot trace."""

from __future__ import annotations

import textwrap
import warnings
from pathlib import Path

import numpy as np
import paddle
import pytest

from generator.export import legacy_ops
from generator.export.errors import TraceError
from generator.export.exporter import export_config
from generator.export.native_config import build_model, load_native_config
from generator.export.parity import BOX_ATOL_PX, compare_arrays, compare_detections
from generator.export.sources import unwrap_state_prefix

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = ROOT / "serving_configs"
SMALL_YOLO = ["model.args.image_shape=[3,64,64]"]


def _predict(model_dir: Path, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    """Run an exported model: a legacy `model.pdmodel` with `enable_new_ir(False)`, a PIR
    `model.json` as is (CPU, oneDNN off)."""
    from paddle import inference

    legacy = (model_dir / "model.pdmodel").is_file()
    prog = model_dir / ("model.pdmodel" if legacy else "model.json")
    config = inference.Config(str(prog), str(model_dir / "model.pdiparams"))
    config.disable_gpu()
    config.disable_mkldnn()
    config.disable_glog_info()
    config.set_cpu_math_library_num_threads(1)
    if legacy:
        config.enable_new_ir(False)
    predictor = inference.create_predictor(config)
    for name in predictor.get_input_names():
        handle = predictor.get_input_handle(name)
        handle.reshape(list(feeds[name].shape))
        handle.copy_from_cpu(np.ascontiguousarray(feeds[name]))
    predictor.run()
    return [predictor.get_output_handle(n).copy_to_cpu() for n in predictor.get_output_names()]


def _export_both(config: Path, out: Path, overrides: list[str], perturb: bool = False,
                 **kwargs):
    """The config exported legacy (worker process) and PIR (here), with the same weights."""
    overrides = [*overrides, _weights(config, overrides, out / "weights.pdparams", perturb)]
    legacy = export_config(config, out / "legacy", overrides, model_format="legacy", **kwargs)
    pir = export_config(config, out / "pir", overrides, export_serving_model=False)
    return legacy, pir


def _detector_feeds(hw: int = 64) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(3)
    image = ((rng.random((1, 3, hw, hw), dtype=np.float32) - 0.45) / 0.225).astype("float32")
    return {"image": image, "im_shape": np.array([[hw, hw]], "float32"),
            "scale_factor": np.array([[hw / 480.0, hw / 640.0]], "float32")}


def _weights(config: Path, overrides: list[str], path: Path, perturb: bool = False) -> str:
    """Save a state dict of the config's network and return the `model.weights=` override
    (the two exports must get the same weights: random init differs between processes).

    `perturb` gives BatchNorm layers non-trivial statistics: the legacy inference passes fuse
    conv+BN, so the legacy program's outputs really move a little (as with trained weights)."""
    cfg = load_native_config(config, overrides)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        layer = unwrap_state_prefix(build_model(cfg, config).layer)
    rng = np.random.default_rng(1)
    state = {}
    for key, value in layer.state_dict().items():
        arr = value.numpy()
        if perturb and key.endswith("_variance"):
            arr = rng.uniform(0.5, 2.0, arr.shape).astype(arr.dtype)
        elif perturb and key.endswith("_mean"):
            arr = rng.normal(0.0, 0.5, arr.shape).astype(arr.dtype)
        state[key] = paddle.to_tensor(arr)
    paddle.save(state, str(path))
    return f"model.weights={path}"


def _assert_same_detections(legacy: list[np.ndarray], pir: list[np.ndarray]) -> None:
    (bbox_l, num_l), (bbox_p, num_p) = legacy, pir
    np.testing.assert_array_equal(num_l, num_p)
    assert bbox_l.shape == bbox_p.shape and bbox_l.shape[0] == int(num_p.sum()) > 0
    check = compare_detections("bbox", bbox_p, bbox_l, rtol=1e-3, atol=1e-6)
    assert check.ok, check


# --- YOLOv3 ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mbv1(tmp_path_factory):
    """serving_configs/yolov3.yml (MobileNetV1) at 64x64 with perturbed BN statistics,
    exported legacy (with serving folders) and PIR."""
    out = tmp_path_factory.mktemp("legacy_mbv1")
    return _export_both(CONFIGS / "yolov3.yml", out, SMALL_YOLO, perturb=True)


@pytest.mark.slow
def test_yolov3_mobilenet_v1_legacy_export_equals_pir(mbv1):
    legacy, pir = mbv1
    assert legacy.model_file.name == "model.pdmodel" and legacy.model_file.is_file()
    assert not (legacy.model_dir / "model.json").exists()
    assert legacy.parity.ok and legacy.parity.box_atol == BOX_ATOL_PX
    assert legacy.params_file.read_bytes() == pir.params_file.read_bytes()
    feeds = _detector_feeds()
    _assert_same_detections(_predict(legacy.model_dir, feeds), _predict(pir.model_dir, feeds))


@pytest.mark.slow
def test_yolov3_legacy_serving_folders(mbv1):
    legacy, _ = mbv1
    server = legacy.serving_server
    assert (server / "model.pdmodel").is_file() and (server / "model.pdiparams").is_file()
    assert (server / "serving_server_conf.prototxt").is_file()
    assert (legacy.serving_client / "serving_client_conf.prototxt").is_file()
    assert sorted(legacy.feed_names) == ["im_shape", "image", "scale_factor"]
    assert len(legacy.fetch_names) == 2
    assert (legacy.model_dir / "infer_cfg.yml").is_file()


@pytest.mark.slow
def test_yolov3_darknet53_legacy_export_equals_pir(tmp_path):
    legacy, pir = _export_both(CONFIGS / "yolov3_darknet53.yml", tmp_path, SMALL_YOLO,
                               export_serving_model=False)
    assert legacy.model_file.suffix == ".pdmodel" and legacy.parity.ok
    assert legacy.params_file.read_bytes() == pir.params_file.read_bytes()
    feeds = _detector_feeds()
    _assert_same_detections(_predict(legacy.model_dir, feeds), _predict(pir.model_dir, feeds))


# --- segmentation, embedding, classification ---------------------------------------------


@pytest.mark.slow
def test_segmentation_legacy_export_equals_pir(tmp_path):
    overrides = ["model.args.backbone=mobilenet_v3_small", "model.args.input_size=[64,64]"]
    legacy, pir = _export_both(CONFIGS / "segmentation.yml", tmp_path, overrides,
                               export_serving_model=False)
    assert legacy.model_file.suffix == ".pdmodel" and legacy.parity.ok
    assert legacy.params_file.read_bytes() == pir.params_file.read_bytes()
    x = np.random.default_rng(0).standard_normal((2, 3, 64, 64)).astype("float32")
    (got,), (want,) = _predict(legacy.model_dir, {"x": x}), _predict(pir.model_dir, {"x": x})
    assert got.dtype == np.int32 and got.shape == (2, 64, 64)
    np.testing.assert_array_equal(got, want)


@pytest.mark.slow
def test_embedding_legacy_export_equals_pir(tmp_path):
    overrides = ["model.args.backbone=resnet18", "model.args.input_size=[64,32]"]
    legacy, pir = _export_both(CONFIGS / "embedding.yml", tmp_path, overrides,
                               export_serving_model=False)
    assert legacy.model_file.suffix == ".pdmodel" and legacy.parity.ok
    assert legacy.params_file.read_bytes() == pir.params_file.read_bytes()
    x = np.random.default_rng(0).standard_normal((2, 3, 64, 32)).astype("float32")
    (got,), (want,) = _predict(legacy.model_dir, {"x": x}), _predict(pir.model_dir, {"x": x})
    assert got.shape == (2, 512)
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)


@pytest.mark.slow
def test_mobilenet_v3_classifier_legacy_export(tmp_path):
    overrides = ["model.arch=mobilenet_v3_small", "model.args.num_classes=10",
                 "inputs=[{name: x, shape: [null, 3, 32, 32], dtype: float32}]"]
    legacy, pir = _export_both(CONFIGS / "resnet50_cls.yml", tmp_path, overrides,
                               export_serving_model=False)
    assert legacy.model_file.suffix == ".pdmodel" and legacy.parity.ok
    x = np.random.default_rng(0).standard_normal((2, 3, 32, 32)).astype("float32")
    (got,), (want,) = _predict(legacy.model_dir, {"x": x}), _predict(pir.model_dir, {"x": x})
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)


# --- what legacy mode cannot trace --------------------------------------------------------

SUM_NET = '''
import paddle


class RowSum(paddle.nn.Layer):
    def __init__(self):
        super().__init__()
        self.fc = paddle.nn.Linear(4, 3)

    def forward(self, x):
        return paddle.sum(self.fc(x), axis=1)


def build():
    return RowSum()
'''


@pytest.mark.slow
def test_untraceable_operator_names_it_and_points_to_pir(tmp_path):
    (tmp_path / "sumnet.py").write_text(textwrap.dedent(SUM_NET))
    (tmp_path / "sum.yml").write_text(
        "version: 1\ntask: generic\nmodel: {factory: 'sumnet:build'}\n"
        "inputs:\n  - {name: x, shape: [null, 4], dtype: float32}\n")
    with pytest.raises(TraceError) as info:
        export_config(tmp_path / "sum.yml", tmp_path / "out", model_format="legacy",
                      export_serving_model=False)
    message = str(info.value)
    assert "operator `sum` is not available in legacy (non-PIR) mode" in message
    assert "--model_format pir" in message
    assert not (tmp_path / "out" / "sum").exists()
    assert export_config(tmp_path / "sum.yml", tmp_path / "out",
                         export_serving_model=False).parity.ok


# --- the detector parity rule and legacy_ops in dygraph -----------------------------------


def _rows() -> np.ndarray:
    return np.array([[0, 0.9, 0.01, 0.5, 30.0, 40.0],
                     [2, 0.5, 10.0, 12.0, 50.5, 60.0],
                     [2, 0.5, 11.0, 13.0, 20.0, 63.9]], "float32")


def test_detection_rows_get_a_pixel_floor_on_box_coordinates():
    want = _rows()
    got = want.copy()
    got[0, 2] += 0.02  # 0.01 px -> 0.03 px: 200 % relative, 0.02 px absolute
    assert not compare_arrays("bbox", want, got, 1e-3, 1e-6).ok
    check = compare_detections("bbox", want, got, 1e-3, 1e-6)
    assert check.ok and "0.05 px" in check.note
    got[0, 2] += 0.1
    assert not compare_detections("bbox", want, got, 1e-3, 1e-6).ok


def test_detection_rows_scores_classes_counts_and_ties():
    want = _rows()
    wrong_class = want.copy()
    wrong_class[1, 0] = 3
    assert not compare_detections("bbox", want, wrong_class, 1e-3, 1e-6).ok
    wrong_score = want.copy()
    wrong_score[0, 1] += 0.01  # no pixel floor on scores
    assert not compare_detections("bbox", want, wrong_score, 1e-3, 1e-6).ok
    assert not compare_detections("bbox", want, want[:2], 1e-3, 1e-6).ok
    swapped = want[[0, 2, 1]]  # equal scores: NMS may emit them in either order
    check = compare_detections("bbox", want, swapped, 1e-3, 1e-6)
    assert check.ok and "reordered" in check.note


def test_legacy_ops_equal_paddle_in_dygraph():
    import paddle.nn.functional as F

    x = paddle.to_tensor(np.random.default_rng(0).standard_normal((2, 5, 3)).astype("float32"))
    assert not legacy_ops.in_legacy_static_mode()
    out = legacy_ops.argmax(x, axis=1, dtype="int32")
    assert out.dtype == paddle.int32
    np.testing.assert_array_equal(out.numpy(), paddle.argmax(x, axis=1).numpy())
    np.testing.assert_allclose(legacy_ops.sigmoid(x).numpy(), F.sigmoid(x).numpy())
    np.testing.assert_allclose(legacy_ops.sigmoid_layer()(x).numpy(), F.sigmoid(x).numpy())
    np.testing.assert_allclose(legacy_ops.normalize(x, axis=1).numpy(),
                               F.normalize(x, axis=1).numpy())
    np.testing.assert_allclose(legacy_ops.maximum(x, x * 0).numpy(), F.relu(x).numpy())
    with pytest.raises(ValueError, match="int32 or int64"):
        legacy_ops.argmax(x, axis=1, dtype="float32")
