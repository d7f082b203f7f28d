from __future__ import annotations

import base64

import cv2
import numpy as np
import pytest

from generator.preprocess import (
    build_preprocess,
    classification_results,
    decode_rgb,
    detection_results,
    embedding_results,
    make_feed,
    segmentation_result,
)


def _pair(h, w, sy=1.0, sx=1.0):
    info = {"im_shape": np.array([h, w], np.float32),
            "scale_factor": np.array([sy, sx], np.float32)}
    return np.ones((3, h, w), np.float32), info


def test_make_feed_pads_batch_and_keeps_model_feeds():
    images = [_pair(4, 6, 2.0, 3.0), _pair(5, 3)]
    feed = make_feed(images, ["im_shape", "image", "scale_factor"])
    assert list(feed) == ["im_shape", "image", "scale_factor"]
    assert feed["image"].shape == (2, 3, 5, 6) and feed["image"].dtype == np.float32
    assert feed["image"][0, :, 4:, :].max() == 0 and feed["image"][1, :, :, 3:].max() == 0
    assert feed["im_shape"].tolist() == [[4, 6], [5, 3]]
    assert feed["scale_factor"].dtype == np.float32
    assert feed["scale_factor"].tolist() == [[2.0, 3.0], [1.0, 1.0]]
    # PP-YOLOE has no im_shape input: it must not be fed
    assert list(make_feed(images[:1], ["image", "scale_factor"])) == ["image", "scale_factor"]
    assert list(make_feed(images[:1], ["x"])) == ["x"]
    with pytest.raises(ValueError, match="which model input is the image"):
        make_feed(images, ["image", "extra"])


def test_end_to_end_decode_preprocess_feed():
    ok, buf = cv2.imencode(".png", np.zeros((30, 40, 3), np.uint8))
    b64 = base64.b64encode(buf.tobytes()).decode()
    rgb = decode_rgb(b64)
    assert rgb.shape == (30, 40, 3)
    pre = build_preprocess([{"type": "Resize", "target_size": 16, "keep_ratio": False},
                            {"type": "Permute"}], "ppdet")
    feed = make_feed([pre(rgb), pre.process_encoded(b64)], ["image", "scale_factor"])
    assert feed["image"].shape == (2, 3, 16, 16)
    assert feed["scale_factor"][0].tolist() == pytest.approx([16 / 30, 16 / 40])
    with pytest.raises(ValueError, match="decode"):
        decode_rgb(base64.b64encode(b"junk").decode())


def test_detection_results_split_and_filter():
    bbox = np.array([[0, 0.9, 1, 2, 3, 4], [1, 0.49, 0, 0, 1, 1], [-1, 0.99, 0, 0, 1, 1],
                     [2, 0.5, 5, 6, 7, 8]], np.float32)
    res = detection_results(bbox, np.array([3, 1]), ["a", "b", "c"], draw_threshold=0.5)
    assert len(res) == 2
    assert res[0] == [{"category_id": 0, "label": "a", "score": pytest.approx(0.9),
                       "bbox": [1.0, 2.0, 3.0, 4.0]}]
    assert res[1][0]["label"] == "c" and res[1][0]["bbox"] == [5.0, 6.0, 7.0, 8.0]
    assert detection_results(np.zeros((0, 6)), np.array([0])) == [[]]
    assert detection_results(bbox, None, None, 0.85)[0][0]["label"] == "0"
    with pytest.raises(ValueError, match="bbox_num"):
        detection_results(bbox, np.array([9]))


def test_classification_topk():
    res = classification_results(np.array([[0.1, 0.6, 0.3], [0.5, 0.2, 0.3]]), ["x", "y", "z"], 2)
    assert [r["category_id"] for r in res[0]] == [1, 2]
    assert res[1][0] == {"category_id": 0, "label": "x", "score": 0.5}


def test_segmentation_png_roundtrip_and_embedding():
    labels = np.zeros((1, 4, 6), np.int32)
    labels[0, 1:3, 2:5] = 3
    out = segmentation_result(labels)
    assert out["shape"] == [4, 6]
    png = cv2.imdecode(np.frombuffer(base64.b64decode(out["label_map"]), np.uint8),
                       cv2.IMREAD_UNCHANGED)
    np.testing.assert_array_equal(png, labels[0])
    scores = np.zeros((2, 4, 6), np.float32)
    scores[1, 0, 0] = 1
    assert segmentation_result(scores, original_shape=(8, 12))["shape"] == [8, 12]
    assert embedding_results(np.array([[3.0, 4.0]]), normalize=True) == [[0.6, 0.8]]
    assert embedding_results(np.array([1.0, 2.0])) == [[1.0, 2.0]]
