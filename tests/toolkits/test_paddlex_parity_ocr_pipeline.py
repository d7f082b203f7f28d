"""The two-stage OCR service (`scaffold new --model-dir DET --model-dir REC [--model-dir ORI]`)
vs PaddleX 3.7.2's OCR pipeline (`create_pipeline` with the same local folders, no document
preprocessing) on the same pages: same lines in the same reading order, same texts, polygons
within 2 px, scores within 1e-3; and `generator.ocr.pipeline.OcrPipeline` in process too."""

from __future__ import annotations

import cv2
import pytest

from tests.helpers import toolkit_exports as te
from tests.helpers.paddlex_oracle import ocr_task
from tests.helpers.parity import (
    POLY_PX,
    SCORE_TOL,
    ask,
    ask_grpc,
    generate,
    require_oracle,
    running,
)

pytestmark = pytest.mark.slow

DET, REC, ORI = te.OCR_DET, te.OCR_REC, te.OCR_ORI


@pytest.fixture(scope="module")
def pipeline_case(tmp_path_factory):
    oracle = require_oracle()
    root = tmp_path_factory.mktemp("ocr_pipeline_parity")
    models = te.save_ocr_stand_ins(root)
    page = te.draw_text_lines(640, 480, ["ab12 cd", "hello world", "x9 q", "mixed 4 lines"])
    pages = [root / "page.png", root / "page_180.png", root / "page_tall.png",
             root / "page_slanted.png"]
    slanted = te.rotate(te.draw_text_lines(640, 480, ["slanted line one", "and two"], seed=6,
                                           top=150, line_height=80), 7)
    for path, img in zip(pages, [page, te.rotate_180(page),
                                 te.draw_text_lines(333, 517, ["zz top", "7 up", "k"], seed=3),
                                 slanted],
                         strict=True):
        assert cv2.imwrite(str(path), img)
    pair = {k: (k, m.model_dir) for k, m in models.items()}
    want_plain, want_ori = oracle.run([ocr_task(pair[DET], pair[REC], pages),
                                       ocr_task(pair[DET], pair[REC], pages, ori=pair[ORI])])
    return {"models": models, "pages": pages, "want": {False: want_plain, True: want_ori}}


def _lines(res: dict) -> list[tuple[str, float, list]]:
    return list(zip(res["rec_texts"], res["rec_scores"], res["rec_polys"], strict=True))


def _same_lines(got: list[dict], want: dict, where: str) -> None:
    expected = _lines(want)
    assert len(got) == len(expected), f"{where}: {[g['text'] for g in got]} vs " \
                                      f"{[e[0] for e in expected]}"
    for i, (g, (text, score, poly)) in enumerate(zip(got, expected, strict=True)):
        assert g["text"] == text, f"{where} line {i}: {g['text']!r} vs PaddleX {text!r}"
        assert g["score"] == pytest.approx(score, abs=SCORE_TOL), f"{where} line {i}"
        err = max(abs(a - b) for p, q in zip(g["poly"], poly, strict=True)
                  for a, b in zip(p, q, strict=True))
        assert err <= POLY_PX, f"{where} line {i}: poly {g['poly']} vs {poly}"


def test_paddlex_pipeline_answers_are_not_degenerate(pipeline_case):
    plain, with_ori = pipeline_case["want"][False], pipeline_case["want"][True]
    assert all(len(r["rec_texts"]) >= 3 for r in plain)
    assert len({t for r in plain for t in r["rec_texts"]}) >= 5
    # the upside-down page is turned line by line only with the orientation model
    assert with_ori[1]["textline_orientation_angles"].count(1) >= 3
    assert plain[1]["rec_texts"] != with_ori[1]["rec_texts"]
    # slanted lines give quads that are not axis-aligned boxes (rotated crops)
    quads = plain[3]["rec_polys"]
    assert quads and all(len({y for _, y in q}) > 2 for q in quads), quads


@pytest.mark.parametrize("with_ori", [False, True], ids=["det_rec", "det_ori_rec"])
def test_ocr_pipeline_in_process_equals_paddlex(pipeline_case, with_ori):
    from generator.ocr.pipeline import OcrPipeline

    m = pipeline_case["models"]
    pipe = OcrPipeline.from_model_dirs(m[DET].model_dir, m[REC].model_dir,
                                       m[ORI].model_dir if with_ori else None)
    for img, want in zip(pipeline_case["pages"], pipeline_case["want"][with_ori], strict=True):
        _same_lines(pipe.predict(cv2.imread(str(img))), want, f"in process {img.name}")


def test_served_ocr_equals_paddlex_pipeline(pipeline_case, tmp_path):
    """Without the orientation model; served with it, against `paddlex --serve`:
    test_paddlex_api_parity.test_ocr_same_pruned_result_as_paddlex_serve."""
    m = pipeline_case["models"]
    dirs = [m[DET].model_dir, m[REC].model_dir]
    folder, port, rpc = generate(dirs, tmp_path / "ocr_svc", name="ocr")
    with running(folder, port) as url:
        for img, want in zip(pipeline_case["pages"], pipeline_case["want"][False],
                             strict=True):
            _same_lines(ask(url, img), want, f"served over HTTP {img.name}")
            _same_lines(ask_grpc(rpc, img), want, f"served over gRPC {img.name}")
