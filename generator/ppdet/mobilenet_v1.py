"""MobileNetV1 backbone with PaddleDetection's parameter names (`backbone.conv2_1._depthwise_conv...`)."""

from __future__ import annotations

import paddle
import paddle.nn as nn
import paddle.nn.functional as F

# (name, in, depthwise out, pointwise out, groups, stride) at scale 1; outputs are numbered 1..14
# from conv2_1 on, which is what `feature_maps` refers to.
_BLOCKS: list[tuple[str, int, int, int, int, int]] = [
    ("conv2_1", 32, 32, 64, 32, 1),
    ("conv2_2", 64, 64, 128, 64, 2),
    ("conv3_1", 128, 128, 128, 128, 1),
    ("conv3_2", 128, 128, 256, 128, 2),
    ("conv4_1", 256, 256, 256, 256, 1),
    ("conv4_2", 256, 256, 512, 256, 2),
    *[(f"conv5_{i}", 512, 512, 512, 512, 1) for i in range(1, 6)],
    ("conv5_6", 512, 512, 1024, 512, 2),
    ("conv6", 1024, 1024, 1024, 1024, 1),
]


class ConvBNAct(nn.Layer):
    """Conv (no bias) + BatchNorm + ReLU/ReLU6; parameters `_conv.*`, `_batch_norm.*`."""

    def __init__(
        self, ch_in: int, ch_out: int, kernel: int, stride: int, groups: int = 1, act: str = "relu"
    ):
        super().__init__()
        self.act = act
        self._conv = nn.Conv2D(
            ch_in,
            ch_out,
            kernel,
            stride=stride,
            padding=(kernel - 1) // 2,
            groups=groups,
            bias_attr=False,
        )
        self._batch_norm = nn.BatchNorm2D(ch_out)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        x = self._batch_norm(self._conv(x))
        return F.relu6(x) if self.act == "relu6" else F.relu(x)


class DepthwiseSeparable(nn.Layer):
    """3x3 depthwise ConvBNAct then 1x1 pointwise ConvBNAct."""

    def __init__(self, ch_in: int, dw_out: int, pw_out: int, groups: int, stride: int):
        super().__init__()
        self._depthwise_conv = ConvBNAct(ch_in, dw_out, 3, stride, groups=groups)
        self._pointwise_conv = ConvBNAct(dw_out, pw_out, 1, 1)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        return self._pointwise_conv(self._depthwise_conv(x))


class ExtraBlock(nn.Layer):
    """SSD-style extra block: 1x1 ReLU6 then stride-2 3x3 ReLU6."""

    def __init__(self, ch_in: int, mid: int, ch_out: int):
        super().__init__()
        self.pointwise_conv = ConvBNAct(ch_in, mid, 1, 1, act="relu6")
        self.normal_conv = ConvBNAct(mid, ch_out, 3, 2, act="relu6")

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        return self.normal_conv(self.pointwise_conv(x))


class MobileNetV1(nn.Layer):
    """MobileNetV1 returning the outputs numbered in `feature_maps` ([4, 6, 13] = strides 8/16/32)."""

    def __init__(
        self,
        scale: float = 1.0,
        feature_maps: list[int] | None = None,
        with_extra_blocks: bool = False,
        extra_block_filters: list[list[int]] | None = None,
    ):
        super().__init__()
        self.feature_maps = list(feature_maps if feature_maps is not None else [4, 6, 13])
        self.with_extra_blocks = with_extra_blocks
        self.conv1 = ConvBNAct(3, int(32 * scale), 3, 2)
        self.blocks: list[DepthwiseSeparable] = []
        self.out_channels: list[int] = []
        for name, ch_in, dw, pw, groups, stride in _BLOCKS:
            block = DepthwiseSeparable(
                int(ch_in * scale), int(dw * scale), int(pw * scale), int(groups * scale), stride
            )
            self.blocks.append(self.add_sublayer(name, block))
            if len(self.blocks) in self.feature_maps:
                self.out_channels.append(int(pw * scale))
        self.extra_blocks: list[ExtraBlock] = []
        if with_extra_blocks:
            filters = extra_block_filters or []
            for i, (mid, out) in enumerate(filters):
                ch_in = 1024 if i == 0 else filters[i - 1][1]
                block = ExtraBlock(ch_in, mid, out)
                self.extra_blocks.append(self.add_sublayer(f"conv7_{i + 1}", block))
                if len(self.blocks) + len(self.extra_blocks) in self.feature_maps:
                    self.out_channels.append(out)

    def forward(self, image: paddle.Tensor) -> list[paddle.Tensor]:
        feats = []
        y = self.conv1(image)
        for i, block in enumerate(self.blocks):
            y = block(y)
            if i + 1 in self.feature_maps:
                feats.append(y)
        if not self.with_extra_blocks:
            return feats
        y = feats[-1]
        for i, block in enumerate(self.extra_blocks):
            y = block(y)
            if len(self.blocks) + i + 1 in self.feature_maps:
                feats.append(y)
        return feats
