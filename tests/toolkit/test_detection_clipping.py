"""Every detection service answers boxes clipped to the image, without empty boxes or filler
rows (class -1), as PaddleX does: on `detection_results` and on a generated service of a
PaddleDetection `--for_fd` export (PicoDet-S stand-in, whose raw boxes cross the border)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from generator.cli import main
from generator.preprocess import detection_results, make_feed
from generator.service import OPS_BY_TASK, LocalService
from tests.helpers import toolkit_exports as te


def test_boxes_are_clipped_and_empty_and_filler_rows_dropped():
    rows = np.array([
        [0, 0.9, -12.5, -3, 50, 40],  # crosses the top-left corner: clipped
        [1, 0.8, 600, 400, 700, 520],  # crosses the bottom-right: clipped to (640, 480)
        [2, 0.7, 650, 10, 700, 60],  # entirely right of the image: empty once clipped
        [3, 0.95, 10, 10, 10, 60],  # zero width
        [-1, 1.0, 0, 0, 0, 631],  # a filler row (R-CNN's "no detection")
        [4, 0.6, 5, 5, 20, 20],  # second image (320 x 200): inside
        [5, 0.6, 300, 190, 330, 230],
    ], np.float32)
    (first, second) = detection_results(rows, [5, 2], None, 0.5,
                                        image_sizes=[(480, 640), (200, 320)])
    assert [d["bbox"] for d in first] == [[0.0, 0.0, 50.0, 40.0], [600.0, 400.0, 640.0, 480.0]]
    assert [d["category_id"] for d in first] == [0, 1]
    assert [d["bbox"] for d in second] == [[5.0, 5.0, 20.0, 20.0], [300.0, 190.0, 320.0, 200.0]]
    # without sizes: coordinates as given, but empty boxes and filler rows still dropped
    (raw,) = detection_results(rows[:5], None, None, 0.5)
    assert [d["category_id"] for d in raw] == [0, 1, 2]
    with pytest.raises(ValueError, match="image sizes"):
        detection_results(rows, [5, 2], None, 0.5, image_sizes=[(480, 640)])


@pytest.mark.slow
def test_toolkit_detection_service_clips_to_the_image(tmp_path):
    src = te.save_picodet(tmp_path / "PicoDet-S")
    out = tmp_path / "svc"
    res = CliRunner().invoke(main, ["new", "--model-dir", str(src.model_dir), "--output",
                                    str(out), "--no-vendor", "--backend", "paddle"],
                             catch_exceptions=False)
    assert res.exit_code == 0, res.output
    op = OPS_BY_TASK["detection"](name="d", deploy_config=out / "inference.yml",
                                  labels=out / "label_list.txt", draw_threshold=0.3)
    svc = LocalService(op, out / "serving_server")
    h, w = 480, 640
    image = te.draw_shapes(w, h, n=8, seed=3)
    encoded = cv2.imencode(".png", image)[1].tobytes()
    got = svc.predict_images({"image": encoded})["image"]

    # the model's own rows for the same feed: some cross the border
    feed = make_feed([op.preprocessor.process_encoded(encoded)], op.right_feed_names)
    fetch = op.client.predict(feed=feed, fetch=None, batch=True)
    rows = next(v for v in fetch.values() if v.ndim == 2 and v.shape[1] == 6)
    kept = rows[(rows[:, 0] > -1) & (rows[:, 1] >= 0.3)]
    outside = (kept[:, 2] < 0) | (kept[:, 3] < 0) | (kept[:, 4] > w) | (kept[:, 5] > h)
    assert outside.any(), "the stand-in must give boxes past the border for this test"
    want = [[max(0.0, x1), max(0.0, y1), min(w, x2), min(h, y2)]
            for _, _, x1, y1, x2, y2 in kept.astype(np.float64).tolist()]
    want = [b for b in want if b[2] > b[0] and b[3] > b[1]]
    assert len(got) == len(want) > 0
    np.testing.assert_allclose([d["bbox"] for d in got], want, atol=1e-4)
    for d in got:
        x1, y1, x2, y2 = d["bbox"]
        assert 0 <= x1 < x2 <= w and 0 <= y1 < y2 <= h
        assert d["label"] == te.COCO_LABELS[d["category_id"]]
