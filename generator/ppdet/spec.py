"""What determines a YOLOv3 network, without importing paddle (configs are read into this)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class YOLOBoxParams:
    """YOLOBox parameters (PaddleDetection defaults)."""

    conf_thresh: float = 0.005
    downsample_ratio: int = 32
    clip_bbox: bool = True
    scale_x_y: float = 1.0


@dataclass(frozen=True)
class NMSParams:
    """MultiClassNMS parameters (PaddleDetection defaults); background_label -1 = none."""

    score_threshold: float = 0.05
    nms_top_k: int = -1
    keep_top_k: int = 100
    nms_threshold: float = 0.5
    normalized: bool = True
    nms_eta: float = 1.0
    background_label: int = -1


BACKBONES = ("DarkNet", "MobileNet")

DEFAULT_ANCHORS = [
    [10, 13], [16, 30], [33, 23], [30, 61], [62, 45], [59, 119], [116, 90], [156, 198], [373, 326],
]  # fmt: skip
DEFAULT_ANCHOR_MASKS = [[6, 7, 8], [3, 4, 5], [0, 1, 2]]


@dataclass(frozen=True)
class Normalization:
    """In-graph `image * scale + bias` of `TestReader.fuse_normalize` (from NormalizeImage)."""

    mean: tuple[float, ...] = (0.485, 0.456, 0.406)
    std: tuple[float, ...] = (0.229, 0.224, 0.225)
    is_scale: bool = True

    def scale_bias(self) -> tuple[np.ndarray, np.ndarray]:
        """Per-channel `(scale, bias)` arrays shaped [1, 3, 1, 1]."""
        mean = np.asarray(self.mean, dtype=np.float32)
        std = np.asarray(self.std, dtype=np.float32)
        factor = np.float32(1.0 / 255.0) if self.is_scale else np.float32(1.0)
        return (factor / std).reshape(1, -1, 1, 1), (-mean / std).reshape(1, -1, 1, 1)


@dataclass(frozen=True)
class YOLOv3Spec:
    """Everything that determines the network (read from a PaddleDetection or native config)."""

    backbone: str
    backbone_args: dict[str, Any] = field(default_factory=dict)
    num_classes: int = 80
    anchors: list[list[int]] = field(default_factory=lambda: [list(a) for a in DEFAULT_ANCHORS])
    anchor_masks: list[list[int]] = field(
        default_factory=lambda: [list(m) for m in DEFAULT_ANCHOR_MASKS]
    )
    decode: YOLOBoxParams = field(default_factory=YOLOBoxParams)
    nms: NMSParams = field(default_factory=NMSParams)
    normalization: Normalization | None = None
