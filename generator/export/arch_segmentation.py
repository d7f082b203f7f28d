"""Built-in semantic segmentation architecture `lraspp`.

A `paddle.vision` backbone (MobileNetV3 or ResNet) with the Lite R-ASPP decoder of
"Searching for MobileNetV3" (Howard et al., 2019): the stride-32 features go through a 1x1
conv + BN + ReLU branch gated by a global-pool + 1x1 conv + sigmoid branch, are upsampled
bilinearly to the stride-8 features, and both are classified by 1x1 convs and summed; the
logits are upsampled bilinearly to the input size.

Exported like a PaddleSeg model (`tools/export.py`, default `--output_op argmax`):
input `x` float32 [N, 3, H, W], output the label map int32 [N, H, W]. `output_op: softmax`
gives float32 [N, C, H, W] probabilities, `none` the logits. Both export formats work: argmax
and sigmoid come from `legacy_ops`, which also trace under the legacy (`FLAGS_enable_pir_api=0`)
tracer of Paddle 3.3.1.

Config (`model.args`):
    num_classes: int (default 19)
    backbone: mobilenet_v3_small | mobilenet_v3_large | resnet18 | ... (default mobilenet_v3_small)
    backbone_scale: float, MobileNetV3 width multiplier (default 1.0)
    input_size: int or [h, w] of the exported input; null = any size (default 512)
    decoder_channels: int, channels of the high-level branch (default 128)
    output_op: argmax | softmax | none (default argmax)
"""

from __future__ import annotations

from typing import Any

from generator.export.arch_backbones import build_backbone, check_backbone
from generator.export.errors import ConfigError
from generator.export.legacy_ops import argmax, sigmoid_layer
from generator.models import ARCHITECTURES, BuiltModel, register_architecture
from generator.suggest import did_you_mean

ARCH_NAME = "lraspp"
OUTPUT_OPS = ("argmax", "softmax", "none")
_ARGS = ("num_classes", "backbone", "backbone_scale", "input_size", "decoder_channels",
         "output_op")


def parse_input_size(value: Any, where: str) -> tuple[int | None, int | None]:
    """`input_size` (int, [h, w] or null) -> (h, w); None entries mean any size."""
    if value is None:
        return None, None
    if isinstance(value, int) and not isinstance(value, bool):
        value = [value, value]
    if (isinstance(value, (list, tuple)) and len(value) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value)):
        return int(value[0]), int(value[1])
    raise ConfigError(f"{where}: input_size must be a positive int, [h, w] or null, got {value!r}")


def _check_args(args: dict[str, Any]) -> None:

    unknown = [k for k in args if k not in _ARGS]
    if unknown:
        details = ", ".join(f"{k}{did_you_mean(k, _ARGS)}" for k in unknown)
        raise ConfigError(f"model.args for arch {ARCH_NAME!r}: unknown key(s) {details}; "
                          f"allowed: {', '.join(_ARGS)}")


def build_lraspp(num_classes: int = 19, backbone: str = "mobilenet_v3_small",
                 backbone_scale: float = 1.0, decoder_channels: int = 128,
                 output_op: str = "argmax") -> Any:
    """The dynamic `paddle.nn.Layer` (random init): `forward(x)` -> label map / probs / logits."""
    import paddle
    import paddle.nn.functional as F
    from paddle import nn

    where = f"model.args for arch {ARCH_NAME!r}"
    check_backbone(backbone, where)
    if not (isinstance(num_classes, int) and num_classes >= 1):
        raise ConfigError(f"{where}: num_classes must be an int >= 1, got {num_classes!r}")
    if not (isinstance(decoder_channels, int) and decoder_channels >= 1):
        raise ConfigError(f"{where}: decoder_channels must be an int >= 1, "
                          f"got {decoder_channels!r}")
    if output_op not in OUTPUT_OPS:
        raise ConfigError(f"{where}: output_op must be one of {', '.join(OUTPUT_OPS)}, "
                          f"got {output_op!r}")
    body = build_backbone(backbone, scale=backbone_scale)
    low_ch, high_ch = body.channels_at(8), body.channels_at(32)

    class LRASPPSeg(nn.Layer):
        """Backbone + Lite R-ASPP head; logits upsampled to the input size."""

        def __init__(self) -> None:
            super().__init__()
            self.backbone = body
            self.cbr = nn.Sequential(nn.Conv2D(high_ch, decoder_channels, 1, bias_attr=False),
                                     nn.BatchNorm2D(decoder_channels), nn.ReLU())
            self.scale = nn.Sequential(nn.AdaptiveAvgPool2D(1),
                                       nn.Conv2D(high_ch, decoder_channels, 1, bias_attr=False),
                                       sigmoid_layer())
            self.low_classifier = nn.Conv2D(low_ch, num_classes, 1)
            self.high_classifier = nn.Conv2D(decoder_channels, num_classes, 1)
            self.num_classes = num_classes
            self.output_op = output_op

        def forward(self, x):
            low, high = self.backbone(x, (8, 32))
            y = self.cbr(high) * self.scale(high)
            y = F.interpolate(y, size=paddle.shape(low)[2:], mode="bilinear",
                              align_corners=False)
            logits = self.low_classifier(low) + self.high_classifier(y)
            logits = F.interpolate(logits, size=paddle.shape(x)[2:], mode="bilinear",
                                   align_corners=False)
            if self.output_op == "argmax":
                return argmax(logits, axis=1, dtype="int32")
            if self.output_op == "softmax":
                return F.softmax(logits, axis=1)
            return logits

    return LRASPPSeg()


@register_architecture(ARCH_NAME)
def build(model: dict[str, Any], config: dict[str, Any]) -> BuiltModel:
    """`lraspp` segmentation network (input x [N,3,H,W] float32 -> label map [N,H,W] int32)."""
    from paddle.static import InputSpec

    args = dict(model.get("args") or {})
    _check_args(args)
    h, w = parse_input_size(args.pop("input_size", 512), f"model.args for arch {ARCH_NAME!r}")
    layer = build_lraspp(**args)
    return BuiltModel(layer=layer, input_spec=[InputSpec([None, 3, h, w], "float32", "x")],
                      task="segmentation", fixed_input_shape_target="x")


def register_segmentation_architectures() -> None:
    """Register `lraspp` (idempotent; importing this module already does it)."""
    ARCHITECTURES.setdefault(ARCH_NAME, build)
