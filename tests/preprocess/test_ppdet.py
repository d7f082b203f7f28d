from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from generator.preprocess import PreprocessConfigError, build_preprocess, decode_rgb
from generator.runtime.reader import DetectionResize

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
DATA = Path(__file__).resolve().parents[1] / "data"
MEAN, STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]


def yolo_ops(size=608, interp=2):
    return [{"type": "Resize", "target_size": [size, size], "keep_ratio": False, "interp": interp},
            {"type": "NormalizeImage", "mean": MEAN, "std": STD, "is_scale": True},
            {"type": "Permute"}]


def test_resize_exact_target_im_info():
    pre = build_preprocess(yolo_ops(), "ppdet")
    chw, info = pre(np.zeros((300, 400, 3), np.uint8))
    assert chw.shape == (3, 608, 608) and chw.dtype == np.float32
    assert info["im_shape"].dtype == np.float32 and info["im_shape"].tolist() == [608, 608]
    assert info["scale_factor"].dtype == np.float32
    assert info["scale_factor"].tolist() == pytest.approx([608 / 300, 608 / 400], rel=1e-7)


def test_resize_keep_ratio_and_pad_stride():
    ops = [{"type": "Resize", "target_size": [800, 1333], "keep_ratio": True, "interp": 2},
           {"type": "Permute"}, {"type": "PadStride", "stride": 32}]
    chw, info = build_preprocess(ops, "ppdet")(np.zeros((300, 400, 3), np.uint8))
    assert info["im_shape"].tolist() == [800, 1067]  # 400 * 800/300 = 1066.7
    assert info["scale_factor"].tolist() == pytest.approx([800 / 300] * 2, rel=1e-6)
    assert chw.shape == (3, 800, 1088)  # padded to multiples of 32, im_shape unchanged
    _, info = build_preprocess(ops, "ppdet")(np.zeros((100, 1000, 3), np.uint8))
    assert info["im_shape"].tolist() == [133, 1333]  # capped by the long side


def test_interp_code_is_honoured():
    img = np.zeros((1, 2, 3), np.uint8)
    img[0, 1] = 100

    def row(interp):
        ops = [{"type": "Resize", "target_size": [1, 4], "keep_ratio": False, "interp": interp},
               {"type": "Permute"}]
        return build_preprocess(ops, "ppdet")(img)[0][0, 0].tolist()

    assert row(0) == [0, 0, 100, 100]
    assert row(1) == [0, 25, 75, 100]


def test_normalize_image_variants():
    img = np.full((1, 1, 3), 255, np.uint8)
    chw, _ = build_preprocess(yolo_ops(1)[1:], "ppdet")(img)
    expected = [(1 - m) / s for m, s in zip(MEAN, STD, strict=True)]
    assert chw[:, 0, 0].tolist() == pytest.approx(expected, rel=1e-6)
    ops = [{"type": "NormalizeImage", "mean": MEAN, "std": STD, "is_scale": True,
            "norm_type": "none"}, {"type": "Permute"}]
    assert build_preprocess(ops, "ppdet")(img)[0][:, 0, 0].tolist() == [1.0, 1.0, 1.0]
    ops = [{"type": "NormalizeImage", "mean": [0, 0, 0], "std": [1, 1, 1], "is_scale": False},
           {"type": "Permute"}]
    assert build_preprocess(ops, "ppdet")(img)[0][:, 0, 0].tolist() == [255.0] * 3


def test_fused_normalize_list_gives_float32_raw_pixels():
    ops = [{"type": "Resize", "target_size": [4, 4], "keep_ratio": False, "interp": 0},
           {"type": "Permute"}]
    chw, _ = build_preprocess(ops, "ppdet")(np.full((2, 2, 3), 7, np.uint8))
    assert chw.dtype == np.float32 and chw.shape == (3, 4, 4) and np.all(chw == 7)


