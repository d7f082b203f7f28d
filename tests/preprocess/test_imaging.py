from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from generator import imaging

PNG = Path(__file__).resolve().parents[1] / "data" / "shapes_320x240.png"


def test_size_rules():
    assert imaging.short_side_size(300, 400, 256) == (256, 341)
    assert imaging.short_side_size(300, 400, 256, max_size=300) == (225, 300)
    assert imaging.long_side_size(300, 400, 200) == (150, 200)
    assert imaging.scaled_size(300, 400, 608 / 300, 608 / 400) == (608, 608)
    assert imaging.scaled_size(1, 5, 2.5, 2.5) == (2, 12)  # 2.5 -> 2 and 12.5 -> 12: half to even
    assert imaging.keep_ratio_scale(300, 400, [800, 1333]) == pytest.approx(800 / 300)
    assert imaging.seg_keep_ratio_size(300, 400, (512, 512)) == (384, 512)
    assert imaging.ocr_factor_size(100, 75, 32, 960) == (64, 32)


def test_interp_codes():
    assert imaging.interp_code(None) == 1
    assert imaging.interp_code("bicubic") == imaging.interp_code("CUBIC") == 2
    assert imaging.interp_code(3) == 3
    with pytest.raises(ValueError, match="unknown interpolation"):
        imaging.interp_code("fancy")
    with pytest.raises(ValueError, match="unknown interpolation code"):
        imaging.interp_code(9)


def test_decode_backends_agree_on_png():
    raw = PNG.read_bytes()
    rgb = imaging.decode_bytes(raw, to_rgb=True)
    np.testing.assert_array_equal(rgb, imaging.decode_bytes(raw, to_rgb=True, backend="pil"))
    np.testing.assert_array_equal(rgb[:, :, ::-1], imaging.decode_file(PNG))
    with pytest.raises(imaging.ImageDecodeError, match="0 bytes"):
        imaging.decode_bytes(b"")
    with pytest.raises(imaging.ImageDecodeError, match="cannot read image file"):
        imaging.decode_file(PNG.with_name("missing.png"))


def test_stack_padded_and_normalize_dtypes():
    a, b = np.ones((3, 2, 4), np.float32), np.ones((3, 3, 1), np.float32)
    out = imaging.stack_padded([a, b])
    assert out.shape == (2, 3, 3, 4) and out[0, :, 2].max() == 0 and out[1, :, :, 1:].max() == 0
    img = np.full((1, 1, 3), 128, np.uint8)
    # float64 arithmetic stored as float32, vs all-float32 arithmetic
    f64 = imaging.subtract_divide(imaging.divide(img, 255.0), [0.485] * 3, [0.229] * 3)
    f32 = imaging.scale_subtract_divide_f32(img, 1 / 255, [0.485] * 3, [0.229] * 3)
    assert f64.dtype == f32.dtype == np.float32
    assert f64[0, 0, 0] == pytest.approx(f32[0, 0, 0], rel=1e-6)
