"""Random but NON-degenerate weights for the built-in YOLOv3 detectors (benchmarks, parity tests).

With plain random initialisation the built-in YOLOv3 is degenerate: the activations shrink to
~1e-17 through the network, every head output is ~0, every score is sigmoid(0)**2 ~ 0.2501 and
every box an anchor, so `multiclass_nms3` gets every (box, class) pair (1.8 M at 608x608) and
every backend "agrees" trivially. `make_realistic_detector_weights` puts a random network into the
regime of a trained detector on a photo:

1. the model is built exactly as the exporter builds it (`load_native_config` + `build_model`,
   overrides included), then re-initialised with `paddle.seed(seed)`;
2. one train-mode pass over a few synthetic structured images (gradients, shapes, stripes,
   noise) with every BatchNorm's momentum at 0 sets its running mean/variance to that batch's
   statistics, so every layer sees unit-scale inputs in eval mode;
3. the head's 1x1 output convs are rescaled channel by channel: box channels to a moderate spread,
   objectness so that about `target_anchors` anchors per image pass `conf_thresh` (default: the
   fraction 2,780 of 22,743 measured with the reference weights, i.e. ~12 %, proportionally fewer
   anchors at smaller input sizes), classes so that about `target_pairs` (box, class) pairs pass
   the NMS `score_threshold` and the top score is about `top_score`;
4. the state dict, with exactly the model's keys and shapes, is saved as `.pdparams`: it loads
   with `-o weights=PATH` (`model.weights` of a native config).

    python -m generator.quality.realistic_weights -c serving_configs/yolov3.yml --out w.pdparams
    scaffold export -c serving_configs/yolov3.yml -o weights=w.pdparams

The random network's features are heavy-tailed and image-dependent: the anchor count is stable
from image to image (within ~25 %), the pair count and the top score much less (at 608x608 on
held-out synthetic images 2,400-3,000 anchors, 2,700-6,100 pairs, top 0.06-0.5; the
high-contrast tests/data/shapes_320x240.jpg excites it more: 2,135 anchors, 19,400 pairs, top
0.98). The fit aims at the median calibration image.

Classifiers (`paddle.vision` resnet50, mobilenet_v3_small) are refused: their cost does not depend
on the values (random init gives no denormals: resnet50's activations grow to ~1e3, MobileNetV3's
shrink to ~1e-7, both far from the float32 denormal range), so timing needs nothing. For parity
checks note that MobileNetV3-small's random logits are ~1e-7 (softmax ~uniform) and resnet50's
~1e3 (softmax one-hot): compare logits relative to their maximum, or calibrate BN the same way.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from generator.quality.head_fit import _apply_fit, _fit_head, detector_stats

#: The reference figures at 608x608 (cpu_backends.md): anchors passing conf_thresh, of all
#: anchors, and (box, class) pairs passing score_threshold per passing anchor.
REFERENCE_ANCHOR_FRACTION = 2780 / 22743
REFERENCE_PAIRS_PER_ANCHOR = 5893 / 2780
DEFAULT_TOP_SCORE = 0.5


@dataclass
class RealisticWeightsReport:
    """What `make_realistic_detector_weights` wrote and how the detector behaves with it.

    The `sample_*` figures are measured on one image not used for calibration (a generated one,
    or `sample_image`); `calib_*` are medians over the calibration images.
    """

    config: str
    out_path: str
    seed: int
    image_shape: list[int]  # [H, W] of the network input
    total_anchors: int
    target_anchors: int
    target_pairs: int
    conf_thresh: float
    score_threshold: float
    calibration_images: int
    calib_anchors: float
    calib_pairs: float
    calib_top_score: float
    sample_image: str
    anchors_passing_conf: int
    pairs_passing_score: int
    top_score: float
    score_std: float  # std of the scores of the pairs passing score_threshold
    detections: int  # rows after NMS (keep_top_k caps them)
    seconds: float

    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict."""
        return asdict(self)

    def to_text(self) -> str:
        """A short human-readable summary."""
        h, w = self.image_shape
        return "\n".join([
            f"realistic weights: {self.out_path} (seed {self.seed}, {self.seconds:.1f} s)",
            f"  config {self.config}, input {h}x{w}, {self.total_anchors} anchors, "
            f"conf_thresh {self.conf_thresh:g}, score_threshold {self.score_threshold:g}",
            f"  fitted on {self.calibration_images} synthetic images: "
            f"{self.calib_anchors:.0f} anchors (target {self.target_anchors}), "
            f"{self.calib_pairs:.0f} pairs (target {self.target_pairs}), "
            f"top score {self.calib_top_score:.3f} (medians per image)",
            f"  sample image {self.sample_image}: {self.anchors_passing_conf} of "
            f"{self.total_anchors} anchors pass conf_thresh, {self.pairs_passing_score} pairs "
            f"pass score_threshold, top score {self.top_score:.3f}, {self.detections} "
            "detections after NMS",
        ])