def test_letterbox_resize():
    ops = [{"type": "LetterBoxResize", "target_size": [608, 1088]}, {"type": "Permute"}]
    chw, info = build_preprocess(ops, "ppdet")(np.full((300, 400, 3), 200, np.uint8))
    # r = min(608/300, 1088/400) = 2.0267 -> 608 x 811, pad left round(138.4)=138
    assert chw.shape == (3, 608, 1088)
    assert info["im_shape"].tolist() == [608, 811]
    assert info["scale_factor"].tolist() == pytest.approx([608 / 300] * 2, rel=1e-6)
    # the border value 127.5 is written into a uint8 image, as in PaddleDetection: 128
    assert chw[0, 300, 137] == 128 and chw[0, 300, 138] == 200
    assert chw[0, 300, 138 + 810] == 200 and chw[0, 300, 138 + 811] == 128


def test_pad_fills_with_fill_value():
    ops = [{"type": "Pad", "size": [4, 5], "fill_value": [114.0, 114.0, 114.0]},
           {"type": "Permute"}]
    chw, info = build_preprocess(ops, "ppdet")(np.full((2, 3, 3), 9, np.uint8))
    assert chw.shape == (3, 4, 5) and chw.dtype == np.float32
    assert chw[:, :2, :3].min() == 9 and chw[:, 2:, :].min() == 114 and chw[:, :, 3:].min() == 114
    assert info["im_shape"].tolist() == [2, 3]


def test_reader_and_toolkit_share_resize_semantics():
    rgb = decode_rgb((DATA / "shapes_320x240.png").read_bytes())
    ops = [{"type": "Resize", "target_size": [200, 300], "keep_ratio": True, "interp": 1},
           {"type": "Permute"}]
    chw, info = build_preprocess(ops, "ppdet")(rgb)
    im, rinfo = DetectionResize([200, 300], keep_ratio=True)(rgb, {})
    np.testing.assert_array_equal(chw, im.transpose(2, 0, 1).astype(np.float32))
    np.testing.assert_array_equal(info["scale_factor"], rinfo["scale_factor"])


def test_unknown_op_lists_supported_ops():
    with pytest.raises(PreprocessConfigError, match="supported ops for ppdet: LetterBoxResize"):
        build_preprocess([{"type": "WarpAffine"}], "ppdet")
    with pytest.raises(PreprocessConfigError, match="invalid parameters"):
        build_preprocess([{"type": "Resize", "target_size": 8, "bogus": 1}], "ppdet")
    with pytest.raises(PreprocessConfigError, match="no Permute"):
        build_preprocess([{"type": "Resize", "target_size": 8}], "ppdet")
    with pytest.raises(PreprocessConfigError, match="unknown toolkit"):
        build_preprocess([], "mmdet")


EXPORTED = sorted((SHARED / "data" / "ppdet" / "exported").glob("*/*.yml")) \
    if SHARED.is_dir() else []


@pytest.mark.skipif(not EXPORTED, reason="../shared/data/ppdet/exported is not available")
@pytest.mark.parametrize("cfg_path", EXPORTED, ids=lambda p: p.parent.name)
def test_exported_infer_cfgs_build_and_run(cfg_path):
    cfg = yaml.safe_load(cfg_path.read_text())
    pre = build_preprocess(cfg["Preprocess"], "ppdet")
    rgb = cv2.cvtColor(cv2.imread(str(DATA / "shapes_320x240.jpg")), cv2.COLOR_BGR2RGB)
    chw, info = pre(rgb)
    resize = next(op for op in cfg["Preprocess"] if op["type"] == "Resize")
    th, tw = resize["target_size"]
    if resize["keep_ratio"]:
        s = min(th, tw) / 240  # 320 * s <= max target for these configs
        assert info["im_shape"].tolist() == [round(240 * s), round(320 * s)]
    else:
        assert chw.shape == (3, th, tw)
        assert info["scale_factor"].tolist() == pytest.approx([th / 240, tw / 320], rel=1e-6)
    assert chw.dtype == np.float32
