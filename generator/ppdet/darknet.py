"""DarkNet-53 backbone with PaddleDetection's parameter names (`backbone.stage.N...`)."""

from __future__ import annotations

import paddle
import paddle.nn as nn
import paddle.nn.functional as F

#: residual blocks per stage
DARKNET_DEPTHS: dict[int, list[int]] = {53: [1, 2, 8, 8, 4]}


class ConvBNLeaky(nn.Layer):
    """Conv (no bias) + BatchNorm + LeakyReLU(0.1); parameters `conv.*`, `batch_norm.*`."""

    def __init__(self, ch_in: int, ch_out: int, kernel: int = 3, stride: int = 1):
        super().__init__()
        self.conv = nn.Conv2D(
            ch_in, ch_out, kernel, stride=stride, padding=(kernel - 1) // 2, bias_attr=False
        )
        self.batch_norm = nn.BatchNorm2D(ch_out)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        return F.leaky_relu(self.batch_norm(self.conv(x)), 0.1)


class DownSample(nn.Layer):
    """Stride-2 3x3 ConvBNLeaky, kept under `conv_bn_layer` for the parameter names."""

    def __init__(self, ch_in: int, ch_out: int):
        super().__init__()
        self.conv_bn_layer = ConvBNLeaky(ch_in, ch_out, 3, stride=2)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        return self.conv_bn_layer(x)


class Residual(nn.Layer):
    """x + conv2(conv1(x)): 1x1 halving the channels then 3x3 restoring them."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv1 = ConvBNLeaky(channels, channels // 2, 1)
        self.conv2 = ConvBNLeaky(channels // 2, channels, 3)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        return x + self.conv2(self.conv1(x))


class Stage(nn.Layer):
    """`count` residual blocks: the first is `basicblock0`, the others `<stage name>.<i>`."""

    def __init__(self, channels: int, count: int, name: str):
        super().__init__()
        self.basicblock0 = Residual(channels)
        self.rest: list[Residual] = []
        for i in range(1, count):
            self.rest.append(self.add_sublayer(f"{name}.{i}", Residual(channels)))

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        x = self.basicblock0(x)
        for block in self.rest:
            x = block(x)
        return x


class DarkNet(nn.Layer):
    """DarkNet backbone returning the stages listed in `return_idx` (strides 8/16/32 for 2,3,4)."""

    def __init__(self, depth: int = 53, return_idx: list[int] | None = None, num_stages: int = 5):
        super().__init__()
        if depth not in DARKNET_DEPTHS:
            raise ValueError(
                f"DarkNet depth {depth} is not supported (known: {list(DARKNET_DEPTHS)})"
            )
        self.return_idx = list(return_idx if return_idx is not None else [2, 3, 4])
        self.num_stages = num_stages
        counts = DARKNET_DEPTHS[depth][:num_stages]
        widths = [64, 128, 256, 512, 1024]
        self.conv0 = ConvBNLeaky(3, 32, 3)
        self.downsample0 = DownSample(32, 64)
        self.stages: list[Stage] = []
        self.out_channels: list[int] = []
        for i, count in enumerate(counts):
            name = f"stage.{i}"
            self.stages.append(self.add_sublayer(name, Stage(widths[i], count, name)))
            if i in self.return_idx:
                self.out_channels.append(widths[i])
        self.downsamples: list[DownSample] = []
        for i in range(num_stages - 1):
            layer = DownSample(widths[i], widths[i + 1])
            self.downsamples.append(self.add_sublayer(f"stage.{i}.downsample", layer))

    def forward(self, image: paddle.Tensor) -> list[paddle.Tensor]:
        x = self.downsample0(self.conv0(image))
        feats = []
        for i, stage in enumerate(self.stages):
            x = stage(x)
            if i in self.return_idx:
                feats.append(x)
            if i < self.num_stages - 1:
                x = self.downsamples[i](x)
        return feats
