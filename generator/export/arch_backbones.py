"""`paddle.vision` backbones as multi-scale feature extractors for the built-in dense and
embedding architectures (`arch_segmentation`, `arch_embedding`).

A `VisionBackbone` holds the classifier's own sub-layers under their `paddle.vision` names
(`conv1`, `layer1`.. for ResNet; `conv`, `blocks`, `lastconv` for MobileNetV3) and drops the
pooling and classifier, so a `paddle.vision` ImageNet state dict loads into it with the
`backbone.` prefix added and `fc.*` / `classifier.*` left out.
"""

from __future__ import annotations

from typing import Any

from generator.export.errors import ConfigError
from generator.suggest import did_you_mean

#: backbone name -> family ("resnet" | "mobilenet_v3")
BACKBONES: dict[str, str] = {
    "resnet18": "resnet", "resnet34": "resnet", "resnet50": "resnet", "resnet101": "resnet",
    "resnet152": "resnet", "mobilenet_v3_small": "mobilenet_v3",
    "mobilenet_v3_large": "mobilenet_v3",
}


def check_backbone(name: Any, where: str) -> str:
    """Return `name` if it is a supported backbone, else raise ConfigError listing them."""

    if not isinstance(name, str) or name not in BACKBONES:
        raise ConfigError(
            f"{where}: backbone {name!r} is not supported{did_you_mean(str(name), list(BACKBONES))}"
            f"; choose one of {', '.join(BACKBONES)}"
        )
    return name


def _set_stride_one(conv: Any) -> None:
    conv._stride = [1, 1]


def build_backbone(name: str, *, scale: float = 1.0, last_stride: int = 2) -> Any:
    """A `VisionBackbone` around `paddle.vision.models.<name>` (random init, nothing
    downloaded). `scale` is the MobileNetV3 width multiplier; `last_stride` 1 removes the
    last down-sampling of a ResNet (the ReID "last stride 1" trick, output stride 16)."""
    import paddle
    import paddle.vision.models as pvm

    family = BACKBONES[name]
    if last_stride not in (1, 2):
        raise ConfigError(f"last_stride must be 1 or 2, got {last_stride!r}")
    if family == "resnet":
        if scale != 1.0:
            raise ConfigError(f"backbone_scale is a MobileNetV3 width multiplier; {name} has "
                              f"none (got {scale!r}): remove it or pick a mobilenet_v3 backbone")
        net = getattr(pvm, name)(pretrained=False, num_classes=0, with_pool=False)
        expansion = type(net.layer1[0]).expansion
        if last_stride == 1:
            first = net.layer4[0]
            _set_stride_one(first.conv2 if hasattr(first, "conv3") else first.conv1)
            if first.downsample is not None:
                _set_stride_one(first.downsample[0])
        parts = [("conv1", 2), ("bn1", 1), ("relu", 1), ("maxpool", 2), ("layer1", 1),
                 ("layer2", 2), ("layer3", 2), ("layer4", last_stride)]
        channels = {"conv1": 64, "bn1": 64, "relu": 64, "maxpool": 64,
                    **{f"layer{i}": 64 * 2 ** (i - 1) * expansion for i in range(1, 5)}}
        steps = [(n, s, channels[n]) for n, s in parts]
    else:
        if last_stride != 2:
            raise ConfigError(f"last_stride 1 is only available for ResNet backbones, not {name}")
        if not scale > 0:
            raise ConfigError(f"backbone scale must be > 0, got {scale!r}")
        net = getattr(pvm, name)(pretrained=False, scale=scale, num_classes=0, with_pool=False)
        steps = [("conv", 2, net.firstconv_in_channels)]
        steps += [(f"blocks.{i}", cfg.stride, cfg.out_channels)
                  for i, cfg in enumerate(net.config)]
        steps.append(("lastconv", 1, net.lastconv_out_channels))

    class VisionBackbone(paddle.nn.Layer):
        """Runs the classifier's stages in order; `forward` returns the last feature map at
        each output stride in `out_strides` (ascending), e.g. (8, 32)."""

        def __init__(self) -> None:
            super().__init__()
            for child_name, child in net.named_children():
                if child_name not in ("avgpool", "fc", "classifier"):
                    self.add_sublayer(child_name, child)
            self.arch_name = name
            self._steps = []
            stride = 1
            for path, step_stride, chans in steps:
                stride *= step_stride
                self._steps.append((path, stride, chans))
            self.out_stride = stride

        def channels_at(self, stride: int) -> int:
            """Channels of the feature map `forward` returns for output stride `stride`."""
            found = [c for _, s, c in self._steps if s == stride]
            if not found:
                raise ConfigError(f"backbone {name} has no stage with output stride {stride} "
                                  f"(has {sorted({s for _, s, _ in self._steps})})")
            return found[-1]

        def _layer(self, path: str) -> Any:
            obj: Any = self
            for part in path.split("."):
                obj = obj[int(part)] if part.isdigit() else getattr(obj, part)
            return obj

        def forward(self, x, out_strides=(32,)):
            return self._run(x, tuple(out_strides))

        @paddle.jit.not_to_static
        def _run(self, x: Any, out_strides: tuple[int, ...]) -> list[Any]:
            # a plain Python loop over the stages, kept out of dy2static's AST rewriting
            last_index = {}
            for index, step in enumerate(self._steps):
                if step[1] in out_strides:
                    last_index[step[1]] = index
            feats = {}
            for index, step in enumerate(self._steps):
                if len(feats) == len(out_strides):
                    break
                x = self._layer(step[0])(x)
                if last_index.get(step[1]) == index:
                    feats[step[1]] = x
            return [feats[s] for s in out_strides]

    return VisionBackbone()
