"""Crops, the 180-degree turn and the reading order against PaddleX 3.7.2's own components
(`CropByPolys` quad mode, `rotate_image`, `SortQuadBoxes`), run in the PaddleX side venv with
its pinned OpenCV 4.10. Under OpenCV 4 the crops are byte for byte PaddleX's. OpenCV 5 rounds
the cubic warp differently (about 2/3 of a crop's values move by up to 8 levels):
generator.ocr.warp reproduces 4.x's warp, and what is left comes from OpenCV 5's
`minAreaRect` corners differing in their last float bits (a few values in ten thousand)."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest

from generator.ocr.crops import OPENCV_4, crop_quads, rotate_180
from generator.ocr.ordering import sort_quads
from tests.helpers.parity import require_oracle

pytestmark = pytest.mark.slow

SCRIPT = """
import sys, numpy as np
from paddlex.inference.pipelines.components import CropByPolys, SortQuadBoxes
from paddlex.inference.pipelines.components.common.warp_image import rotate_image
data = np.load(sys.argv[1])
img, quads = data["image"], list(data["quads"])
crops = CropByPolys(det_box_type="quad")(img, quads)
out = {f"crop_{i}": c for i, c in enumerate(crops)}
out.update({f"turned_{i}": rotate_image(c, 180) for i, c in enumerate(crops)})
out["sorted"] = np.array(SortQuadBoxes()(quads))
np.savez(sys.argv[2], **out)
"""


def _quads(rng: np.random.Generator, n: int) -> np.ndarray:
    """Random text-line-like quads: rotated rectangles of many sizes (vertical ones too),
    with integer corners as DB post-processing gives them, some on shared rows."""
    quads = []
    for i in range(n):
        w, h = rng.uniform(8, 260), rng.uniform(8, 60)
        if i % 5 == 0:
            w, h = h, w * 1.2  # a vertical line
        angle = rng.uniform(-0.4, 0.4)
        cx, cy = rng.uniform(20, 620), rng.uniform(20, 460) if i % 3 else 100 + rng.uniform(0, 9)
        rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        corners = np.array([[-w, -h], [w, -h], [w, h], [-w, h]]) / 2 @ rot.T + [cx, cy]
        quads.append(np.round(corners))
    return np.array(quads, dtype=np.float32)


def test_crops_turns_and_order_equal_paddlex_components(tmp_path):
    import tests.helpers.paddlex_oracle as oracle_module

    require_oracle()
    rng = np.random.default_rng(7)
    image = rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)
    image[::7] = 255  # structure, so interpolation differences would show
    quads = _quads(rng, 40)
    np.savez(tmp_path / "in.npz", image=image, quads=quads)
    (tmp_path / "px.py").write_text(SCRIPT, encoding="utf-8")
    subprocess.run([str(oracle_module._python()), str(tmp_path / "px.py"),
                    str(tmp_path / "in.npz"), str(tmp_path / "out.npz")], check=True,
                   timeout=600, capture_output=True)
    want = np.load(tmp_path / "out.npz")
    crops = crop_quads(image, list(quads))
    assert any(c.shape[0] < c.shape[1] and q[2, 1] - q[0, 1] > 1.5 * (q[1, 0] - q[0, 0])
               for c, q in zip(crops, quads, strict=True))  # vertical lines were turned
    moved = 0
    for i, crop in enumerate(crops):
        px_crop = want[f"crop_{i}"]
        assert crop.shape == px_crop.shape, i
        if OPENCV_4:
            assert np.array_equal(crop, px_crop), i
        else:
            diff = np.abs(crop.astype(int) - px_crop)
            assert diff.max() <= 10 and (diff > 0).mean() < 0.01, (i, diff.max())
            moved += int((diff > 0).sum())
        assert np.array_equal(rotate_180(px_crop), want[f"turned_{i}"]), i
    assert moved <= 0.001 * sum(c.size for c in crops)
    assert np.array_equal(np.array(sort_quads(list(quads))), want["sorted"])
