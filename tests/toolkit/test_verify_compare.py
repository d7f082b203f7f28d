"""`scaffold verify` compares the single OCR models' answers by task: text regions polygon by
polygon, texts and orientation labels exactly, scores within tolerance."""

from __future__ import annotations

from generator.quality.compare import Tolerance, compare_result

TOL = Tolerance(rtol=1e-3, atol=1e-6)


def test_text_regions():
    want = [{"poly": [[1, 2], [30, 2], [30, 12], [1, 12]], "score": 0.8}]
    assert compare_result("a", "text_detection", want, want, TOL).ok
    moved = [{"poly": [[1, 2], [31, 2], [31, 12], [1, 12]], "score": 0.8}]
    check = compare_result("a", "text_detection", moved, want, TOL)
    assert not check.ok and check.max_abs == 1
    assert not compare_result("a", "text_detection", [], want, TOL).ok
    assert not compare_result("a", "text_detection", [{**want[0], "score": 0.7}], want, TOL).ok


def test_texts_and_labels():
    want = {"text": "ab1", "score": 0.5}
    assert compare_result("a", "text_recognition", dict(want), want, TOL).ok
    check = compare_result("a", "text_recognition", {"text": "ab", "score": 0.5}, want, TOL)
    assert not check.ok and "'ab'" in check.note
    assert not compare_result("a", "text_recognition", {"text": "ab1", "score": 0.6}, want,
                              TOL).ok
    ori = {"label": "0_degree", "angle": 0, "score": 0.9}
    assert compare_result("a", "textline_orientation", dict(ori), ori, TOL).ok
    assert not compare_result("a", "textline_orientation",
                              {**ori, "label": "180_degree", "angle": 180}, ori, TOL).ok
