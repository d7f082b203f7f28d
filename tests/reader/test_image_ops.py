from __future__ import annotations

import base64

import numpy as np
import pytest

from generator.runtime import reader as R


def ramp(height: int, width: int) -> np.ndarray:
    return np.arange(height * width * 3, dtype=np.uint8).reshape(height, width, 3)


def test_decoders_give_bgr(png_path, bgr_image):
    raw = png_path.read_bytes()
    for img in (R.File2Image()(str(png_path)), R.String2Image()(raw),
                R.Base64ToImage()(base64.b64encode(raw).decode())):
        assert img.shape == (240, 320, 3) and img.dtype == np.uint8
        np.testing.assert_array_equal(img, bgr_image)
    # inside the red rectangle drawn at x 30..130, y 40..150: BGR (0, 0, 220)
    assert bgr_image[95, 80].tolist() == [0, 0, 220]


def test_base64_garbage_is_a_clear_error():
    with pytest.raises(ValueError, match="cannot decode"):
        R.Base64ToImage()(base64.b64encode(b"not an image").decode())


def test_url2image_refuses_by_default(png_path, monkeypatch):
    monkeypatch.delenv("SCAFFOLD_ALLOW_URL_FETCH", raising=False)
    with pytest.raises(R.URLFetchNotAllowedError, match="SCAFFOLD_ALLOW_URL_FETCH=1"):
        R.URL2Image()(png_path.as_uri())


def test_url2image_when_allowed(png_path, bgr_image, monkeypatch):
    monkeypatch.delenv("SCAFFOLD_ALLOW_URL_FETCH", raising=False)
    np.testing.assert_array_equal(R.URL2Image(allow_network=True)(png_path.as_uri()), bgr_image)
    monkeypatch.setenv("SCAFFOLD_ALLOW_URL_FETCH", "1")
    np.testing.assert_array_equal(R.URL2Image()(png_path.as_uri()), bgr_image)
    assert R.URL2Image(allow_network=False)._allowed() is False


def test_resize_int_is_short_side_with_max_size():
    img = np.zeros((300, 400, 3), np.uint8)
    assert R.Resize(256)(img).shape == (256, 341, 3)  # 400 * 256/300 = 341.33
    # long side would be 341 > 300 -> scale by 300/400
    assert R.Resize(256, max_size=300)(img).shape == (225, 300, 3)
    tall = np.zeros((400, 300, 3), np.uint8)
    assert R.Resize(256)(tall).shape == (341, 256, 3)


def test_resize_tuple_is_exact_w_h():
    img = np.zeros((300, 400, 3), np.uint8)
    assert R.Resize((64, 32))(img).shape == (32, 64, 3)
    assert R.Resize((640, 32), max_size=50)(img).shape == (32, 50, 3)


def test_resize_interpolation_choice():
    img = np.zeros((1, 2, 3), np.uint8)
    img[0, 1] = 100
    linear = R.Resize((4, 1))(img)[0, :, 0].tolist()
    assert linear == [0, 25, 75, 100]
    # compatibility: a falsy interpolation (0 = INTER_NEAREST) means the default (linear)
    assert R.Resize((4, 1), interpolation=0)(img)[0, :, 0].tolist() == linear
    assert R.Resize((4, 1), interpolation="NEAREST")(img)[0, :, 0].tolist() == [0, 0, 100, 100]


def test_center_crop():
    img = ramp(5, 7)
    out = R.CenterCrop(3)(img)
    np.testing.assert_array_equal(out, img[1:4, 2:5])
    with pytest.raises(ValueError, match="center-crop"):
        R.CenterCrop(6)(img)


