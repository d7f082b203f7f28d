"""DB post-processing equals PaddleX 3.7.2's own `DBPostProcess` on many constructed maps
(text-line blocks of varied strength, size and slight slant, blurred; every option: quad/poly,
fast/slow score, dilation, max_candidates), box for box and score for score — also when the
installed OpenCV is newer than the 4.10 PaddleX pins (its fillPoly differs; see
generator/ocr/raster.py). PaddleX runs in the test side venv (tests/helpers/paddlex_oracle.py);
skipped with the reason when it cannot be built."""

from __future__ import annotations

import json
import subprocess
import textwrap

import cv2
import numpy as np
import pytest

from generator.ocr.db_postprocess import DBPostProcess
from tests.helpers.paddlex_oracle import PaddleXOracle, oracle_env

OPTIONS = [{}, {"score_mode": "slow"}, {"use_dilation": True}, {"box_type": "poly"},
           {"unclip_ratio": 1.5, "box_thresh": 0.5, "max_candidates": 3}]
BASE = {"thresh": 0.3, "box_thresh": 0.6, "unclip_ratio": 2.0, "max_candidates": 1000,
        "use_dilation": False, "score_mode": "fast", "box_type": "quad"}

SCRIPT = textwrap.dedent("""
    import json, sys
    import numpy as np
    from paddlex.inference.models.text_detection.processors import DBPostProcess
    maps = np.load(sys.argv[1])
    cases = json.load(open(sys.argv[2]))
    out = []
    for case in cases:
        post = DBPostProcess(**case["args"])
        pred = maps[case["map"]]
        # the predictor's image shape row: [src_h, src_w, ratio_h, ratio_w], float64
        shape = np.array([case["src_h"], case["src_w"], 1.0, 1.0])
        boxes, scores = post.process(pred[None], shape, case["args"]["thresh"],
                                     case["args"]["box_thresh"], case["args"]["unclip_ratio"])
        out.append({"boxes": [np.asarray(b).tolist() for b in boxes],
                    "scores": [float(s) for s in scores]})
    json.dump(out, open(sys.argv[3], "w"))
""")


def _maps(count: int, seed: int = 0):
    """Maps of text lines: blocks slanted by up to 8 degrees, away from the border, on noise;
    the original image 2x the map."""
    rng = np.random.default_rng(seed)
    maps, sizes = [], []
    for _ in range(count):
        h, w = int(rng.integers(100, 240)), int(rng.integers(150, 320))
        pred = (rng.random((h, w)) * 0.2).astype(np.float32)
        for _ in range(int(rng.integers(1, 7))):
            rect = ((float(rng.uniform(50, w - 50)), float(rng.uniform(30, h - 30))),
                    (float(rng.uniform(10, 80)), float(rng.uniform(6, 20))),
                    float(rng.uniform(-8, 8)))
            cv2.fillPoly(pred, [cv2.boxPoints(rect).astype(np.int32)],
                         float(rng.uniform(0.4, 1.0)))
        maps.append(cv2.GaussianBlur(pred, (3, 3), 0))
        sizes.append((2 * h, 2 * w))
    return maps, sizes


@pytest.mark.slow
def test_db_postprocess_equals_paddlex(tmp_path):
    oracle = PaddleXOracle.get(build=False)
    if oracle is None:
        pytest.skip(f"PaddleX oracle unavailable: {PaddleXOracle.unavailable_reason()}")
    maps, sizes = _maps(100)
    cases = [{"map": f"m{i}", "src_h": h, "src_w": w, "args": {**BASE, **opt}}
             for i, (h, w) in enumerate(sizes) for opt in OPTIONS]
    np.savez(tmp_path / "maps.npz", **{f"m{i}": m for i, m in enumerate(maps)})
    (tmp_path / "cases.json").write_text(json.dumps(cases))
    (tmp_path / "run.py").write_text(SCRIPT)
    proc = subprocess.run([str(oracle.python), "run.py", "maps.npz", "cases.json", "out.json"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=600,
                          env=oracle_env(tmp_path / "pdx"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    want = json.loads((tmp_path / "out.json").read_text())
    found = 0
    for case, ref in zip(cases, want, strict=True):
        boxes, scores = DBPostProcess(**case["args"])(maps[int(case["map"][1:])],
                                                      case["src_h"], case["src_w"])
        assert [b.tolist() for b in boxes] == ref["boxes"], case
        np.testing.assert_allclose(scores, ref["scores"], rtol=0, atol=1e-9, err_msg=str(case))
        found += len(boxes)
    assert found > 500  # the maps give plenty of boxes


FILL_SCRIPT = textwrap.dedent("""
    import json, sys
    import cv2
    import numpy as np
    polys = json.load(open(sys.argv[1]))
    masks = []
    for p in polys:
        mask = np.zeros((p["h"], p["w"]), np.uint8)
        cv2.fillPoly(mask, [np.array(p["pts"], np.int32).reshape(-1, 2)], 1)
        masks.append(mask)
    np.savez(sys.argv[2], *masks)
    print(cv2.__version__)
""")


@pytest.mark.slow
def test_polygon_fill_equals_the_opencv_paddlex_pins(tmp_path):
    oracle = PaddleXOracle.get(build=False)
    if oracle is None:
        pytest.skip(f"PaddleX oracle unavailable: {PaddleXOracle.unavailable_reason()}")
    from generator.ocr.raster import fill_polygon

    rng = np.random.default_rng(1)
    polys = []
    for i in range(800):
        h, w = int(rng.integers(2, 60)), int(rng.integers(2, 60))
        if i % 2:  # a rotated rectangle's integer corners, as DB scores them
            rect = ((float(rng.uniform(0, w)), float(rng.uniform(0, h))),
                    (float(rng.uniform(1, 60)), float(rng.uniform(1, 25))),
                    float(rng.uniform(-90, 90)))
            pts = np.clip(cv2.boxPoints(rect).astype(np.int32), 0, [w - 1, h - 1])
        else:  # any polygon, self-intersections included
            k = int(rng.integers(3, 12))
            pts = np.stack([rng.integers(0, w, k), rng.integers(0, h, k)], 1)
        polys.append({"h": h, "w": w, "pts": pts.tolist()})
    (tmp_path / "polys.json").write_text(json.dumps(polys))
    (tmp_path / "fill.py").write_text(FILL_SCRIPT)
    proc = subprocess.run([str(oracle.python), "fill.py", "polys.json", "masks.npz"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300,
                          env=oracle_env(tmp_path / "pdx"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip() == "4.10.0"
    want = np.load(tmp_path / "masks.npz")
    for i, p in enumerate(polys):
        got = np.zeros((p["h"], p["w"]), np.uint8)
        fill_polygon(got, np.array(p["pts"]))
        assert np.array_equal(got, want[f"arr_{i}"]), p
