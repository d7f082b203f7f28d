"""`generator.quality.realistic_weights`: random YOLOv3 weights in a trained detector's regime.

With plain random initialisation every score is ~0.2501 and every anchor passes conf_thresh (the
degenerate case); the generated weights load through the normal export path and give a few
hundred anchors of 1,575 at 160x160, spread scores and some detections."""

from __future__ import annotations

import contextlib
import io
import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from generator.export.exporter import export_config
from generator.export.native_config import build_model, load_native_config
from generator.export.predictor import create_predictor, run_predictor
from generator.export.weights import load_weights
from generator.preprocess import build_preprocess, decode_rgb, make_feed
from generator.quality import realistic_weights as rw

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "serving_configs" / "yolov3.yml"
DARKNET = REPO / "serving_configs" / "yolov3_darknet53.yml"
IMAGE = REPO / "tests" / "data" / "shapes_320x240.jpg"
SMALL = ["model.args.image_shape=[3,160,160]"]
ANCHORS_160 = 3 * (5 * 5 + 10 * 10 + 20 * 20)  # 1575


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> tuple[Path, dict]:
    """Weights for yolov3.yml at 160x160, made by the CLI (the report printed as JSON)."""
    out = tmp_path_factory.mktemp("rw") / "w160.pdparams"
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        rc = rw.main(["-c", str(CONFIG), "-o", SMALL[0], "--out", str(out), "--json",
                      "--sample-image", str(IMAGE)])
    assert rc == 0
    return out, json.loads(buf.getvalue())


def _build(config: Path, overrides: list[str]):
    cfg = load_native_config(config, overrides)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return build_model(cfg, config)


def _feed(built) -> dict[str, np.ndarray]:
    pre = build_preprocess(built.infer_cfg["Preprocess"], "ppdet")
    return make_feed([pre(decode_rgb(IMAGE.read_bytes()))], ["image", "im_shape", "scale_factor"])


@pytest.mark.slow
def test_report_is_in_the_trained_regime(weights):
    _, report = weights
    assert report["total_anchors"] == ANCHORS_160 and report["image_shape"] == [160, 160]
    assert report["target_anchors"] == round(ANCHORS_160 * rw.REFERENCE_ANCHOR_FRACTION)
    # the fit reaches its targets on the calibration images (medians per image)
    assert abs(report["calib_anchors"] - report["target_anchors"]) <= 0.1 * report["target_anchors"]
    assert 0.3 * report["target_pairs"] <= report["calib_pairs"] <= 3 * report["target_pairs"]
    assert abs(report["calib_top_score"] - 0.5) < 0.05
    # and generalises to an unseen image: anchors within 2x of the target, far below all
    assert 0.5 * report["target_anchors"] <= report["anchors_passing_conf"] \
        <= 2 * report["target_anchors"]
    assert 0 < report["pairs_passing_score"] < 0.05 * ANCHORS_160 * 80
    assert report["detections"] >= 1 and report["seed"] == 0


@pytest.mark.slow
def test_weights_have_the_models_keys_and_load_strictly(weights):
    path, _ = weights
    built = _build(CONFIG, SMALL)
    state = load_weights(built.layer, path)  # raises on a missing/extra/mis-shaped key
    assert set(state) == set(built.layer.state_dict())
    bn_var = [k for k in state if k.endswith("._variance")]
    assert bn_var and not all(np.allclose(np.asarray(state[k]), 1.0) for k in bn_var)


@pytest.mark.slow
def test_dynamic_model_with_weights_is_not_degenerate_and_random_init_is(weights):
    path, report = weights
    real = _build(CONFIG, [*SMALL, f"weights={path}"])  # the `-o weights=` path of the CLI
    got = rw.detector_stats(real.layer, _feed(real))
    assert got.total_anchors == ANCHORS_160
    assert 0 < got.anchors_passing_conf < 0.3 * ANCHORS_160
    assert got.anchors_passing_conf == report["anchors_passing_conf"]
    assert got.pairs_passing_score < 0.05 * ANCHORS_160 * 80 and got.score_std > 0.01
    assert got.detections >= 1

    plain = _build(CONFIG, SMALL)
    base = rw.detector_stats(plain.layer, _feed(plain))
    assert base.anchors_passing_conf == ANCHORS_160  # every anchor passes conf_thresh
    assert base.pairs_passing_score == ANCHORS_160 * 80  # NMS gets every (box, class) pair
    assert abs(base.top_score - 0.2501) < 1e-3 and base.score_std < 1e-4