def test_div_normalize_transpose():
    img = np.full((2, 2, 3), 255, np.uint8)
    img[0, 0] = (0, 51, 102)
    div = R.Div(255)(img)
    assert div.dtype == np.float32 and div[0, 0].tolist() == pytest.approx([0.0, 0.2, 0.4])
    norm = R.Normalize([0.5, 0.5, 0.5], [0.5, 0.25, 0.5])(div)
    assert norm.dtype == np.float32
    assert norm[0, 0].tolist() == pytest.approx([-1.0, -1.2, -0.2], abs=1e-6)
    assert norm[1, 1].tolist() == pytest.approx([1.0, 2.0, 1.0])
    chw = R.Transpose((2, 0, 1))(div)
    assert chw.shape == (3, 2, 2) and chw[1, 0, 0] == pytest.approx(0.2)
    norm_cf = R.Normalize([0.5, 0.5, 0.5], [0.5, 0.25, 0.5], channel_first=True)(chw)
    np.testing.assert_array_equal(norm_cf, norm.transpose(2, 0, 1))
    with pytest.raises(ValueError, match="channels"):
        R.Normalize([0.5] * 3, [0.5] * 3, channel_first=True)(div)  # HWC read as CHW


def test_rgb2bgr_and_bgr2rgb_are_the_same_reversal():
    img = ramp(2, 2)
    np.testing.assert_array_equal(R.RGB2BGR()(img), img[:, :, ::-1])
    np.testing.assert_array_equal(R.BGR2RGB()(img), R.RGB2BGR()(img))
    np.testing.assert_array_equal(R.BGR2RGB()(R.RGB2BGR()(img)), img)


def test_pad_stride_chw():
    img = np.ones((3, 5, 7), np.float32)
    out = R.PadStride(4)(img)
    assert out.shape == (3, 8, 8) and out.dtype == np.float32
    assert out[:, :5, :7].min() == 1 and out[:, 5:, :].max() == 0 and out[:, :, 7:].max() == 0
    assert R.PadStride(0)(img) is img


def test_resize_by_factor_rules():
    # h 100 -> (100 // 32 - 1) * 32 = 64 ; w 75 -> (75 // 32 - 1) * 32 = 32
    assert R.ResizeByFactor(32, 960)(np.zeros((100, 75, 3), np.uint8)).shape == (64, 32, 3)
    # h 50 -> 50 // 32 <= 1 -> 32 ; w 64 already a multiple
    assert R.ResizeByFactor(32, 960)(np.zeros((50, 64, 3), np.uint8)).shape == (32, 64, 3)
    # long side capped: ratio 0.5 -> 1000 x 500 -> 960 x 448
    assert R.ResizeByFactor(32, 1000)(np.zeros((2000, 1000, 3), np.uint8)).shape == (960, 448, 3)
    # quirk kept: height uses 32 whatever the factor (100 -> 64), width uses 16 (75 -> 48)
    assert R.ResizeByFactor(16, 960)(np.zeros((100, 75, 3), np.uint8)).shape == (64, 48, 3)


def test_imagenet_sequential(bgr_image):
    seq = R.Sequential([R.Resize(256), R.CenterCrop(224), R.RGB2BGR(), R.Transpose((2, 0, 1)),
                        R.Div(255), R.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225],
                                                True)])
    out = seq(bgr_image)
    assert out.shape == (3, 224, 224) and out.dtype == np.float32
    resized = R.Resize(256)(bgr_image)  # 240x320 -> 256x341
    assert resized.shape == (256, 341, 3)
    pix = resized[16 + 10, 58 + 20, ::-1].astype(np.float64) / 255  # crop starts (58, 16)
    expected = (pix - [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225]
    assert out[:, 10, 20].tolist() == pytest.approx(expected.tolist(), abs=1e-5)
    assert "Resize" in repr(seq)


def test_image_reader_matches_sequential(png_path, bgr_image):
    out = R.ImageReader().process_image(png_path.read_bytes())
    seq = R.Sequential([R.Resize(256), R.CenterCrop(224), R.BGR2RGB(), R.Transpose((2, 0, 1)),
                        R.Div(255), R.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225],
                                                True)])
    np.testing.assert_array_equal(out, seq(bgr_image))


def test_lambda():
    # the text and video readers are implemented now: tests/reader/test_text_readers.py and
    # test_video_readers.py
    assert R.Lambda(lambda x: x + 1)(1) == 2
    with pytest.raises(TypeError):
        R.Lambda(3)
