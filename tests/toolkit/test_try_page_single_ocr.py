"""The try page (`GET /`) of single OCR model services, in a real headless Chromium: text
detection draws each answered region's polygon over the picked image and lists the regions;
text recognition and text-line orientation show the text / label (fixed answers, so the page
is checked on known values)."""

from __future__ import annotations

import asyncio
import json

import numpy as np
import pytest

from tests.runtime.test_web_pages import (  # noqa: F401 - chromium: the shared fixture
    JPG,
    _drive,
    _fixed_result_service,
    chromium,
)

pytestmark = pytest.mark.slow

REGIONS = [{"poly": [[30, 150], [200, 150], [200, 190], [30, 190]], "score": 0.91},
           {"poly": [[20, 60], [140, 50], [145, 90], [25, 100]], "score": 0.75}]
PROBE = ("(() => { const c = document.getElementById('canvas').getContext('2d');"
         " return [[30, 170], [110, 170]].map(([x, y]) =>"
         " [...c.getImageData(x, y, 1, 1).data.slice(0, 3)]); })()")


def _page(chromium, task, result, probe="null"):  # noqa: F811
    server = _fixed_result_service(task, json.dumps(result, ensure_ascii=False))
    try:
        return asyncio.run(_drive(chromium, f"http://127.0.0.1:{server.http_port}", probe,
                                  docs=False))
    finally:
        server.stop(2)


def test_text_detection_page_draws_the_regions(chromium):  # noqa: F811
    from PIL import Image

    got = _page(chromium, "text_detection", REGIONS, PROBE)
    assert got["state"] == "done", got["status"]
    assert got["status"].startswith("2 text regions")
    assert got["rows"] == ["0.910", "0.750"]
    original = np.asarray(Image.open(JPG).convert("RGB"), dtype=float)
    edge, inside = (np.array(p, dtype=float) for p in got["probe"])
    assert np.abs(edge - original[170, 30]).max() > 40  # the first region's left edge drawn
    np.testing.assert_allclose(inside, original[170, 110], atol=12)  # outlines only


@pytest.mark.parametrize("task, result, shown", [
    ("text_recognition", {"text": "中文 42", "score": 0.5}, "中文 42"),
    ("textline_orientation", {"label": "180_degree", "angle": 180, "score": 0.99},
     "180_degree"),
])
def test_line_pages_show_text_or_label(chromium, task, result, shown):  # noqa: F811
    got = _page(chromium, task, result)
    assert got["state"] == "done", got["status"]
    assert shown in got["status"]
    assert got["rows"] == [shown]
