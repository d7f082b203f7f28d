"""DB post-processing on constructed probability maps: known regions give known quads
(grown by the unclip distance area * ratio / perimeter, scaled to the original image, clipped
to it), scores are the map's mean inside the box, and the thresholds filter as PaddleX's do."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from generator.ocr.db_postprocess import DBPostProcess
from generator.ocr.text_det import DetMeta, TextDetector
from generator.toolkit.inference_yml import ToolkitExport


def _grown_rect(x0, y0, x1, y1, ratio):
    """The quad DB gives for a filled block [x0, x1) x [y0, y1): the contour runs through pixel
    centres (w - 1 by h - 1), offset outwards by area * ratio / perimeter."""
    w, h = x1 - 1 - x0, y1 - 1 - y0
    d = w * h * ratio / (2 * (w + h))
    return np.array([[x0 - d, y0 - d], [x1 - 1 + d, y0 - d], [x1 - 1 + d, y1 - 1 + d],
                     [x0 - d, y1 - 1 + d]])


def _by_left(boxes, scores):
    order = np.argsort([b[:, 0].min() for b in boxes])
    return [boxes[i] for i in order], [scores[i] for i in order]


def test_blocks_give_their_grown_quads_and_scores():
    pred = np.zeros((96, 160), np.float32)
    pred[20:40, 10:70] = 0.9  # a text line
    pred[60:80, 100:150] = 0.7  # another, weaker
    pred[50:56, 20:80] = 0.5  # under box_thresh 0.6: dropped
    pred[5:7, 150:152] = 1.0  # shorter side < 3: dropped
    post = DBPostProcess(thresh=0.3, box_thresh=0.6, unclip_ratio=1.5)
    boxes, scores = _by_left(*post(pred, 96, 160))
    assert len(boxes) == 2
    np.testing.assert_allclose(boxes[0], np.round(_grown_rect(10, 20, 70, 40, 1.5)), atol=1)
    np.testing.assert_allclose(boxes[1], np.round(_grown_rect(100, 60, 150, 80, 1.5)), atol=1)
    # the grown box reaches outside the block (zeros): its mean is below the block's value
    assert 0.6 < scores[0] < 0.9 and 0.6 <= scores[1] < 0.7 < scores[0]
    # every corner is a whole pixel, clockwise from the top-left
    for box in boxes:
        assert np.array_equal(box, np.round(box))
        assert box[0, 0] < box[1, 0] and box[1, 1] < box[2, 1] and box[3, 0] < box[2, 0]


def test_scale_to_the_original_image_and_clip_to_it():
    pred = np.zeros((64, 64), np.float32)
    pred[0:10, 40:64] = 1.0  # touches the top and right border of the map
    post = DBPostProcess(box_thresh=0.5, unclip_ratio=2.0)
    (box,), (score,) = post(pred, 128, 256)  # the original is 2x taller, 4x wider
    assert box[:, 0].max() == 256 and box[:, 1].min() == 0  # clipped to [0, w] x [0, h]
    want = _grown_rect(40, 0, 64, 10, 2.0) * [4, 2]
    np.testing.assert_allclose(box[:, 0].min(), want[:, 0].min(), atol=4)
    np.testing.assert_allclose(box[:, 1].max(), want[:, 1].max(), atol=2)
    assert score > 0.5


def test_a_rotated_region_gives_a_rotated_quad():
    pred = np.zeros((200, 200), np.float32)
    rect = ((100.0, 100.0), (120.0, 24.0), 30.0)
    cv2.fillPoly(pred, [cv2.boxPoints(rect).astype(np.int32)], 1.0)
    (box,), (score,) = DBPostProcess(unclip_ratio=1.5)(pred, 200, 200)
    edge = box[1] - box[0]
    assert abs(np.degrees(np.arctan2(edge[1], edge[0])) - 30) < 3
    assert np.linalg.norm(edge) > 120  # the long side, grown
    assert score > 0.8


def test_thresholds_candidates_dilation_and_slow_score():
    pred = np.zeros((64, 200), np.float32)
    for i in range(5):
        pred[10:30, 10 + 38 * i:40 + 38 * i] = 0.95
    assert len(DBPostProcess()(pred, 64, 200)[0]) == 5
    assert len(DBPostProcess(max_candidates=3)(pred, 64, 200)[0]) == 3
    assert len(DBPostProcess(thresh=0.96)(pred, 64, 200)[0]) == 0
    # a 1-px gap splits two blocks; the 2x2 dilation (use_dilation) joins them
    gap = np.zeros((40, 80), np.float32)
    gap[10:30, 10:40] = gap[10:30, 41:70] = 0.9
    assert len(DBPostProcess()(gap, 40, 80)[0]) == 2
    assert len(DBPostProcess(use_dilation=True)(gap, 40, 80)[0]) == 1
    slow = DBPostProcess(score_mode="slow")(pred, 64, 200)[1]
    assert all(s == pytest.approx(0.95, abs=1e-6) for s in slow)  # the contour's own mean
    with pytest.raises(ValueError, match="score_mode"):
        DBPostProcess(score_mode="medium")


def test_poly_boxes_follow_the_region():
    pred = np.zeros((100, 100), np.float32)
    pred[20:40, 10:90] = 0.9
    pred[40:80, 60:90] = 0.9  # an L shape
    (poly,), _ = DBPostProcess(box_type="poly")(pred, 100, 100)
    assert poly.shape[0] > 4 and poly.shape[1] == 2
    assert (poly[:, 0].min(), poly[:, 1].min()) < (12, 22)


def test_detector_postprocess_maps_back_through_the_resize():
    export = ToolkitExport("text_detection", "PP-OCRv5_mobile_det", None, [
        {"DecodeImage": {"img_mode": "BGR", "channel_first": False}},
        {"DetResizeForTest": {}}, {"NormalizeImage": {}}, {"ToCHWImage": {}}],
        {"name": "DBPostProcess", "thresh": 0.3, "box_thresh": 0.6, "unclip_ratio": 1.5})
    det = TextDetector(export)
    image = np.full((100, 300, 3), 255, np.uint8)
    feed, meta = det.preprocess(image)
    assert feed["x"].shape == (1, 3, 96, 288) and meta == DetMeta(100, 300, 0.96, 0.96)
    pred = np.zeros((1, 1, 96, 288), np.float32)
    pred[0, 0, 40:60, 96:192] = 1.0
    ((poly, score),) = det.postprocess({"sigmoid_0.tmp_0": pred}, meta)
    want = _grown_rect(96, 40, 192, 60, 1.5) * [300 / 288, 100 / 96]
    np.testing.assert_allclose(poly, want, atol=1.5)
    assert poly.dtype == np.float32 and 0.6 < score <= 1.0
    with pytest.raises(ValueError, match=r"\[1, 1, H, W\]"):
        det.postprocess(np.zeros((2, 3, 4, 5, 6)), meta)
