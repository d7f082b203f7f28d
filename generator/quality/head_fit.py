"""Fitting a YOLOv3 head so that random weights give the reference detection statistics:
the objectness and class logits shifted and scaled per anchor (`_fit_head`, `_apply_fit`), and
the statistics measured on a feed (`detector_stats`)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

#: objectness probability given to the most confident anchor of an image (on average)
TOP_OBJECTNESS = 0.9


#: spread (std of the logit) of the box channels: x/y offsets and log w/h
XY_SPREAD = 1.0


WH_SPREAD = 0.4


def _logit(p: float) -> float:
    return math.log(p / (1.0 - p))


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


@dataclass
class _Fit:
    scale: list[np.ndarray]  # per level, multiplier per output channel
    shift: list[np.ndarray]  # per level, bias added after scaling
    calib_anchors: float
    calib_pairs: float
    calib_top: float


def _fit_head(outs: list[np.ndarray], num_anchors: list[int], num_classes: int,
              conf_thresh: float, score_threshold: float, target_anchors: int,
              target_pairs: int, top_score: float) -> _Fit:
    """Per-channel affine maps of the head outputs reaching the targets on the calibration set."""
    batch = outs[0].shape[0]
    per = 5 + num_classes
    zs, mus, sds = [], [], []
    for out, na in zip(outs, num_anchors, strict=True):
        o = out.astype(np.float64)
        mu = o.mean(axis=(0, 2, 3))
        sd = o.std(axis=(0, 2, 3))
        sd_ok = sd > 1e-12 * max(float(np.abs(o).max()), 1e-30)
        z = np.where(sd_ok[None, :, None, None], (o - mu[None, :, None, None])
                     / np.where(sd_ok, sd, 1.0)[None, :, None, None], 0.0)
        # [B, A, 5 + C, H, W] -> [B, A*H*W, 5 + C]
        z = z.reshape(batch, na, per, -1).transpose(0, 1, 3, 2).reshape(batch, -1, per)
        zs.append(z)
        mus.append(mu)
        sds.append(np.where(sd_ok, sd, np.inf))
    z = np.concatenate(zs, axis=1)
    total = z.shape[1]
    zobj = z[:, :, 4]
    # objectness: the target fraction of anchors above conf_thresh, the per-image best at
    # TOP_OBJECTNESS
    frac = min(max(target_anchors / total, 1.0 / total), 1.0)
    z_q = float(np.quantile(zobj, 1.0 - frac))
    z_top = float(zobj.max(axis=1).mean())
    if z_top <= z_q + 1e-3:
        z_top = z_q + 1.0
    lo_obj, hi_obj = _logit(conf_thresh), _logit(TOP_OBJECTNESS)
    s_obj = (hi_obj - lo_obj) / (z_top - z_q)
    t_obj = lo_obj - s_obj * z_q
    conf = _sigmoid(s_obj * zobj + t_obj)
    passing = conf >= conf_thresh
    calib_anchors = float(np.median(passing.sum(axis=1)))
    # classes: a score passes iff s*z + t > logit(score_threshold / conf)
    img_idx = np.nonzero(passing)[0]
    conf_p = conf[passing]
    zc = z[:, :, 5:][passing]  # [P, C]
    with np.errstate(divide="ignore"):
        ratio = score_threshold / conf_p
        need = np.where(ratio < 1.0, np.log(ratio) - np.log1p(-np.minimum(ratio, 1 - 1e-12)),
                        np.inf)
    n_pairs = max(int(round(target_pairs)), 1)
    # per image, the candidate margins u = s*z - need of its passing pairs
    groups = [np.nonzero(img_idx == b)[0] for b in range(batch)]

    def solve(s: float) -> tuple[float, float, float]:
        """Shift t at which the median image has `n_pairs` pairs; median top score, pairs."""
        if zc.size == 0:
            return 0.0, 0.0, 0.0
        u = s * zc - need[:, None]
        ts = []
        for g in groups:
            ub = u[g].ravel()
            if ub.size == 0:
                continue
            k = max(ub.size - n_pairs, 0)
            ts.append(-float(np.partition(ub, k)[k]))
        t = float(np.median(ts)) + 1e-9
        score = conf_p[:, None] * _sigmoid(s * zc + t)
        best = np.zeros(batch)
        np.maximum.at(best, img_idx, score.max(axis=1))
        counts = np.zeros(batch)
        np.add.at(counts, img_idx, (score > score_threshold).sum(axis=1))
        return t, float(np.median(best)), float(np.median(counts))

    lo, hi = math.log(0.05), math.log(20.0)
    for _ in range(30):  # the top score grows with the spread at a fixed number of pairs
        mid = 0.5 * (lo + hi)
        if solve(math.exp(mid))[1] < top_score:
            lo = mid
        else:
            hi = mid
    s_cls = math.exp(0.5 * (lo + hi))
    t_cls, calib_top, calib_pairs = solve(s_cls)

    chan_s = np.empty(per)
    chan_t = np.zeros(per)
    chan_s[0:2], chan_s[2:4], chan_s[4], chan_s[5:] = XY_SPREAD, WH_SPREAD, s_obj, s_cls
    chan_t[4], chan_t[5:] = t_obj, t_cls
    scale, shift = [], []
    for mu, sd, na in zip(mus, sds, num_anchors, strict=True):
        s = np.tile(chan_s, na) / sd
        scale.append(s)
        shift.append(np.tile(chan_t, na) - mu * s)
    return _Fit(scale, shift, calib_anchors, calib_pairs, calib_top)


def _apply_fit(layer: Any, fit: _Fit) -> None:
    for conv, s, t in zip(layer.yolo_head.outputs, fit.scale, fit.shift, strict=True):
        w = conv.weight.numpy().astype(np.float64)
        b = conv.bias.numpy().astype(np.float64) if conv.bias is not None else 0.0
        conv.weight.set_value((w * s[:, None, None, None]).astype(np.float32))
        conv.bias.set_value((b * s + t).astype(np.float32))


@dataclass
class DetectorStats:
    """How one image goes through decode and NMS."""

    total_anchors: int
    anchors_passing_conf: int
    pairs_passing_score: int
    top_score: float
    score_std: float
    detections: int


def detector_stats(layer: Any, feed: dict[str, np.ndarray]) -> DetectorStats:
    """Run the eval-mode YOLOv3 `layer` on a one-image `feed` and count what passes where:
    anchors with objectness >= conf_thresh (yolo_box's rule), (box, class) pairs with score >
    score_threshold (multiclass_nms3's rule), the top score and the rows after NMS."""
    import paddle

    from generator.ppdet.postprocess import yolo_decode

    spec = layer.spec
    captured: list[Any] = []
    hook = layer.yolo_head.register_forward_post_hook(lambda _l, _i, out: captured.append(out))
    layer.eval()
    try:
        with paddle.no_grad():
            t = {k: paddle.to_tensor(v) for k, v in feed.items()}
            _bbox, bbox_num = layer(t["image"], t["im_shape"], t["scale_factor"])
            head = captured[0]
            _boxes, scores = yolo_decode(head, layer.yolo_head.mask_anchors, t["im_shape"],
                                         t["scale_factor"], spec.num_classes, spec.decode)
    finally:
        hook.remove()
    per = 5 + spec.num_classes
    total = passing = 0
    for out, mask in zip(head, spec.anchor_masks, strict=True):
        o = out.numpy()
        obj = o.reshape(o.shape[0], len(mask), per, -1)[:, :, 4]
        total += obj[0].size
        passing += int((_sigmoid(obj[0].astype(np.float64)) >= spec.decode.conf_thresh).sum())
    sc = scores.numpy()[0]
    kept = sc[sc > spec.nms.score_threshold]
    return DetectorStats(total_anchors=total, anchors_passing_conf=passing,
                         pairs_passing_score=int(kept.size), top_score=float(sc.max()),
                         score_std=float(kept.std()) if kept.size else 0.0,
                         detections=int(bbox_num.numpy().sum()))
