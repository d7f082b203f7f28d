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


@pytest.mark.parametrize("channel_first", [False, True])
def test_per_uint8_value_gives_the_same_bits_as_the_arithmetic(channel_first):
    rng = np.random.default_rng(3)
    shape = (3, 37, 53) if channel_first else (37, 53, 3)
    img = rng.integers(0, 256, shape, dtype=np.uint8)
    img.flat[:256] = np.arange(256)  # every value met
    mean, std = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
    fns = [
        lambda x: imaging.subtract_divide(imaging.multiply(x, 1 / 255.0), mean, std,
                                          channel_first=channel_first),
        lambda x: imaging.scale_subtract_divide_f32(x, 1 / 255.0, mean, std,
                                                    channel_first=channel_first),
        lambda x: imaging.subtract_divide(imaging.divide(x, 255.0), [0.5], [0.5]),
    ]
    for fn in fns:
        want = fn(img)
        got = imaging.per_uint8_value(img, fn, 3, channel_first=channel_first)
        assert got.dtype == want.dtype and got.shape == want.shape
        assert np.array_equal(got.view(np.uint32), want.view(np.uint32))
    # anything but a 3-channel uint8 image: the arithmetic itself
    as_float = img.astype(np.float32)
    np.testing.assert_array_equal(imaging.per_uint8_value(as_float, fns[0], 3,
                                                          channel_first=channel_first),
                                  fns[0](as_float))
    with pytest.raises(ValueError, match="channels"):  # the arithmetic's own error
        imaging.per_uint8_value(img, lambda x: imaging.subtract_divide(
            x, mean + [0.5], std + [0.5], channel_first=channel_first), 4,
            channel_first=channel_first)