def _exported_detections(tmp: Path, overrides: list[str], verify: bool = True) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # RandomWeightsWarning of the plain export
        res = export_config(CONFIG, tmp, overrides, export_serving_model=False, verify=verify)
    assert not verify or (res.parity is not None and res.parity.ok)
    import yaml

    infer = yaml.safe_load(res.infer_cfg_path.read_text())
    pre = build_preprocess(infer["Preprocess"], "ppdet")
    predictor = create_predictor(res.model_dir, threads=1)
    feed = make_feed([pre(decode_rgb(IMAGE.read_bytes()))], predictor.get_input_names())
    outs = dict(run_predictor(predictor, feed))
    bbox = next(v for v in outs.values() if v.ndim == 2 and v.shape[-1] == 6)
    num = next(v for v in outs.values() if v.ndim == 1)
    assert int(num.sum()) == len(bbox)
    return bbox


@pytest.mark.slow
def test_exported_model_with_weights_gives_spread_detections(weights, tmp_path):
    path, _ = weights
    real = _exported_detections(tmp_path / "real", [*SMALL, f"weights={path}"])
    plain = _exported_detections(tmp_path / "plain", SMALL)
    # random init: keep_top_k boxes, all with the same score sigmoid(0)**2
    assert len(plain) == 100 and np.ptp(plain[:, 1]) < 1e-3
    assert abs(float(plain[:, 1].mean()) - 0.2501) < 1e-3
    # realistic: some detections with clearly different scores
    assert len(real) >= 1
    assert np.ptp(real[:, 1]) > 0.05 and float(real[:, 1].max()) > 0.05


@pytest.mark.slow
def test_exported_model_counts_anchors_far_below_all(weights, tmp_path):
    """With NMS made transparent (score_threshold 0, no suppression, no caps) the exported model
    returns one row per (passing anchor, class) whose score does not underflow to 0. (No parity
    check: on its random-noise sample a few such underflowing pairs differ.)"""
    path, report = weights
    transparent = ["model.args.nms.score_threshold=0.0", "model.args.nms.nms_threshold=1.0",
                   "model.args.nms.nms_top_k=-1", "model.args.nms.keep_top_k=-1"]
    rows = len(_exported_detections(tmp_path / "t", [*SMALL, *transparent, f"weights={path}"],
                                    verify=False))
    anchors = report["anchors_passing_conf"]
    assert 0 < anchors < 0.3 * ANCHORS_160
    assert 80 * (anchors - 1) < rows <= 80 * anchors


def test_fit_reaches_targets_on_synthetic_head_outputs():
    """The head fit alone (no network): gaussian head outputs of 3 levels at 160x160."""
    rng = np.random.default_rng(1)
    outs = [rng.normal(3.0, 0.01, (4, 3 * 85, s, s)).astype(np.float32) for s in (5, 10, 20)]
    fit = rw._fit_head(outs, [3, 3, 3], 80, 0.005, 0.01, target_anchors=190, target_pairs=400,
                       top_score=0.5)
    assert abs(fit.calib_anchors - 190) <= 10
    assert abs(fit.calib_pairs - 400) <= 20 and abs(fit.calib_top - 0.5) < 0.02
    assert [len(s) for s in fit.scale] == [255, 255, 255]


@pytest.mark.slow
def test_darknet53_at_64(tmp_path):
    out = tmp_path / "dn.pdparams"
    report = rw.make_realistic_detector_weights(
        DARKNET, ["model.args.image_shape=[3,64,64]"], out, seed=3, calibration_images=4)
    total = 3 * (2 * 2 + 4 * 4 + 8 * 8)
    assert report.total_anchors == total and report.seed == 3
    assert 0 < report.anchors_passing_conf < 0.5 * total and report.detections >= 1
    built = _build(DARKNET, ["model.args.image_shape=[3,64,64]", f"weights={out}"])
    assert rw.detector_stats(built.layer, _feed(built)).anchors_passing_conf < 0.5 * total


def test_classifier_configs_are_refused(tmp_path):
    cfg = tmp_path / "cls.yml"
    cfg.write_text("version: 1\ntask: classification\nmodel: {arch: mobilenet_v3_small}\n")
    with pytest.raises(rw.NotADetectorError, match="YOLOv3 only"):
        rw.make_realistic_detector_weights(cfg, [], tmp_path / "w.pdparams")
    assert not (tmp_path / "w.pdparams").exists()
