"""PaddleDetection config loading: _BASE_ chains, tags, anchors, -o overrides, export block."""

from __future__ import annotations

from pathlib import Path

import pytest
from ppdet_paths import FIXTURES, SHARED_CONFIGS

from generator.ppdet.config import (
    export_options,
    input_shapes,
    is_ppdet_config,
    load_ppdet_config,
    read_yaml,
)
from generator.ppdet.errors import PpdetConfigError
from generator.ppdet.overrides import OverrideError, merge_overrides, parse_overrides

TINY = FIXTURES / "configs" / "tinyyolo" / "tiny_yolov3_mbv1.yml"


def test_fixture_chain_merges_bases_left_to_right_and_own_keys_last():
    cfg = load_ppdet_config(TINY)
    assert cfg["filename"] == "tiny_yolov3_mbv1"
    assert "_BASE_" not in cfg
    assert cfg["log_iter"] == 1  # own key beats runtime.yml's 5
    assert cfg["metric"] == "VOC" and cfg["num_classes"] == 3
    # own TestReader merged into the base's: image_shape replaced, transforms kept
    assert cfg["TestReader"]["inputs_def"]["image_shape"] == [3, 64, 64]
    assert [next(iter(t)) for t in cfg["TestReader"]["sample_transforms"]] == [
        "Decode", "Resize", "NormalizeImage", "Permute",
    ]  # fmt: skip
    # YAML anchors/aliases within one file
    assert cfg["YOLOv3Loss"]["anchors"] == cfg["YOLOv3Head"]["anchors"]
    assert cfg["TestReader"]["sample_transforms"][1]["Resize"]["target_size"] == [96, 96]
    # !Tags tolerated on mappings, flow mappings and sequences
    scheds = cfg["LearningRate"]["schedulers"]
    assert scheds[0] == {"_type_": "PiecewiseDecay", "gamma": 0.1, "milestones": [8, 11]}
    assert scheds[1] == {"_type_": "LinearWarmup", "start_factor": 0.1, "steps": 10}
    assert scheds[2] == {"_type_": "Constant", "_args_": [0.5]}


def test_nested_base_chain_lists_replaced_dicts_merged():
    cfg = load_ppdet_config(FIXTURES / "configs" / "tinyyolo" / "tiny_yolov3_darknet.yml")
    assert cfg["filename"] == "tiny_yolov3_darknet"
    assert cfg["YOLOv3"] == {
        "backbone": "DarkNet", "neck": "YOLOv3FPN", "yolo_head": "YOLOv3Head",
        "post_process": "BBoxPostProcess",
    }  # fmt: skip
    assert cfg["MobileNet"]["scale"] == 0.25  # untouched sections stay


def test_overrides_are_typed_nested_and_applied_after_base():
    cfg = load_ppdet_config(
        TINY,
        [
            "TestReader.inputs_def.image_shape=[3,416,416]",
            "TestReader.fuse_normalize=true",
            "weights=",
            "BBoxPostProcess.nms.nms_threshold=0.3",
            "use_gpu=false",
        ],
    )
    assert cfg["TestReader"]["inputs_def"]["image_shape"] == [3, 416, 416]
    assert cfg["TestReader"]["fuse_normalize"] is True
    assert cfg["TestReader"]["batch_size"] == 1  # rest of TestReader kept
    assert cfg["weights"] is None
    assert cfg["BBoxPostProcess"]["nms"] == {
        "name": "MultiClassNMS", "keep_top_k": 20, "score_threshold": 0.02,
        "nms_threshold": 0.3, "nms_top_k": 200,
    }  # fmt: skip
    assert input_shapes(cfg).image == [None, 3, 416, 416]


def test_override_parser_follows_paddledetection_quirks():
    assert parse_overrides(["a=1", "b.c=x", "d=[1, 2]", "e=", "f=a=b"]) == {
        "a": 1, "b": {"c": "x"}, "d": [1, 2], "e": None, "f": "a=b",
    }  # fmt: skip
    # a later 3-level key re-creates the intermediate dict (PaddleDetection's ArgsParser)
    assert parse_overrides(["A.b.c=1", "A.b.d=2"]) == {"A": {"b": {"d": 2}}}
    with pytest.raises(OverrideError, match="key=value"):
        parse_overrides(["novalue"])
    cfg = {"A": {"b": {"c": 1, "d": 2}, "e": 3}}
    merge_overrides(cfg, {"A.b.c": 5, "z": {"y": 1}})
    assert cfg == {"A": {"b": {"c": 5, "d": 2}, "e": 3}, "z": {"y": 1}}


def test_export_block_and_input_shapes_rules():
    assert export_options({}).post_process is True
    assert export_options({"export": {"benchmark": True}}) == export_options(
        {"export": {"post_process": False, "nms": False, "benchmark": True}}
    )
    cfg = {"TestReader": {"inputs_def": {"image_shape": [1, 3, 320, 320]}}}
    # post_process on (default): the image batch dim becomes free, im_shape keeps 1
    shapes = input_shapes(cfg)
    assert shapes.image == [None, 3, 320, 320] and shapes.im_shape == [1, 2]
    cfg["export"] = {"post_process": True, "benchmark": True}
    assert input_shapes(cfg).image == [1, 3, 320, 320]
    assert input_shapes({"TestReader": {}}).image == [None, 3, -1, -1]
    assert input_shapes({"TestReader": {}}).dynamic


def test_errors_name_the_file(tmp_path: Path):
    with pytest.raises(PpdetConfigError, match="cycle"):
        load_ppdet_config(FIXTURES / "configs" / "other" / "cycle_a.yml")
    bad = tmp_path / "bad.yml"
    bad.write_text("_BASE_: ['missing.yml']\n")
    with pytest.raises(PpdetConfigError, match=r"missing\.yml not found \(listed in `_BASE_` of"):
        load_ppdet_config(bad)
    bad.write_text("- a\n- b\n")
    with pytest.raises(PpdetConfigError, match="mapping at top level"):
        read_yaml(bad)


def test_is_ppdet_config():
    assert is_ppdet_config(read_yaml(TINY))
    assert is_ppdet_config({"architecture": "YOLOv3"})
    assert not is_ppdet_config({"version": 1, "model": {"arch": "YOLOv3"}})
    assert not is_ppdet_config({"foo": 1})


@pytest.mark.parametrize("name", ["yolov3_darknet53_270e_coco", "yolov3_mobilenet_v1_270e_coco"])
def test_shared_configs_load_unmodified(shared_ppdet, name):
    cfg = load_ppdet_config(SHARED_CONFIGS / f"{name}.yml")
    assert cfg["filename"] == name
    assert cfg["architecture"] == "YOLOv3" and cfg["num_classes"] == 80
    assert cfg["snapshot_epoch"] == 5  # own key beats runtime.yml
    assert cfg["use_gpu"] is True  # read, ignored on CPU
    assert cfg["export"]["fuse_conv_bn"] is False
    assert cfg["BBoxPostProcess"]["nms"]["cpu"] is True
    assert cfg["LearningRate"]["schedulers"][1]["_type_"] == "LinearWarmup"
    assert cfg["LearningRate"]["schedulers"][1]["start_factor"] == 0.0
    assert cfg["YOLOv3"]["backbone"] == ("DarkNet" if "darknet" in name else "MobileNet")
    assert input_shapes(cfg).image == [None, 3, 608, 608]
