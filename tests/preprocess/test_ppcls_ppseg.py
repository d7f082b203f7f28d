from __future__ import annotations

import numpy as np
import pytest

from generator.preprocess import PreprocessConfigError, build_preprocess, supported_ops

CLS_OPS = [{"ResizeImage": {"resize_short": 256}}, {"CropImage": {"size": 224}},
           {"NormalizeImage": {"channel_num": 3, "mean": [0.485, 0.456, 0.406],
                               "std": [0.229, 0.224, 0.225], "order": "",
                               "scale": "1.0/255.0"}},
           {"ToCHWImage": None}]


def test_ppcls_resize_short_crop_normalize():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (300, 400, 3), dtype=np.uint8)
    chw, info = build_preprocess(CLS_OPS, "ppcls")(img)
    assert chw.shape == (3, 224, 224) and chw.dtype == np.float32
    assert info["scale_factor"].tolist() == pytest.approx([256 / 300, 341 / 400], rel=1e-6)
    # float32 arithmetic: (x * f32(1/255) - f32(mean)) / f32(std)
    chw1, _ = build_preprocess([{"NormalizeImage": CLS_OPS[2]["NormalizeImage"]},
                                {"ToCHWImage": None}], "ppcls")(np.full((1, 1, 3), 255, np.uint8))
    f32 = np.float32
    expected = [(f32(255) * f32(1 / 255) - f32(m)) / f32(s)
                for m, s in zip([0.485, 0.456, 0.406], [0.229, 0.224, 0.225], strict=True)]
    assert chw1[:, 0, 0].tolist() == [float(v) for v in expected]


def test_ppcls_resize_shape_rules_and_crop_error():
    img = np.zeros((300, 400, 3), np.uint8)
    ops = [{"ResizeImage": {"resize_short": 256}}, {"ToCHWImage": None}]
    assert build_preprocess(ops, "ppcls")(img)[0].shape == (3, 256, 341)
    ops = [{"ResizeImage": {"size": [64, 32]}}, {"ToCHWImage": None}]  # (w, h)
    assert build_preprocess(ops, "ppcls")(img)[0].shape == (3, 32, 64)
    ops = [{"ResizeImage": {"size": 64, "backend": "pil"}}, {"ToCHWImage": None}]
    assert build_preprocess(ops, "ppcls")(img)[0].shape == (3, 64, 64)
    ops = [{"CropImage": {"size": 500}}, {"ToCHWImage": None}]
    with pytest.raises(ValueError, match="CropImage"):
        build_preprocess(ops, "ppcls")(img)


def test_ppcls_chw_order_and_missing_tochw():
    img = np.full((2, 2, 3), 255, np.uint8)
    ops = [{"ToCHWImage": None},
           {"NormalizeImage": {"mean": [0, 0, 0], "std": [1, 1, 1], "order": "chw", "scale": 1}}]
    assert build_preprocess(ops, "ppcls")(img)[0].shape == (3, 2, 2)
    with pytest.raises(PreprocessConfigError, match="no ToCHWImage"):
        build_preprocess([{"ResizeImage": {"resize_short": 8}}], "ppcls")
    with pytest.raises(PreprocessConfigError, match="supported ops for ppcls"):
        build_preprocess([{"RandCropImage": {"size": 8}}], "ppcls")


def test_ppseg_resize_is_w_h_and_float():
    img = np.zeros((300, 400, 3), np.uint8)
    chw, info = build_preprocess([{"type": "Resize", "target_size": [512, 256]}], "ppseg")(img)
    assert chw.shape == (3, 256, 512)  # target_size is (w, h)
    assert info["im_shape"].tolist() == [256, 512]
    assert info["scale_factor"].tolist() == pytest.approx([256 / 300, 512 / 400])
    # PaddleSeg resizes a float32 image: no rounding to uint8
    ramp = np.zeros((1, 2, 3), np.uint8)
    ramp[0, 1] = 1
    out, _ = build_preprocess([{"type": "Resize", "target_size": [4, 1]}], "ppseg")(ramp)
    assert out[0, 0].tolist() == [0.0, 0.25, 0.75, 1.0]


def test_ppseg_keep_ratio_and_divisor():
    img = np.zeros((300, 400, 3), np.uint8)
    ops = [{"type": "Resize", "target_size": [512, 512], "keep_ratio": True}]
    assert build_preprocess(ops, "ppseg")(img)[0].shape == (3, 384, 512)  # scale 1.28
    ops = [{"type": "Resize", "target_size": [500, 250], "size_divisor": 32}]
    assert build_preprocess(ops, "ppseg")(img)[0].shape == (3, 256, 512)


def test_ppseg_resize_by_short_long_is_stateless():
    pre = build_preprocess([{"type": "ResizeByShort", "short_size": 200, "max_size": 250}],
                           "ppseg")
    # 200/300*400 = 266.7 > 250 -> short = int(250/400*300) = 187 -> 187 x 249
    assert pre(np.zeros((300, 400, 3), np.uint8))[0].shape == (3, 187, 249)
    assert pre(np.zeros((100, 120, 3), np.uint8))[0].shape == (3, 200, 240)
    pre = build_preprocess([{"type": "ResizeByLong", "long_size": 200}], "ppseg")
    assert pre(np.zeros((300, 400, 3), np.uint8))[0].shape == (3, 150, 200)


def test_ppseg_normalize_and_padding():
    img = np.zeros((5, 6, 3), np.uint8)
    img[0, 0] = 255
    ops = [{"type": "Normalize", "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5]},
           {"type": "Padding", "target_size": [8, 6], "im_padding_value": 127.5}]
    chw, info = build_preprocess(ops, "ppseg")(img)
    assert chw.shape == (3, 6, 8)
    assert chw[:, 0, 0].tolist() == [1.0] * 3 and chw[:, 1, 1].tolist() == [-1.0] * 3
    assert chw[0, 5, 0] == 127.5 and chw[0, 0, 7] == 127.5
    assert info["im_shape"].tolist() == [5, 6]
    with pytest.raises(ValueError, match="Padding"):
        build_preprocess([{"type": "Padding", "target_size": [4, 4]}], "ppseg")(img)
    assert supported_ops("ppseg") == ["LimitLong", "Normalize", "Padding", "Resize",
                                      "ResizeByLong", "ResizeByShort"]