class NotADetectorError(ValueError):
    """The config does not describe a built-in YOLOv3 detector."""


# ------------------------------------------------------------------------------------------
# synthetic images


def synthetic_images(count: int, seed: int = 0,
                     sizes: Sequence[tuple[int, int]] = ((480, 640), (427, 640), (640, 480),
                                                         (512, 512))) -> list[np.ndarray]:
    """`count` deterministic RGB HWC uint8 "scenes": a gradient background, low-frequency
    stripes, a few filled shapes of different colours and sizes, blur and sensor noise."""
    import cv2

    rng = np.random.default_rng(seed)
    out = []
    for i in range(count):
        h, w = sizes[i % len(sizes)]
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        angle = rng.uniform(0, 2 * np.pi)
        ramp = (np.cos(angle) * xx / w + np.sin(angle) * yy / h)
        ramp = (ramp - ramp.min()) / max(float(np.ptp(ramp)), 1e-6)
        c0, c1 = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
        img = c0 + (c1 - c0) * ramp[..., None]
        if rng.random() < 0.7:  # stripes / texture
            freq = rng.uniform(2, 12)
            phase = rng.uniform(0, 2 * np.pi)
            a2 = rng.uniform(0, 2 * np.pi)
            stripes = np.sin(2 * np.pi * freq * (np.cos(a2) * xx / w + np.sin(a2) * yy / h) + phase)
            img += rng.uniform(10, 40) * stripes[..., None] * rng.uniform(0.3, 1, 3)
        img = np.clip(img, 0, 255).astype(np.uint8)
        for _ in range(int(rng.integers(4, 12))):
            color = tuple(int(c) for c in rng.integers(0, 256, 3))
            cx, cy = int(rng.integers(0, w)), int(rng.integers(0, h))
            size = int(min(h, w) * rng.uniform(0.05, 0.4))
            kind = rng.integers(0, 3)
            if kind == 0:
                cv2.rectangle(img, (cx - size, cy - size // 2), (cx + size, cy + size), color, -1)
            elif kind == 1:
                cv2.ellipse(img, (cx, cy), (size, max(2, int(size * rng.uniform(0.4, 1)))),
                            float(rng.uniform(0, 180)), 0, 360, color, -1)
            else:
                pts = np.stack([cx + rng.integers(-size, size + 1, 5),
                                cy + rng.integers(-size, size + 1, 5)], axis=1).astype(np.int32)
                cv2.fillPoly(img, [pts], color)
        img = cv2.GaussianBlur(img, (3, 3), 0)
        noise = rng.normal(0, 6, img.shape)
        out.append(np.clip(img.astype(np.float32) + noise, 0, 255).astype(np.uint8))
    return out


# ------------------------------------------------------------------------------------------
# model


def build_detector(config_path: str | Path, overrides: Sequence[str] = ()) -> Any:
    """The `BuiltModel` the exporter builds from this config, with random (unloaded) weights.

    Raises `NotADetectorError` when the model is not the built-in YOLOv3."""
    from generator.export.native_config import build_model, load_native_config

    cfg = load_native_config(config_path, list(overrides))
    if cfg.get("__ppdet__"):
        cfg["weights"] = None
    else:
        cfg["model"]["weights"] = None
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*RANDOM parameters.*")
        built = build_model(cfg, config_path)
    layer = built.layer
    if not all(hasattr(layer, a) for a in ("backbone", "neck", "yolo_head", "spec")):
        raise NotADetectorError(
            f"{config_path}: model {type(layer).__name__} is not the built-in YOLOv3 detector; "
            "realistic weights are made for YOLOv3 only (classifiers need none)")
    return built


def _batch_norms(layer: Any) -> list[Any]:
    import paddle

    return [s for s in layer.sublayers() if isinstance(s, paddle.nn.layer.norm._BatchNormBase)]


def _feeds(built: Any, images: Sequence[np.ndarray]) -> dict[str, np.ndarray]:
    from generator.preprocess import build_preprocess, make_feed

    pre = build_preprocess((built.infer_cfg or {}).get("Preprocess"), "ppdet")
    return make_feed([pre(im) for im in images], ["image", "im_shape", "scale_factor"])


def _head_outputs(layer: Any, image: Any) -> list[Any]:
    """`yolo_head` outputs as `YOLOv3.forward` computes them (fused normalisation included)."""
    if getattr(layer, "fuse_norm", False):
        image = image * layer.norm_scale + layer.norm_bias
    return layer.yolo_head(layer.neck(layer.backbone(image)))


def _reinit(layer: Any, seed: int) -> None:
    """Fresh random parameters drawn under `paddle.seed(seed)` (same layer class and spec)."""
    import paddle

    paddle.seed(seed)
    fresh = type(layer)(layer.spec)
    layer.set_state_dict(fresh.state_dict())


def calibrate_batch_norm(layer: Any, image: np.ndarray) -> list[np.ndarray]:
    """One train-mode pass over `image` [B, 3, H, W] with every BatchNorm's momentum at 0, so
    that its running mean/variance become the batch's. Returns the head outputs of that pass
    (equal to the eval-mode outputs with the new statistics). The layer is left in eval mode."""
    import paddle

    bns = _batch_norms(layer)
    if not bns:
        raise NotADetectorError("the model has no BatchNorm layers (fused?); nothing to calibrate")
    saved = [bn._momentum for bn in bns]
    for bn in bns:
        bn._momentum = 0.0
    layer.train()
    try:
        with paddle.no_grad(), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="When training, we now always track")
            outs = [o.numpy() for o in _head_outputs(layer, paddle.to_tensor(image))]
    finally:
        for bn, m in zip(bns, saved, strict=True):
            bn._momentum = m
        layer.eval()
    return outs


def make_realistic_detector_weights(
    config_path: str | Path,
    overrides: Sequence[str] | None,
    out_path: str | Path,
    *,
    seed: int = 0,
    target_anchors: int | None = None,
    target_pairs: int | None = None,
    top_score: float = DEFAULT_TOP_SCORE,
    calibration_images: int = 8,
    sample_image: str | Path | None = None,
) -> RealisticWeightsReport:
    """Write non-degenerate random weights for the YOLOv3 a config describes; see the module doc.

    `overrides` are the `-o` overrides the model will be exported with (e.g.
    `model.args.image_shape=[3,160,160]`); any weights in the config are ignored.
    `target_anchors` / `target_pairs` are per image at the configured input size (defaults:
    the reference fractions, ~12 % of the anchors and ~2.1 pairs per passing anchor).
    """
    import paddle

    t0 = time.perf_counter()
    config_path = Path(config_path)
    built = build_detector(config_path, list(overrides or []))
    layer = built.layer
    spec = layer.spec
    _reinit(layer, seed)
    calib = _feeds(built, synthetic_images(calibration_images, seed=seed))
    outs = calibrate_batch_norm(layer, calib["image"])
    num_anchors = [len(m) for m in spec.anchor_masks]
    total = sum(na * o.shape[2] * o.shape[3] for na, o in zip(num_anchors, outs, strict=True))
    if target_anchors is None:
        target_anchors = max(1, round(total * REFERENCE_ANCHOR_FRACTION))
    if target_pairs is None:
        target_pairs = max(1, round(target_anchors * REFERENCE_PAIRS_PER_ANCHOR))
    if not 0 < target_anchors <= total:
        raise ValueError(f"target_anchors {target_anchors} must be in 1..{total} (all anchors)")
    if not 0.0 < top_score < 1.0:
        raise ValueError(f"top_score {top_score} must be in (0, 1)")
    fit = _fit_head(outs, num_anchors, spec.num_classes, spec.decode.conf_thresh,
                    spec.nms.score_threshold, target_anchors, target_pairs, top_score)
    _apply_fit(layer, fit)

    if sample_image is not None:
        from generator import imaging

        sample = imaging.decode_file(sample_image, to_rgb=True)
        sample_name = str(sample_image)
    else:
        sample = synthetic_images(1, seed=seed + 7919)[0]
        sample_name = f"synthetic (seed {seed + 7919})"
    stats = detector_stats(layer, _feeds(built, [sample]))

    state = layer.state_dict()
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    paddle.save(state, str(out_path))
    h, w = calib["image"].shape[2:]
    return RealisticWeightsReport(
        config=str(config_path), out_path=str(out_path), seed=seed, image_shape=[int(h), int(w)],
        total_anchors=int(total), target_anchors=int(target_anchors),
        target_pairs=int(target_pairs), conf_thresh=spec.decode.conf_thresh,
        score_threshold=spec.nms.score_threshold, calibration_images=calibration_images,
        calib_anchors=fit.calib_anchors, calib_pairs=fit.calib_pairs,
        calib_top_score=fit.calib_top, sample_image=sample_name,
        anchors_passing_conf=stats.anchors_passing_conf,
        pairs_passing_score=stats.pairs_passing_score, top_score=stats.top_score,
        score_std=stats.score_std, detections=stats.detections,
        seconds=time.perf_counter() - t0)


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m generator.quality.realistic_weights -c CONFIG [-o k=v ...] --out W.pdparams`"""
    ap = argparse.ArgumentParser(
        prog="python -m generator.quality.realistic_weights",
        description="Write random but non-degenerate YOLOv3 weights (BN statistics from "
                    "synthetic images, head rescaled to a trained detector's score regime).")
    ap.add_argument("-c", "--config", required=True, help="native or PaddleDetection config")
    ap.add_argument("-o", "--opt", action="append", default=[], metavar="KEY=VALUE",
                    help="config override, as for `scaffold export` (repeatable)")
    ap.add_argument("--out", required=True, help="the .pdparams file to write")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--target-anchors", type=int, default=None,
                    help="anchors per image passing conf_thresh (default ~12%% of all)")
    ap.add_argument("--target-pairs", type=int, default=None,
                    help="(box, class) pairs per image passing score_threshold")
    ap.add_argument("--top-score", type=float, default=DEFAULT_TOP_SCORE)
    ap.add_argument("--images", type=int, default=8, help="synthetic calibration images")
    ap.add_argument("--sample-image", default=None, help="image the report is measured on")
    ap.add_argument("--json", action="store_true", help="print the report as JSON")
    args = ap.parse_args(argv)
    from generator.export.errors import ExportError

    try:
        report = make_realistic_detector_weights(
            args.config, args.opt, args.out, seed=args.seed, target_anchors=args.target_anchors,
            target_pairs=args.target_pairs, top_score=args.top_score,
            calibration_images=args.images, sample_image=args.sample_image)
    except (ExportError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(report.to_json(), indent=2) if args.json else report.to_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
