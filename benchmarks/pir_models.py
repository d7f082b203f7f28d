"""PIR-only programs resembling the Paddle 3 toolkit exports (`inference.json` +
`inference.pdiparams`, no legacy program), for benchmarks/backends.py --pir-only:

* `lcnet_224`: a PP-LCNet-like classifier (conv-BN-hardswish, depthwise-separable blocks with
  3x3/5x5 kernels and squeeze-excite (relu, hardsigmoid), 1x1 conv to 1280 + hardswish, fc 1000,
  softmax), 224x224;
* `db_det_640`: a PP-OCR det (DB)-like net: strided conv-BN-hardswish backbone, an FPN that
  merges levels with nearest x2 upsampling and brings them to 1/4 with bilinear upsampling
  (scale factors 2/4/8: the double `scale` attributes), leaky_relu in the neck, a head of conv +
  two transposed convs + sigmoid, 640x640 -> a [1,1,640,640] probability map;
* `crnn_rec_48x320`: a PP-OCR rec-like net: conv-BN-hardswish backbone to height 1, a sequence
  of 40 steps, one self-attention block (layer_norm, matmul, softmax), fc to 6625 classes and
  softmax.

Weights: random, then every BatchNorm's statistics set from one train-mode pass over synthetic
scenes (`generator.quality.realistic_weights.synthetic_images`), so activations keep their
scale through the depth (no saturated or dead layers) and outputs are not near-constant.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

MEAN = np.array([0.485, 0.456, 0.406], "float32")
STD = np.array([0.229, 0.224, 0.225], "float32")


def _layers() -> dict[str, Any]:
    import paddle
    from paddle import nn

    def cbh(cin: int, cout: int, k: int, s: int, groups: int = 1) -> nn.Sequential:
        return nn.Sequential(nn.Conv2D(cin, cout, k, s, (k - 1) // 2, groups=groups,
                                       bias_attr=False), nn.BatchNorm2D(cout), nn.Hardswish())

    class SE(nn.Layer):
        def __init__(self, c: int) -> None:
            super().__init__()
            self.pool = nn.AdaptiveAvgPool2D(1)
            self.c1 = nn.Conv2D(c, c // 4, 1)
            self.c2 = nn.Conv2D(c // 4, c, 1)

        def forward(self, x):
            w = nn.functional.hardsigmoid(self.c2(nn.functional.relu(self.c1(self.pool(x)))))
            return x * w

    class DepthSep(nn.Layer):
        def __init__(self, cin: int, cout: int, k: int, s: int, se: bool) -> None:
            super().__init__()
            self.dw = cbh(cin, cin, k, s, groups=cin)
            self.se = SE(cin) if se else None
            self.pw = cbh(cin, cout, 1, 1)

        def forward(self, x):
            x = self.dw(x)
            if self.se is not None:
                x = self.se(x)
            return self.pw(x)

    class LCNetLike(nn.Layer):
        #: (kernel, in, out, stride, se) as in PP-LCNet x1.0
        CFG = [(3, 32, 64, 1, False), (3, 64, 128, 2, False), (3, 128, 128, 1, False),
               (3, 128, 256, 2, False), (3, 256, 256, 1, False), (3, 256, 512, 2, False),
               (5, 512, 512, 1, False), (5, 512, 512, 1, False), (5, 512, 512, 1, False),
               (5, 512, 1024, 2, True), (5, 1024, 1024, 1, True)]

        def __init__(self) -> None:
            super().__init__()
            self.stem = cbh(3, 32, 3, 2)
            self.blocks = nn.Sequential(*[DepthSep(i, o, k, s, se)
                                          for k, i, o, s, se in self.CFG])
            self.pool = nn.AdaptiveAvgPool2D(1)
            self.last = nn.Conv2D(1024, 1280, 1)
            self.fc = nn.Linear(1280, 1000)

        def forward(self, x):
            y = self.pool(self.blocks(self.stem(x)))
            y = paddle.flatten(nn.functional.hardswish(self.last(y)), 1)
            return nn.functional.softmax(self.fc(y), axis=-1)

    class DBLike(nn.Layer):
        def __init__(self) -> None:
            super().__init__()
            chans = [16, 24, 56, 96, 160]
            self.stem = cbh(3, chans[0], 3, 2)
            self.stages = nn.LayerList([nn.Sequential(DepthSep(chans[i], chans[i + 1], 3, 2,
                                                               i >= 2),
                                                      DepthSep(chans[i + 1], chans[i + 1], 3,
                                                               1, False))
                                        for i in range(4)])
            self.lat = nn.LayerList([nn.Conv2D(c, 96, 1) for c in chans[1:]])
            self.out = nn.LayerList([nn.Conv2D(96, 24, 3, padding=1) for _ in chans[1:]])
            self.head = nn.Sequential(nn.Conv2D(96, 24, 3, padding=1, bias_attr=False),
                                      nn.BatchNorm2D(24), nn.ReLU(),
                                      nn.Conv2DTranspose(24, 24, 2, 2), nn.BatchNorm2D(24),
                                      nn.ReLU(), nn.Conv2DTranspose(24, 1, 2, 2))

        def forward(self, x):
            feats = []
            y = self.stem(x)
            for stage in self.stages:
                y = stage(y)
                feats.append(y)  # strides 4, 8, 16, 32
            lat = [self.lat[i](feats[i]) for i in range(4)]
            for i in range(3, 0, -1):  # top-down: nearest x2 and add
                lat[i - 1] = lat[i - 1] + nn.functional.interpolate(lat[i], scale_factor=2,
                                                                    mode="nearest")
            outs = [nn.functional.leaky_relu(self.out[i](lat[i]), 0.1) for i in range(4)]
            ups = [outs[0]] + [nn.functional.interpolate(outs[i], scale_factor=2 ** i,
                                                         mode="bilinear") for i in range(1, 4)]
            return nn.functional.sigmoid(self.head(paddle.concat(ups, axis=1)))

    class CRNNLike(nn.Layer):
        def __init__(self) -> None:
            super().__init__()
            self.body = nn.Sequential(cbh(3, 32, 3, 2), DepthSep(32, 64, 3, 1, False),
                                      DepthSep(64, 128, 3, 2, False),
                                      DepthSep(128, 128, 3, 1, False),
                                      DepthSep(128, 256, 3, (2, 1), False),
                                      DepthSep(256, 256, 5, 1, True),
                                      DepthSep(256, 384, 5, (2, 1), True))
            self.pool = nn.AdaptiveAvgPool2D((1, 40))
            self.norm1 = nn.LayerNorm(384)
            self.qkv = nn.Linear(384, 3 * 384)
            self.proj = nn.Linear(384, 384)
            self.norm2 = nn.LayerNorm(384)
            self.mlp = nn.Sequential(nn.Linear(384, 768), nn.Hardswish(), nn.Linear(768, 384))
            self.fc = nn.Linear(384, 6625)

        def forward(self, x):
            y = self.pool(self.body(x))  # [B, 384, 1, 40]
            y = paddle.transpose(paddle.squeeze(y, 2), [0, 2, 1])  # [B, 40, 384]
            q, k, v = paddle.split(self.qkv(self.norm1(y)), 3, axis=-1)
            att = nn.functional.softmax(paddle.matmul(q, k, transpose_y=True) / 384 ** 0.5,
                                        axis=-1)
            y = y + self.proj(paddle.matmul(att, v))
            y = y + self.mlp(self.norm2(y))
            return nn.functional.softmax(self.fc(y), axis=-1)

    #: name -> (class, input H W, (sublayer before the final activation, target logit std,
    #: target logit mean or None))
    return {"lcnet_224": (LCNetLike, (224, 224), ("fc", 2.5, None)),
            "db_det_640": (DBLike, (640, 640), ("head.6", 2.0, -1.5)),
            "crnn_rec_48x320": (CRNNLike, (48, 320), ("fc", 3.0, "center"))}


MODELS = ("lcnet_224", "db_det_640", "crnn_rec_48x320")


def images(hw: tuple[int, int], count: int, seed: int) -> np.ndarray:
    """Synthetic scenes resized to `hw`, normalised (ImageNet mean/std), NCHW float32."""
    import cv2

    from generator.quality.realistic_weights import synthetic_images

    out = []
    for im in synthetic_images(count, seed=seed):
        im = cv2.resize(im, (hw[1], hw[0]), interpolation=cv2.INTER_LINEAR)
        out.append(((im.astype("float32") / 255 - MEAN) / STD).transpose(2, 0, 1))
    return np.ascontiguousarray(np.stack(out))


def _calibrate(layer: Any, batch: np.ndarray) -> None:
    """BatchNorm statistics from one train-mode pass over `batch` (momentum 0)."""
    import paddle

    bns = [s for s in layer.sublayers() if isinstance(s, paddle.nn.layer.norm._BatchNormBase)]
    for bn in bns:
        bn._momentum = 0.0
    layer.train()
    with paddle.no_grad():
        layer(paddle.to_tensor(batch))
    layer.eval()


def _fit_last(layer: Any, path: str, batch: np.ndarray, std: float,
              mean: float | str | None) -> None:
    """Rescale the last layer (`path`) so that its outputs on `batch` have std `std` (and
    mean `mean`; "center": each class's mean removed, so that the sequence steps of a
    recogniser do not all pick one class): confident classes, a mostly-background map."""
    import paddle

    sub = dict(layer.named_sublayers())[path]
    seen: list[np.ndarray] = []
    hook = sub.register_forward_post_hook(lambda _l, _i, out: seen.append(out.numpy()))
    with paddle.no_grad():
        layer(paddle.to_tensor(batch))
    hook.remove()
    out = seen[0]
    k = std / max(float(out.std()), 1e-12)
    sub.weight.set_value(sub.weight.numpy() * k)
    bias = sub.bias.numpy() * k
    if mean == "center":
        bias -= out.reshape(-1, out.shape[-1]).mean(0) * k
    elif mean is not None:
        bias += mean - float(out.mean()) * k
    sub.bias.set_value(bias.astype("float32"))


def save(name: str, out_dir: Path, seed: int = 0) -> tuple[Path, np.ndarray]:
    """Save model `name` as `out_dir/inference.json` + `.pdiparams` (PIR); return the folder
    and a batch-1 feed (a synthetic scene not used for calibration)."""
    import paddle

    cls, hw, (last, std, mean) = _layers()[name]
    paddle.seed(seed)
    layer = cls()
    calib = images(hw, 4, seed=seed)
    _calibrate(layer, calib)
    _fit_last(layer, last, calib, std, mean)
    spec = [paddle.static.InputSpec([None, 3, *hw], "float32", "x")]
    out_dir.mkdir(parents=True, exist_ok=True)
    paddle.jit.save(paddle.jit.to_static(layer, input_spec=spec, full_graph=True),
                    str(out_dir / "inference"))
    return out_dir, images(hw, 1, seed=seed + 100)
