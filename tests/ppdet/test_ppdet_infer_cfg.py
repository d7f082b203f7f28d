"""infer_cfg.yml content equal to PaddleDetection's exporter output."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml
from ppdet_paths import FIXTURES, ROOT, SHARED_CONFIGS

from generator.ppdet.builder import native_infer_cfg, spec_from_native, spec_from_ppdet
from generator.ppdet.config import load_ppdet_config
from generator.ppdet.infer_cfg import build_infer_cfg, dump_infer_cfg, infer_arch
from generator.ppdet.labels import read_label_file

TINY = FIXTURES / "configs" / "tinyyolo" / "tiny_yolov3_mbv1.yml"


def test_own_fixture_infer_cfg_text():
    cfg = load_ppdet_config(TINY)
    infer = build_infer_cfg(cfg, [FIXTURES])
    expected = (FIXTURES / "expected" / "tiny_yolov3_mbv1.infer_cfg.yml").read_text()
    assert dump_infer_cfg(infer) == expected


def test_fuse_normalize_and_size_override_change_preprocess():
    cfg = load_ppdet_config(
        TINY, ["TestReader.inputs_def.image_shape=[3,128,160]", "TestReader.fuse_normalize=true"]
    )
    infer = build_infer_cfg(cfg, [FIXTURES])
    assert infer["Preprocess"] == [
        {"type": "Resize", "target_size": [128, 160], "keep_ratio": False, "interp": 1},
        {"type": "Permute"},
    ]
    dyn = build_infer_cfg(
        load_ppdet_config(TINY, ["TestReader.inputs_def.image_shape=[3,-1,-1]"]), [FIXTURES]
    )
    assert dyn["use_dynamic_shape"] is True
    assert dyn["Preprocess"][0]["target_size"] == [96, 96]  # config's own size kept


def test_labels_default_when_anno_missing_and_background_dropped(tmp_path: Path):
    cfg = load_ppdet_config(TINY)
    assert build_infer_cfg(cfg, [tmp_path])["label_list"][:3] == ["aeroplane", "bicycle", "bird"]
    (tmp_path / "cats.json").write_text('{"categories": [{"id": 3, "name": "x"}, {"id": 1, "name": "y"}]}')
    assert read_label_file(tmp_path / "cats.json") == ["x", "y"]
    assert infer_arch("YOLOv3") == ("YOLO", 3)
    assert infer_arch("FasterRCNN") == ("RCNN", 40)
    assert infer_arch("PPYOLOE") == ("PPYOLOE", 3)


CASES = [
    ("yolov3_darknet53_270e_coco", [], "yolov3_darknet53_270e_coco/infer_cfg.yml"),
    ("yolov3_mobilenet_v1_270e_coco", [], "yolov3_mobilenet_v1_270e_coco/infer_cfg.yml"),
    ("yolov3_mobilenet_v1_270e_coco", [], "yolov3_mobilenet_v1_270e_coco__for_fd/inference.yml"),
    (
        "yolov3_mobilenet_v1_270e_coco",
        ["TestReader.inputs_def.image_shape=[3,416,416]", "TestReader.fuse_normalize=true"],
        "yolov3_mobilenet_v1_270e_coco__image416_fusenorm/infer_cfg.yml",
    ),
]


@pytest.mark.parametrize(("name", "opts", "ref"), CASES)
def test_infer_cfg_identical_to_paddledetection(shared_ppdet, tmp_path, name, opts, ref):
    cfg = load_ppdet_config(SHARED_CONFIGS / f"{name}.yml", opts + ["use_gpu=false"])
    old = Path.cwd()
    os.chdir(tmp_path)  # no dataset/coco here: default COCO names, like the reference export
    try:
        text = dump_infer_cfg(build_infer_cfg(cfg, [tmp_path]))
    finally:
        os.chdir(old)
    assert text == (shared_ppdet / "exported" / ref).read_text()


@pytest.mark.parametrize(
    ("native", "ppdet"),
    [
        ("yolov3_darknet53.yml", "yolov3_darknet53_270e_coco"),
        ("yolov3_mobilenet_v1.yml", "yolov3_mobilenet_v1_270e_coco"),
        ("yolov3.yml", "yolov3_mobilenet_v1_270e_coco"),
    ],
)
def test_native_configs_describe_the_paddledetection_models(shared_ppdet, tmp_path, native, ppdet):
    data = yaml.safe_load((ROOT / "serving_configs" / native).read_text())
    assert data["version"] == 1 and data["task"] == "detection"
    assert data["model"]["arch"] == "YOLOv3" and data["model"]["args"]["draw_threshold"] == 0.5
    args = data["model"]["args"]
    cfg = load_ppdet_config(SHARED_CONFIGS / f"{ppdet}.yml")
    assert spec_from_native(args) == spec_from_ppdet(cfg)
    ref = (shared_ppdet / "exported" / ppdet / "infer_cfg.yml").read_text()
    assert dump_infer_cfg(native_infer_cfg(args, data)) == ref
