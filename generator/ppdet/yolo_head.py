"""YOLOv3 head: one 1x1 conv per level (`yolo_head.yolo_output.N`)."""

from __future__ import annotations

import paddle
import paddle.nn as nn


class YOLOv3Head(nn.Layer):
    """Per-level 1x1 conv to `len(mask) * (5 + num_classes)` channels (box, objectness, classes)."""

    def __init__(
        self,
        in_channels: list[int],
        anchors: list[list[int]],
        anchor_masks: list[list[int]],
        num_classes: int,
    ):
        super().__init__()
        if len(in_channels) != len(anchor_masks):
            raise ValueError(
                f"YOLOv3Head has {len(in_channels)} input levels but {len(anchor_masks)} "
                "anchor_masks; they must match"
            )
        self.num_classes = num_classes
        #: per level, the flat [w0, h0, w1, h1, ...] list that `yolo_box` takes
        self.mask_anchors: list[list[int]] = []
        for mask in anchor_masks:
            flat: list[int] = []
            for idx in mask:
                if not 0 <= idx < len(anchors):
                    raise ValueError(
                        f"anchor mask index {idx} out of range ({len(anchors)} anchors)"
                    )
                flat.extend(int(v) for v in anchors[idx])
            self.mask_anchors.append(flat)
        self.outputs: list[nn.Conv2D] = []
        for i, mask in enumerate(anchor_masks):
            ch = in_channels[i]
            conv = nn.Conv2D(ch, len(mask) * (num_classes + 5), 1)
            self.outputs.append(self.add_sublayer(f"yolo_output.{i}", conv))

    def forward(self, feats: list[paddle.Tensor]) -> list[paddle.Tensor]:
        return [self.outputs[i](feats[i]) for i in range(len(self.outputs))]
