"""Built-in feature-embedding architecture `reid_embedding` (person / vehicle re-identification,
image retrieval).

In the style of the ReID "strong baseline" used by fast-reid and PaddleClas' ReID configs:
a `paddle.vision` backbone (ResNet50 by default, last stride 1), global average pooling, an
optional linear reduction to `embedding_dim`, an optional BatchNorm neck (BNNeck, the
inference feature is taken after it) and optional L2 normalisation.

Exported input `x` float32 [N, 3, H, W] (default 256 x 128, the person ReID size), output the
feature matrix float32 [N, D] (D = `embedding_dim`, or the backbone's channels: 2048 for
ResNet50). Both export formats work (the L2 normalisation comes from `legacy_ops`, which also
traces under Paddle 3.3.1's legacy tracer).

Config (`model.args`):
    backbone: resnet50 | resnet18 | ... | mobilenet_v3_small | mobilenet_v3_large
    backbone_scale: float, MobileNetV3 width multiplier (default 1.0)
    last_stride: 1 | 2 (default 1 for ResNet; MobileNetV3 only has 2)
    embedding_dim: int or null, a bias-free Linear reduction (default null = none)
    bn_neck: bool (default true)
    normalize: bool, L2-normalise the output (default true)
    input_size: [h, w] or int of the exported input; null = any size (default [256, 128])
"""

from __future__ import annotations

import copy
from typing import Any

from generator.export import legacy_ops
from generator.export.arch_backbones import BACKBONES, build_backbone, check_backbone
from generator.export.arch_segmentation import parse_input_size
from generator.export.errors import ConfigError
from generator.models import ARCHITECTURES, BuiltModel, register_architecture
from generator.suggest import did_you_mean

ARCH_NAME = "reid_embedding"
DEFAULT_INPUT_SIZE = (256, 128)
_ARGS = ("backbone", "backbone_scale", "last_stride", "embedding_dim", "bn_neck", "normalize",
         "input_size")


def reid_preprocess(h: int, w: int) -> list[dict[str, Any]]:
    """PaddleClas ReID eval transforms: resize to (w, h) without crop, ImageNet normalisation."""
    from generator.export.infer_cfg import IMAGENET_MEAN, IMAGENET_STD

    return [{"type": "ResizeImage", "size": [w, h]},
            {"type": "NormalizeImage", "scale": 1.0 / 255.0, "mean": list(IMAGENET_MEAN),
             "std": list(IMAGENET_STD), "order": ""},
            {"type": "ToCHWImage"}]


def build_reid_embedding(backbone: str = "resnet50", backbone_scale: float = 1.0,
                         last_stride: int | None = None, embedding_dim: int | None = None,
                         bn_neck: bool = True, normalize: bool = True) -> Any:
    """The dynamic `paddle.nn.Layer` (random init): `forward(x)` -> features [N, D]."""
    import paddle
    from paddle import nn

    where = f"model.args for arch {ARCH_NAME!r}"
    check_backbone(backbone, where)
    if last_stride is None:
        last_stride = 1 if BACKBONES[backbone] == "resnet" else 2
    if embedding_dim is not None and not (isinstance(embedding_dim, int)
                                          and not isinstance(embedding_dim, bool)
                                          and embedding_dim >= 1):
        raise ConfigError(f"{where}: embedding_dim must be an int >= 1 or null, "
                          f"got {embedding_dim!r}")
    for key, value in (("bn_neck", bn_neck), ("normalize", normalize)):
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: {key} must be true or false, got {value!r}")
    body = build_backbone(backbone, scale=backbone_scale, last_stride=last_stride)
    channels = body.channels_at(body.out_stride)
    dim = embedding_dim or channels

    class ReIDEmbedding(nn.Layer):
        """Backbone -> GAP -> [Linear reduction] -> [BNNeck] -> [L2 normalisation]."""

        def __init__(self) -> None:
            super().__init__()
            self.backbone = body
            self.pool = nn.AdaptiveAvgPool2D(1)
            self.reduction = nn.Linear(channels, dim, bias_attr=False) if embedding_dim else None
            # BNNeck: a BatchNorm whose shift is frozen at 0 (kept as a parameter, so
            # checkpoints with `bn_neck.bias` load)
            frozen = paddle.ParamAttr(trainable=False,
                                      initializer=nn.initializer.Constant(0.0))
            self.bn_neck = nn.BatchNorm1D(dim, bias_attr=frozen) if bn_neck else None
            self.normalize = normalize
            self.embedding_dim = dim

        def forward(self, x):
            feat = self.backbone(x, (body.out_stride,))[0]
            feat = paddle.flatten(self.pool(feat), 1)
            if self.reduction is not None:
                feat = self.reduction(feat)
            if self.bn_neck is not None:
                feat = self.bn_neck(feat)
            if self.normalize:
                feat = legacy_ops.normalize(feat, p=2, axis=1)
            return feat

    return ReIDEmbedding()


@register_architecture(ARCH_NAME)
def build(model: dict[str, Any], config: dict[str, Any]) -> BuiltModel:
    """`reid_embedding` feature extractor (input x [N,3,256,128] -> features [N,D] float32)."""
    from paddle.static import InputSpec

    from generator.export import infer_cfg as infer_cfg_mod

    args = dict(model.get("args") or {})
    unknown = [k for k in args if k not in _ARGS]
    if unknown:
        details = ", ".join(f"{k}{did_you_mean(k, _ARGS)}" for k in unknown)
        raise ConfigError(f"model.args for arch {ARCH_NAME!r}: unknown key(s) {details}; "
                          f"allowed: {', '.join(_ARGS)}")
    h, w = parse_input_size(args.pop("input_size", list(DEFAULT_INPUT_SIZE)),
                            f"model.args for arch {ARCH_NAME!r}")
    layer = build_reid_embedding(**args)
    spec = [InputSpec([None, 3, h, w], "float32", "x")]
    built = BuiltModel(layer=layer, input_spec=spec, task="embedding",
                       fixed_input_shape_target="x")
    # The generic embedding default (resize_short + centre crop) is the classification recipe;
    # ReID resizes straight to the input size. A config's own `preprocess:` list still wins.
    if h and w and not isinstance(config.get("preprocess"), list) and "inputs" not in config:
        built.infer_cfg = infer_cfg_mod.build_infer_cfg(
            arch=ARCH_NAME, task="embedding", input_spec=spec,
            preprocess=copy.deepcopy(reid_preprocess(h, w)))
    return built


def register_embedding_architectures() -> None:
    """Register `reid_embedding` (idempotent; importing this module already does it)."""
    ARCHITECTURES.setdefault(ARCH_NAME, build)
