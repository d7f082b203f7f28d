"""PaddleOCR 3 exports (text detection, text recognition, text-line orientation): PaddleX 3.7.2's
predictor on the stand-in folders vs (a) generator.ocr's in-process semantics on the same
folders and (b) the answer of a service generated with `scaffold new --model-dir`, over HTTP."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.helpers import toolkit_exports as te
from tests.helpers.paddlex_oracle import model_task
from tests.helpers.parity import (
    SCORE_TOL,
    ask,
    generate,
    local_answers,
    match_polys,
    require_oracle,
    running,
)

pytestmark = pytest.mark.slow

DET, REC, ORI = te.OCR_DET, te.OCR_REC, te.OCR_ORI


def _write(path: Path, img: np.ndarray) -> Path:
    assert cv2.imwrite(str(path), img)
    return path


@pytest.fixture(scope="module")
def ocr_case(tmp_path_factory):
    """Stand-in folders, test images and PaddleX's answers (one PaddleX run for all)."""
    oracle = require_oracle()
    root = tmp_path_factory.mktemp("ocr_parity")
    models = te.save_ocr_stand_ins(root)
    page = te.draw_text_lines(640, 480, ["ab12 cd", "hello world", "x9 q", "mixed 4 lines"])
    pages = [
        _write(root / "page.png", page),
        # not a multiple of 32 on either side, taller than wide: exercises the resize rule
        _write(root / "page_tall.png", te.draw_text_lines(333, 517, ["zz top", "7 up", "k"],
                                                          seed=3)),
        _write(root / "page_small.png", te.draw_text_lines(200, 90, ["tiny"], seed=5, top=20)),
        # longer side over 960: PP-OCRv5 det models are scaled down to it
        _write(root / "page_big.png", te.draw_text_lines(
            1400, 1000, ["big page line one", "2nd", "and a third line of text"] * 3, seed=7,
            top=60, line_height=90)),
    ]
    line = te.draw_text_lines(300, 48, ["hello"], top=8)
    lines = [
        _write(root / "line.png", line),
        _write(root / "line_short.png", te.draw_text_lines(90, 40, ["x7"], top=6, seed=1)),
        # wider than 320/48 allows: PaddleX resizes to the batch's own width ratio
        _write(root / "line_long.png", te.draw_text_lines(900, 52, ["a long line of text 42"],
                                                          top=10, seed=2)),
        # wider than PaddleX's 3200 px input limit once resized to height 48
        _write(root / "line_huge.png", te.draw_text_lines(4000, 44, ["x0" * 300], top=8, seed=4)),
        _write(root / "line_180.png", te.rotate_180(line)),
    ]
    want = oracle.run([model_task(DET, models[DET].model_dir, pages),
                       model_task(REC, models[REC].model_dir, lines),
                       model_task(ORI, models[ORI].model_dir, lines)])
    return {"root": root, "models": models, "pages": pages, "lines": lines,
            "want": dict(zip((DET, REC, ORI), want, strict=True))}


def _pdx_quads(res: dict) -> list[tuple[list, float]]:
    return list(zip(res["dt_polys"], res["dt_scores"], strict=True))


def _local_runner(model_dir: Path):
    from generator.runtime import LocalPredictor

    predictor = LocalPredictor(model_dir)
    return predictor.predict


def test_stand_ins_are_not_degenerate(ocr_case):
    """The oracle's answers have content: several quads per page, non-empty distinct texts,
    both orientations, so equality below means something."""
    det = ocr_case["want"][DET]
    assert all(len(r["dt_polys"]) >= 1 for r in det) and len(det[0]["dt_polys"]) >= 5
    texts = [r["rec_text"] for r in ocr_case["want"][REC]]
    assert all(texts) and len(set(texts)) >= 3, texts
    labels = [r["label_names"][0] for r in ocr_case["want"][ORI]]
    assert labels[0] == "0_degree" and labels[-1] == "180_degree", labels


def test_text_detection_in_process_equals_paddlex(ocr_case):
    from generator.ocr import TextDetector

    d = ocr_case["models"][DET].model_dir
    det, run = TextDetector.from_model_dir(d), _local_runner(d)
    for img, want in zip(ocr_case["pages"], ocr_case["want"][DET], strict=True):
        got = det(cv2.imread(str(img)), run)
        match_polys(got, _pdx_quads(want), f"in-process {img.name}")


def test_text_recognition_in_process_equals_paddlex(ocr_case):
    from generator.ocr import TextRecognizer

    d = ocr_case["models"][REC].model_dir
    rec, run = TextRecognizer.from_model_dir(d), _local_runner(d)
    for img, want in zip(ocr_case["lines"], ocr_case["want"][REC], strict=True):
        [(text, score)] = rec([cv2.imread(str(img))], run)  # one line per batch, as PaddleX
        assert text == want["rec_text"], img.name
        assert score == pytest.approx(want["rec_score"], abs=SCORE_TOL), img.name


def test_textline_orientation_in_process_equals_paddlex(ocr_case):
    from generator.ocr import TextlineOrientation

    d = ocr_case["models"][ORI].model_dir
    ori, run = TextlineOrientation.from_model_dir(d), _local_runner(d)
    for img, want in zip(ocr_case["lines"], ocr_case["want"][ORI], strict=True):
        [(label, score)] = ori([cv2.imread(str(img))], run)
        assert label == want["label_names"][0], img.name
        assert score == pytest.approx(want["scores"][0], abs=SCORE_TOL), img.name


def test_served_text_detection_equals_paddlex(ocr_case, tmp_path):
    folder, port, _ = generate([ocr_case["models"][DET].model_dir], tmp_path / "det_svc")
    with running(folder, port) as url:
        for img, want in zip(ocr_case["pages"], ocr_case["want"][DET], strict=True):
            got = [(q["poly"], q["score"]) for q in ask(url, img)]
            match_polys(got, _pdx_quads(want), f"served {img.name}")
    for img, got, want in zip(ocr_case["pages"], local_answers(folder, ocr_case["pages"]),
                              ocr_case["want"][DET], strict=True):
        match_polys([(q["poly"], q["score"]) for q in got], _pdx_quads(want),
                    f"service Op in process {img.name}")


def test_served_text_recognition_equals_paddlex(ocr_case, tmp_path):
    folder, port, _ = generate([ocr_case["models"][REC].model_dir], tmp_path / "rec_svc")
    with running(folder, port) as url:
        for img, want in zip(ocr_case["lines"], ocr_case["want"][REC], strict=True):
            got = ask(url, img)
            assert got["text"] == want["rec_text"], img.name
            assert got["score"] == pytest.approx(want["rec_score"], abs=SCORE_TOL), img.name


def test_served_textline_orientation_equals_paddlex(ocr_case, tmp_path):
    folder, port, _ = generate([ocr_case["models"][ORI].model_dir], tmp_path / "ori_svc")
    with running(folder, port) as url:
        for img, want in zip(ocr_case["lines"], ocr_case["want"][ORI], strict=True):
            got = ask(url, img)
            assert got["label"] == want["label_names"][0], img.name
            assert got["score"] == pytest.approx(want["scores"][0], abs=SCORE_TOL), img.name
