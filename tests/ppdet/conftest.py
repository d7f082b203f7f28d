"""Shared fixtures of the PaddleDetection tests: paths and models built once per session."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
from ppdet_paths import FIXTURES, SHARED_PPDET


@pytest.fixture(scope="session")
def shared_ppdet() -> Path:
    """`../shared/data/ppdet` or skip."""
    if not SHARED_PPDET.is_dir():
        pytest.skip(f"shared reference data not present at {SHARED_PPDET}")
    return SHARED_PPDET


@pytest.fixture(scope="session")
def darknet_model():
    """The full-size (80 classes) DarkNet53 YOLOv3 at 64x64, random weights — built once."""
    from generator.ppdet.builder import build_ppdet_model
    from generator.ppdet.config import load_ppdet_config

    cfg_path = FIXTURES / "configs" / "tinyyolo" / "tiny_yolov3_darknet.yml"
    cfg = load_ppdet_config(
        cfg_path,
        [
            "num_classes=80",
            "YOLOv3Head.anchors=[[10,13],[16,30],[33,23],[30,61],[62,45],[59,119],[116,90],[156,198],[373,326]]",
            "YOLOv3Head.anchor_masks=[[6,7,8],[3,4,5],[0,1,2]]",
        ],
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return build_ppdet_model(cfg, cfg_path)
