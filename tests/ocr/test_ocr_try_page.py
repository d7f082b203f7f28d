"""The try page (`GET /`) of an OCR service, driven in a real headless Chromium: the picked image
is posted, each answered text line's polygon is drawn over it in its colour and the lines are
listed with their text (a fixed answer, so the drawing is checked on known numbers)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.runtime.test_web_pages import (  # noqa: F401 - chromium: the shared fixture
    JPG,
    _drive_fixed,
    chromium,
)

pytestmark = pytest.mark.slow

LINES = [
    {"text": "Hello", "score": 0.97, "poly": [[20, 60], [140, 50], [145, 90], [25, 100]]},
    {"text": "中文 42", "score": 0.88, "poly": [[30, 150], [200, 150], [200, 190], [30, 190]]},
]
PROBE = ("(() => { const c = document.getElementById('canvas').getContext('2d');"
         " return [[30, 170], [110, 170], [300, 230]].map(([x, y]) =>"
         " [...c.getImageData(x, y, 1, 1).data.slice(0, 3)]); })()")


def test_try_page_draws_text_line_polygons_and_texts(chromium):  # noqa: F811
    from PIL import Image

    got = _drive_fixed(chromium, "ocr", json.dumps(LINES, ensure_ascii=False), PROBE)
    assert got["status"].startswith("2 text lines")
    assert got["rows"] == ["Hello", "中文 42"]  # listed in the answer's (reading) order
    original = np.asarray(Image.open(JPG).convert("RGB"), dtype=float)
    edge, inside, outside = (np.array(p, dtype=float) for p in got["probe"])
    np.testing.assert_allclose(edge, [60, 180, 75], atol=3)  # line 2's left edge, colour 1
    np.testing.assert_allclose(inside, original[170, 110], atol=12)  # polygons are outlines
    np.testing.assert_allclose(outside, original[230, 300], atol=12)
