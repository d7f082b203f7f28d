"""The YOLOv3 network (DarkNet / MobileNetV1 backbone, FPN, head, decode, NMS) as one layer.

`YOLOv3.forward(image, im_shape, scale_factor) -> (bbox [N, 6], bbox_num [B])` is the export
contract of PaddleDetection's YOLOv3; its `state_dict` has PaddleDetection's names
(`backbone.*`, `neck.*`, `yolo_head.yolo_output.*`).
"""

from __future__ import annotations

import numpy as np
import paddle
import paddle.nn as nn

from .darknet import DarkNet
from .mobilenet_v1 import MobileNetV1
from .postprocess import multiclass_nms, yolo_decode
from .spec import BACKBONES, YOLOv3Spec
from .yolo_fpn import YOLOv3FPN
from .yolo_head import YOLOv3Head


def _make_backbone(spec: YOLOv3Spec) -> DarkNet | MobileNetV1:
    args = dict(spec.backbone_args)
    if spec.backbone == "DarkNet":
        return DarkNet(
            depth=int(args.get("depth", 53)),
            return_idx=list(args.get("return_idx", [2, 3, 4])),
            num_stages=int(args.get("num_stages", 5)),
        )
    if spec.backbone == "MobileNet":
        return MobileNetV1(
            scale=float(args.get("scale", 1)),
            feature_maps=list(args.get("feature_maps", [4, 6, 13])),
            with_extra_blocks=bool(args.get("with_extra_blocks", False)),
            extra_block_filters=args.get("extra_block_filters") or None,
        )
    raise ValueError(f"backbone {spec.backbone!r} is not one of {BACKBONES}")


class YOLOv3(nn.Layer):
    """YOLOv3 detector with decode and NMS inside the graph."""

    def __init__(self, spec: YOLOv3Spec):
        super().__init__()
        self.spec = spec
        self.backbone = _make_backbone(spec)
        self.neck = YOLOv3FPN(self.backbone.out_channels)
        self.yolo_head = YOLOv3Head(
            self.neck.out_channels, spec.anchors, spec.anchor_masks, spec.num_classes
        )
        self.fuse_norm = spec.normalization is not None
        if spec.normalization is not None:
            scale, bias = spec.normalization.scale_bias()
            self.register_buffer("norm_scale", paddle.to_tensor(scale), persistable=False)
            self.register_buffer("norm_bias", paddle.to_tensor(bias), persistable=False)

    def forward(
        self, image: paddle.Tensor, im_shape: paddle.Tensor, scale_factor: paddle.Tensor
    ) -> tuple[paddle.Tensor, paddle.Tensor]:
        if self.fuse_norm:
            image = image * self.norm_scale + self.norm_bias
        feats = self.neck(self.backbone(image))
        head_outs = self.yolo_head(feats)
        boxes, scores = yolo_decode(
            head_outs,
            self.yolo_head.mask_anchors,
            im_shape,
            scale_factor,
            self.spec.num_classes,
            self.spec.decode,
        )
        return multiclass_nms(boxes, scores, self.spec.nms)


def fuse_conv_bn(model: nn.Layer) -> int:
    """Fold every eval-mode BatchNorm into the conv before it (runtime.yml `fuse_conv_bn`).

    Changes the layer in place (the BN becomes Identity, the conv gets a bias); returns how many
    pairs were folded. Call after loading weights, only for export.
    """
    count = 0
    for layer in model.sublayers(include_self=True):
        for conv_name, bn_name in (("conv", "batch_norm"), ("_conv", "_batch_norm")):
            conv = getattr(layer, conv_name, None)
            bn = getattr(layer, bn_name, None)
            if not isinstance(conv, nn.Conv2D) or not isinstance(bn, nn.BatchNorm2D):
                continue
            gamma = bn.weight.numpy()
            beta = bn.bias.numpy()
            mean = bn._mean.numpy()
            var = bn._variance.numpy()
            factor = gamma / np.sqrt(var + bn._epsilon)
            weight = conv.weight.numpy() * factor.reshape(-1, 1, 1, 1)
            bias = beta - mean * factor
            if conv.bias is not None:
                bias = bias + conv.bias.numpy() * factor
            conv.weight.set_value(weight.astype(np.float32))
            if conv.bias is None:
                conv.bias = conv.create_parameter([weight.shape[0]], is_bias=True)
            conv.bias.set_value(bias.astype(np.float32))
            setattr(layer, bn_name, nn.Identity())
            count += 1
    return count
