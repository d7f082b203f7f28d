from __future__ import annotations

import numpy as np
import pytest

from generator.runtime import reader as R

DB_PARAMS = {"thresh": 0.3, "box_thresh": 0.6, "max_candidates": 1000, "unclip_ratio": 1.5,
             "min_size": 3}


def test_db_postprocess_one_rectangle():
    pred = np.zeros((1, 1, 64, 96), np.float32)
    pred[0, 0, 20:40, 30:70] = 0.9  # rows 20..39, cols 30..69
    boxes = R.DBPostProcess(DB_PARAMS)(pred, [[0.5, 0.5]])
    assert len(boxes) == 1 and boxes[0].shape == (1, 4, 2) and boxes[0].dtype == np.int16
    box = boxes[0][0].astype(float)
    # minAreaRect 39 x 19 px, unclip distance = 741 * 1.5 / 116 = 9.6 px on each side,
    # then / 0.5: x ~ (30 - 9.6) * 2 .. (69 + 9.6) * 2, y ~ (20 - 9.6) * 2 .. (39 + 9.6) * 2
    xs, ys = box[:, 0], box[:, 1]
    assert xs.min() == pytest.approx(41, abs=4) and xs.max() == pytest.approx(157, abs=4)
    assert ys.min() == pytest.approx(21, abs=4) and ys.max() == pytest.approx(97, abs=4)
    # order: top-left, top-right, bottom-right, bottom-left
    assert box[0, 0] < box[1, 0] and box[0, 1] < box[3, 1] and box[2, 1] > box[1, 1]


def test_db_postprocess_low_scores_give_no_box():
    pred = np.zeros((2, 1, 32, 32), np.float32)
    pred[0, 0, 5:20, 5:25] = 0.5  # above thresh 0.3 but mean 0.5 < box_thresh 0.6
    boxes = R.DBPostProcess(DB_PARAMS)(pred, [[1, 1], [1, 1]])
    assert boxes == [[], []]
    with pytest.raises(KeyError, match="unclip_ratio"):
        R.DBPostProcess({"thresh": 0.3, "box_thresh": 0.6, "max_candidates": 5})


def test_filter_boxes_orders_clips_and_drops_small():
    big = np.array([[120, 60], [5, 10], [5, 60], [120, 10]], np.float32)  # unordered, x > w
    small = np.array([[0, 0], [8, 0], [8, 8], [0, 8]], np.float32)
    out = R.FilterBoxes(10, 10)([big, small], (100, 100))
    assert out.shape == (1, 4, 2) and out.dtype == np.float32
    assert out[0].tolist() == [[5, 10], [99, 10], [99, 60], [5, 60]]


def test_sorted_boxes_reading_order():
    def box(x, y):
        return np.array([[x, y], [x + 10, y], [x + 10, y + 5], [x, y + 5]], np.float32)

    boxes = [box(50, 100), box(60, 12), box(5, 15), box(0, 50)]
    out = R.SortedBoxes()(np.array(boxes))
    assert [(b[0][0], b[0][1]) for b in out] == [(5, 15), (60, 12), (0, 50), (50, 100)]


def test_get_rotate_crop_image_keeps_points():
    img = np.arange(40 * 60 * 3, dtype=np.uint8).reshape(40, 60, 3) % 251
    pts = np.array([[10, 5], [40, 5], [40, 25], [10, 25]], np.float32)
    before = pts.copy()
    crop = R.GetRotateCropImage()(img, pts)
    assert crop.shape == (20, 30, 3)
    np.testing.assert_array_equal(crop, img[5:25, 10:40])
    np.testing.assert_array_equal(pts, before)
    tall = np.array([[10, 0], [20, 0], [20, 30], [10, 30]], np.float32)
    assert R.GetRotateCropImage()(img, tall).shape == (10, 30, 3)  # rotated (h/w >= 1.5)


@pytest.fixture
def dict_file(tmp_path):
    path = tmp_path / "keys.txt"
    path.write_text("a\nb\nc\n", encoding="utf-8")
    return path


def test_ocr_reader_ctc_decode(dict_file):
    reader = R.OCRReader(char_dict_path=str(dict_file))
    assert reader.label_ops.character == ["blank", "a", "b", "c", " "]
    steps = [1, 1, 0, 2, 4, 3]  # a a _ b ' ' c -> "ab c"
    probs = np.full((1, 6, 5), 0.01, np.float32)
    peaks = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4]
    for t, (k, p) in enumerate(zip(steps, peaks, strict=True)):
        probs[0, t, k] = p
    res = reader.postprocess_ocrv2({"save_infer_model/scale_0.tmp_1": probs}, with_score=True)
    assert res[0][0] == "ab c"
    assert isinstance(res[0][1], float)
    assert res[0][1] == pytest.approx(np.mean([0.9, 0.6, 0.5, 0.4]))
    # other fetch name: the single 3-D output is used
    assert reader.postprocess_ocrv2({"softmax_5.tmp_0": probs})[0][0] == "ab c"
    blank = np.zeros((1, 3, 5), np.float32)
    blank[0, :, 0] = 1
    assert reader.postprocess_ocrv2({"x": blank}) == [("", 0.0)]


def test_ocr_reader_resize_norm_img(dict_file):
    reader = R.OCRReader(char_dict_path=dict_file)
    img = np.full((16, 48, 3), 255, np.uint8)  # ratio 3
    out = reader.resize_norm_img(img, max_wh_ratio=4)
    # width int(32 * 4) = 128; resized width ceil(32 * 3) = 96, then zeros
    assert out.shape == (3, 32, 128) and out.dtype == np.float32
    assert np.all(out[:, :, :96] == 1.0) and np.all(out[:, :, 96:] == 0.0)
    assert reader.preprocess([img, img]).shape == (3, 32, 96)


def test_ocr_reader_en_and_missing_dict(tmp_path):
    reader = R.OCRReader(char_type="en", char_dict_path=None)
    probs = np.zeros((1, 2, 37), np.float32)
    probs[0, 0, 11] = 1  # index 11 -> 'a' (blank + 0-9 first)
    probs[0, 1, 1] = 1   # '0'
    assert reader.postprocess_ocrv2({"y": probs})[0][0] == "a0"
    with pytest.raises(FileNotFoundError, match="dictionary"):
        R.OCRReader(char_dict_path=str(tmp_path / "missing.txt"))
