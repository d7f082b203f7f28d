"""YOLOv3 FPN neck with PaddleDetection's parameter names (`neck.yolo_block.N...`)."""

from __future__ import annotations

import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from .darknet import ConvBNLeaky


class YoloDetBlock(nn.Layer):
    """Five alternating 1x1/3x3 convs (`conv_module`: conv0..conv3, route) and a 3x3 `tip`."""

    def __init__(self, ch_in: int, channel: int):
        super().__init__()
        if channel % 2:
            raise ValueError(f"YoloDetBlock channel {channel} must be even")
        self.conv_module = nn.Sequential()
        for name, cin, cout, k in (
            ("conv0", ch_in, channel, 1),
            ("conv1", channel, channel * 2, 3),
            ("conv2", channel * 2, channel, 1),
            ("conv3", channel, channel * 2, 3),
            ("route", channel * 2, channel, 1),
        ):
            self.conv_module.add_sublayer(name, ConvBNLeaky(cin, cout, k))
        self.tip = ConvBNLeaky(channel, channel * 2, 3)

    def forward(self, x: paddle.Tensor) -> tuple[paddle.Tensor, paddle.Tensor]:
        route = self.conv_module(x)
        return route, self.tip(route)


class YOLOv3FPN(nn.Layer):
    """Top-down FPN: deepest feature first; each level concatenates the upsampled route."""

    def __init__(self, in_channels: list[int] | None = None):
        super().__init__()
        in_channels = list(in_channels if in_channels is not None else [256, 512, 1024])
        if not in_channels:
            raise ValueError("YOLOv3FPN needs at least one input feature")
        self.num_blocks = len(in_channels)
        self.blocks: list[YoloDetBlock] = []
        self.transitions: list[ConvBNLeaky] = []
        self.out_channels: list[int] = []
        for i in range(self.num_blocks):
            channel = 512 // (2**i)
            ch_in = in_channels[-i - 1] + (channel if i > 0 else 0)
            block = YoloDetBlock(ch_in, channel)
            self.blocks.append(self.add_sublayer(f"yolo_block.{i}", block))
            self.out_channels.append(channel * 2)
            if i < self.num_blocks - 1:
                trans = ConvBNLeaky(channel, 256 // (2**i), 1)
                self.transitions.append(self.add_sublayer(f"yolo_transition.{i}", trans))

    def forward(self, feats: list[paddle.Tensor]) -> list[paddle.Tensor]:
        outs = []
        route = None
        for i, feat in enumerate(reversed(feats)):
            if route is not None:
                feat = paddle.concat([route, feat], axis=1)
            route, tip = self.blocks[i](feat)
            outs.append(tip)
            if i < self.num_blocks - 1:
                route = F.interpolate(self.transitions[i](route), scale_factor=2.0)
        return outs
