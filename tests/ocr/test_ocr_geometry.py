"""OCR geometry without a model: reading order (PaddleX's sort with its 10 px row tolerance),
rotated crops (perspective warp of the minimum-area rectangle, vertical lines turned), the
180-degree turn, recognition batches grouped by aspect ratio, the answer's threshold."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from generator.ocr.crops import crop_quad, ordered_min_area_rect, rotate_180
from generator.ocr.ordering import reading_order
from generator.ocr.pipeline import ocr_lines, ratio_batches


def _box(x: float, y: float, w: float = 50, h: float = 20) -> np.ndarray:
    return np.array([[x, y], [x + w, y], [x + w, y + h], [x, y + h]], dtype=np.float32)


def test_reading_order_rows_then_columns_with_the_row_tolerance():
    boxes = [
        _box(300, 100),  # second row, right
        _box(200, 12),  # first row, right, 8 px higher than its left neighbour: same row
        _box(10, 20),  # first row, left
        _box(10, 105),  # second row, left (5 px lower than the right one: same row)
        _box(10, 200),  # third row
        _box(400, 189),  # 11 px higher than the third-row box: a row of its own, first
    ]
    assert reading_order(boxes) == [2, 1, 3, 0, 5, 4]
    # a wider tolerance merges the last two rows; none keeps the plain (y, x) order
    assert reading_order(boxes, y_tolerance=12)[-2:] == [4, 5]
    assert reading_order(boxes, y_tolerance=0) == [1, 2, 0, 3, 5, 4]
    assert reading_order([]) == []


def _pattern(h: int, w: int) -> np.ndarray:
    """A crop-sized pattern that shows its orientation: a horizontal ramp in blue, a
    vertical one in green, a marked top-left corner in red."""
    img = np.zeros((h, w, 3), np.uint8)
    img[:, :, 0] = np.linspace(0, 255, w, dtype=np.uint8)[None, :]
    img[:, :, 1] = np.linspace(0, 255, h, dtype=np.uint8)[:, None]
    img[: h // 4, : w // 4, 2] = 255
    return img


@pytest.mark.parametrize("angle", [0.0, 12.0, -20.0])
def test_crop_of_a_rotated_quad_is_the_upright_region(angle):
    h, w = 40, 160
    pattern = _pattern(h, w)
    page = np.full((400, 400, 3), 255, np.uint8)
    # paste the pattern turned by `angle` (clockwise on the page) about the page centre
    t = np.deg2rad(angle)
    rot = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])
    m = np.hstack([rot, (np.array([200.0, 200.0]) - rot @ [w / 2, h / 2])[:, None]])
    mask = cv2.warpAffine(np.full((h, w), 255, np.uint8), m, (400, 400), flags=cv2.INTER_NEAREST)
    warped = cv2.warpAffine(pattern, m, (400, 400), flags=cv2.INTER_LINEAR)
    page[mask > 0] = warped[mask > 0]
    corners = cv2.transform(np.array([[[0, 0], [w, 0], [w, h], [0, h]]], np.float32), m)[0]
    crop = crop_quad(page, corners[[2, 0, 3, 1]])  # any point order
    assert abs(crop.shape[0] - h) <= 2 and abs(crop.shape[1] - w) <= 2
    inner = crop[4:-4, 4:-4].astype(int)
    want = cv2.resize(pattern, (crop.shape[1], crop.shape[0]))[4:-4, 4:-4].astype(int)
    assert np.abs(inner - want).mean() < 12  # upright, not mirrored or turned
    assert crop[:5, :5, 2].mean() > 200 and crop[-5:, -5:, 2].mean() < 60


def test_ordered_rectangle_corners_start_top_left_clockwise():
    quad = np.array([[110, 60], [10, 60], [10, 20], [110, 20]], np.float32)  # BR, BL, TL, TR
    rect = ordered_min_area_rect(quad)
    assert np.allclose(rect, [[10, 20], [110, 20], [110, 60], [10, 60]])


def test_a_vertical_line_is_turned_to_read_top_down_left_to_right():
    page = np.full((300, 200, 3), 255, np.uint8)
    page[50:110, 80:120] = (0, 0, 255)  # top third red
    page[110:170, 80:120] = (0, 255, 0)
    page[170:230, 80:120] = (255, 0, 0)  # bottom third blue
    crop = crop_quad(page, _box(80, 50, 40, 180))
    assert crop.shape[:2] == (40, 180)  # height / width >= 1.5: turned a quarter
    assert crop[20, 20].tolist() == [0, 0, 255] and crop[20, 160].tolist() == [255, 0, 0]
    # under the 1.5 ratio the crop stays as it is
    assert crop_quad(page, _box(80, 50, 40, 59)).shape[:2] == (59, 40)


def test_rotate_180_is_paddlex_affine_turn():
    crop = np.random.default_rng(0).integers(0, 255, (30, 90, 3), dtype=np.uint8)
    turned = rotate_180(crop)
    assert turned.shape == crop.shape
    # an affine turn about (w/2, h/2): shifted one pixel from a flip, the first row and
    # column come from outside the crop
    assert np.array_equal(turned[1:, 1:], crop[::-1, ::-1][:-1, :-1])
    assert not turned[0].any() and not turned[:, 0].any()


def test_recognition_batches_group_crops_of_similar_aspect_ratio():
    widths = [300, 50, 120, 400, 60, 90, 200, 48]
    crops = [np.zeros((48, w, 3), np.uint8) for w in widths]
    batches = ratio_batches(crops, 3)
    assert batches == [[7, 1, 4], [5, 2, 6], [0, 3]]
    assert sorted(i for b in batches for i in b) == list(range(len(widths)))
    assert ratio_batches([], 6) == []


def test_answer_keeps_the_order_and_drops_low_scores():
    quads = [_box(1.5, 2), _box(10, 30)]
    lines = ocr_lines(quads, [("ab", 0.9), ("c", 0.2)], score_thresh=0.5)
    assert lines == [{"text": "ab", "score": 0.9,
                      "poly": [[1.5, 2], [51.5, 2], [51.5, 22], [1.5, 22]]}]
    assert [x["text"] for x in ocr_lines(quads, [("ab", 0.9), ("c", 0.2)])] == ["ab", "c"]


def test_verify_compares_ocr_answers_line_by_line():
    from generator.quality.compare import Tolerance
    from generator.quality.ocr_quality import compare_ocr

    want = [{"text": "ab", "score": 0.9, "poly": [[0, 0], [10, 0], [10, 5], [0, 5]]},
            {"text": "中", "score": 0.8, "poly": [[0, 9], [10, 9], [10, 15], [0, 15]]}]
    tol = Tolerance()
    assert compare_ocr("x", [dict(w) for w in want], want, tol).ok
    moved = [dict(want[0], poly=[[0, 0], [12, 0], [10, 5], [0, 5]]), want[1]]
    assert not compare_ocr("x", moved, want, tol).ok
    assert not compare_ocr("x", [want[1], want[0]], want, tol).ok  # order counts
    assert not compare_ocr("x", want[:1], want, tol).ok
    assert not compare_ocr("x", [want[0], dict(want[1], score=0.81)], want, tol).ok
    assert "text 'b'" in compare_ocr("x", [dict(want[0], text="b"), want[1]], want, tol).note


def test_numpy_cubic_warp_is_exact_on_whole_pixels_and_close_to_opencv():
    from generator.ocr.warp import warp_perspective_cubic

    rng = np.random.default_rng(3)
    img = rng.integers(0, 256, (50, 70, 3), dtype=np.uint8)
    shift = np.array([[1, 0, -5], [0, 1, -3], [0, 0, 1]], np.float64)  # dst(x, y) = src(x+5, y+3)
    out = warp_perspective_cubic(img, shift, (60, 40))
    assert np.array_equal(out[:, :60 - 5], img[3:43, 5:60])
    wide = warp_perspective_cubic(img, shift, (70, 40))  # columns 65.. come from beyond x=69
    assert np.array_equal(wide[:, -1], img[3:43, 69])  # the replicated border, not black
    smooth = cv2.GaussianBlur(img, (9, 9), 3)
    m = cv2.getPerspectiveTransform(np.float32([[3, 2], [61, 6], [60, 40], [5, 37]]),
                                    np.float32([[0, 0], [58, 0], [58, 35], [0, 35]]))
    ref = cv2.warpPerspective(smooth, m, (58, 35), flags=cv2.INTER_CUBIC,
                              borderMode=cv2.BORDER_REPLICATE)
    assert np.abs(warp_perspective_cubic(smooth, m, (58, 35)).astype(int) - ref).max() <= 2
    assert warp_perspective_cubic(img[:, :, 0], m, (58, 35)).shape == (35, 58)
