"""Text recognition: CTC decoding on constructed probabilities (blank 0, repeats merged, the
yml's dict + space, mean score) and the line resize (height 48 keeping the ratio, the yml's
minimum width, PaddleX's 3200 px cap, zero padding); text detection's resize rule."""

from __future__ import annotations

import numpy as np
import pytest

from generator.ocr.text_det import TextDetector
from generator.ocr.text_rec import CTCDecoder, TextRecognizer, resize_norm_line
from generator.toolkit.inference_yml import ToolkitExport

DICT = ["a", "b", "l", "o", "h", "e", "中"]


def _probs(steps: list[int], classes: int, p: float = 0.9) -> np.ndarray:
    """[T, C] probabilities whose argmax is `steps`, the winner at probability `p`."""
    out = np.full((len(steps), classes), (1 - p) / (classes - 1), np.float32)
    out[np.arange(len(steps)), steps] = p
    return out


def test_ctc_merges_repeats_drops_blanks_and_uses_the_dict_and_space():
    dec = CTCDecoder(DICT)
    ids = {c: i + 1 for i, c in enumerate(DICT)} | {" ": len(DICT) + 1}
    steps = [0, ids["h"], ids["h"], ids["e"], 0, ids["l"], ids["l"], 0, ids["l"], ids["o"],
             ids[" "], ids["中"], 0, 0]
    probs = _probs(steps, len(DICT) + 2)
    probs[2, ids["h"]] = 0.5  # a repeated step is merged: its probability is not counted
    empty = _probs([0, 0, 0, 0], len(DICT) + 2)
    (text, score), (none, zero) = dec(np.stack([probs, np.pad(empty, ((0, 10), (0, 0)))]))
    assert text == "hello 中"
    assert score == pytest.approx(0.9, abs=1e-6)  # mean over the 7 kept steps
    assert (none, zero) == ("", 0.0)


def test_ctc_score_is_the_mean_of_kept_steps_and_dict_mismatch_is_clear():
    dec = CTCDecoder(["x", "y"])
    probs = _probs([1, 0, 2, 2, 1], 4)
    probs[0, 1], probs[2, 2] = 0.5, 0.8
    (text, score), = dec(probs[None])
    assert text == "xyx" and score == pytest.approx((0.5 + 0.8 + 0.9) / 3, abs=1e-6)
    with pytest.raises(ValueError, match="character_dict does not belong"):
        dec(np.zeros((1, 3, 9), np.float32))
    with pytest.raises(ValueError, match=r"\[N, T, C\]"):
        dec(np.zeros((3, 4), np.float32))


def _rec_export(shape=(3, 48, 320)):
    return ToolkitExport("text_recognition", "PP-OCRv5_mobile_rec", None, [
        {"DecodeImage": {"img_mode": "BGR", "channel_first": False}},
        {"RecResizeImg": {"image_shape": list(shape)}}],
        {"name": "CTCLabelDecode", "character_dict": DICT})


def test_line_resize_keeps_the_ratio_with_width_limits():
    gray = np.full((10, 100, 3), 255, np.uint8)  # ratio 10: 480 px wide at height 48
    out = resize_norm_line(gray, (3, 48, 320))
    assert out.shape == (3, 48, 480) and np.allclose(out, 1.0)
    short = np.zeros((40, 40, 3), np.uint8)  # ratio 1: 48 px of line, padded to 320 with 0
    out = resize_norm_line(short, (3, 48, 320))
    assert out.shape == (3, 48, 320)
    assert np.allclose(out[:, :, :48], -1.0) and np.all(out[:, :, 48:] == 0)
    long = np.full((10, 1000, 3), 255, np.uint8)  # ratio 100: squeezed to PaddleX's 3200
    assert resize_norm_line(long, (3, 48, 320)).shape == (3, 48, 3200)
    odd = np.full((30, 19, 3), 255, np.uint8)  # 48 * 19 / 30 = 30.4: 31 px, padded to 64
    out = resize_norm_line(odd, (3, 48, 64))
    assert out.shape == (3, 48, 64) and np.allclose(out[:, :, :31], 1.0)
    assert np.all(out[:, :, 31:] == 0)
    wide = np.full((30, 47, 3), 255, np.uint8)  # int(48 * 47 / 30) = 75: the line fills it
    out = resize_norm_line(wide, (3, 48, 64))
    assert out.shape == (3, 48, 75) and np.allclose(out, 1.0)


def test_batch_lines_are_padded_to_the_widest():
    rec = TextRecognizer(_rec_export())
    lines = [np.full((20, 400, 3), 255, np.uint8), np.full((32, 32, 3), 255, np.uint8)]
    feed, meta = rec.preprocess_batch(lines)
    assert feed["x"].shape == (2, 3, 48, 960) and meta.width == 960
    assert meta.wh_ratios == (20.0, 1.0)
    assert np.all(feed["x"][1, :, :, 48:] == 0) and np.allclose(feed["x"][1, :, :, :48], 1.0)
    with pytest.raises(ValueError, match="line image #0"):
        rec.preprocess_batch([np.zeros((0, 5, 3), np.uint8)])


def _det(model_name, resize=None):
    return TextDetector(ToolkitExport("text_detection", model_name, None, [
        {"DecodeImage": {"img_mode": "BGR", "channel_first": False}},
        {"DetResizeForTest": resize or {}}, {"NormalizeImage": {"scale": "1./255."}},
        {"ToCHWImage": {}}], {"name": "DBPostProcess"}))


@pytest.mark.parametrize("model, hw, want", [
    ("PP-OCRv5_mobile_det", (1080, 1920), (544, 960)),  # longer side to 960, x32
    ("PP-OCRv5_server_det", (100, 50), (96, 64)),  # smaller: kept, rounded to x32
    ("PP-OCRv4_mobile_det", (20, 20), (32, 32)),  # tiny: padded to 32 first
    ("my_DB_det", (100, 200), (736, 1472)),  # not PaddleX's list: shorter side to 736
    ("my_DB_det", (900, 6000), (608, 4000)),  # ... capped at max_side_limit 4000
])
def test_det_resize_rule_per_model(model, hw, want):
    feed, meta = _det(model).preprocess(np.zeros((*hw, 3), np.uint8))
    assert feed["x"].shape[2:] == want
    assert (meta.src_h, meta.src_w) == hw


def test_det_normalize_is_the_yml_s_on_bgr():
    det = _det("PP-OCRv5_mobile_det")
    image = np.zeros((32, 32, 3), np.uint8)
    image[..., 0] = 255  # blue in BGR
    x = det.preprocess(image)[0]["x"][0, :, 0, 0]
    mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
    np.testing.assert_allclose(x, (np.array([1.0, 0, 0]) - mean) / std, rtol=1e-6)
