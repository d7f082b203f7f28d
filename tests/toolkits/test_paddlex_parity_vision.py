"""PaddleDetection (`--for_fd`: PicoDet-S, PP-YOLOE+), PaddleClas and PaddleSeg exports: PaddleX 3.7.2's predictor on
the stand-in folders vs the answer of a service generated with `scaffold new --model-dir`, over
HTTP and its Op in process. PicoDet's raw boxes cross the image border: PaddleX clips them, and
so must every served detection."""

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
    ask_grpc,
    decode_label_map,
    generate,
    local_answers,
    match_boxes,
    require_oracle,
    running,
)

pytestmark = pytest.mark.slow

PICO, YOLOE, CLS, SEG = "PicoDet-S", "PP-YOLOE_plus-S", "PP-LCNet_x1_0", "PP-LiteSeg-T"
#: pixels of a label map allowed to differ (bilinear upsampling ties at class borders)
SEG_MISMATCH = 1e-3


@pytest.fixture(scope="module")
def vision_case(tmp_path_factory):
    oracle = require_oracle()
    root = tmp_path_factory.mktemp("vision_parity")
    models = {PICO: te.save_picodet(root / PICO), YOLOE: te.save_ppyoloe(root / YOLOE),
              CLS: te.save_paddleclas(root / CLS), SEG: te.save_paddleseg(root / SEG)}
    images = []
    for i, (w, h) in enumerate([(640, 480), (300, 500), (257, 193)]):
        images.append(root / f"shapes_{i}.png")
        assert cv2.imwrite(str(images[-1]), te.draw_shapes(w, h, n=5 + i, seed=i))
    want = oracle.run([model_task(name, models[name].model_dir, images) for name in models])
    return {"models": models, "images": images, "want": dict(zip(models, want, strict=True))}


def _served_and_local(vision_case, name: str, out: Path) -> tuple[list, list]:
    """Answers over HTTP (checked equal to those over gRPC) and of the service's Op in
    process."""
    folder, port, rpc = generate([vision_case["models"][name].model_dir], out)
    with running(folder, port) as url:
        served = [ask(url, img) for img in vision_case["images"]]
        assert [ask_grpc(rpc, img) for img in vision_case["images"]] == served
    return served, local_answers(folder, vision_case["images"])


@pytest.mark.parametrize("name", [PICO, YOLOE])
def test_detector_raw_boxes_cross_the_border_and_paddlex_clips_them(vision_case, name):
    """The case the clipping rule is about: PaddleX's boxes touch the border (clipped) on
    every image, and they are many and distinct."""
    for img, res in zip(vision_case["images"], vision_case["want"][name], strict=True):
        h, w = cv2.imread(str(img)).shape[:2]
        boxes = np.array([b["coordinate"] for b in res["boxes"]], dtype=float)
        assert len(boxes) >= 3, img.name
        assert boxes.min() >= 0 and boxes[:, 2].max() <= w and boxes[:, 3].max() <= h
        on_border = (boxes[:, 0] == 0) | (boxes[:, 1] == 0) | (boxes[:, 2] == w) | \
            (boxes[:, 3] == h)
        assert on_border.any(), img.name
        assert len({round(b["score"], 4) for b in res["boxes"]}) >= 3


@pytest.mark.parametrize("name", [PICO, YOLOE])
def test_served_detector_equals_paddlex(vision_case, tmp_path, name):
    served, local = _served_and_local(vision_case, name, tmp_path / "det_svc")
    for img, got, in_proc, want in zip(vision_case["images"], served, local,
                                       vision_case["want"][name], strict=True):
        assert want["boxes"], f"{img.name}: PaddleX found nothing, the check would be empty"
        match_boxes(got, want["boxes"], f"served {img.name}")
        match_boxes(in_proc, want["boxes"], f"service Op in process {img.name}")
        assert [b["label"] for b in got] == [b["label"] for b in in_proc]


def _same_top_k(answer: list[dict], ids: list[int], labels: list[str], scores: list[float],
                where: str) -> None:
    """Same top-k, scores within SCORE_TOL; two classes whose scores are that close may come
    in either order (1000 random classes have near-ties in the tail)."""
    assert len(answer) == len(ids), where
    got = [c["score"] for c in answer]
    assert got == sorted(got, reverse=True), where
    assert got == pytest.approx(scores, abs=SCORE_TOL), where
    for i, c in enumerate(answer):
        if c["category_id"] != ids[i]:
            j = ids.index(c["category_id"]) if c["category_id"] in ids else -1
            assert j >= 0 and abs(scores[j] - scores[i]) <= SCORE_TOL, \
                f"{where}: rank {i} is {c}, PaddleX {ids[i]} ({scores[i]})"
        assert c["label"] == labels[ids.index(c["category_id"])], where


def test_served_paddleclas_equals_paddlex(vision_case, tmp_path):
    served, local = _served_and_local(vision_case, CLS, tmp_path / "cls_svc")
    for img, got, in_proc, want in zip(vision_case["images"], served, local,
                                       vision_case["want"][CLS], strict=True):
        ids = np.ravel(want["class_ids"]).tolist()
        assert len(ids) == 5 and want["scores"][0] > 2 * want["scores"][1], "degenerate"
        for answer, where in ((got, "served"), (in_proc, "in process")):
            _same_top_k(answer, ids, want["label_names"], want["scores"], f"{where} {img.name}")


def test_served_paddleseg_equals_paddlex(vision_case, tmp_path):
    served, local = _served_and_local(vision_case, SEG, tmp_path / "seg_svc")
    for img, got, in_proc, want in zip(vision_case["images"], served, local,
                                       vision_case["want"][SEG], strict=True):
        pdx = np.asarray(want["pred"]).reshape(-1, *cv2.imread(str(img)).shape[:2])[0]
        assert len(np.unique(pdx)) >= 3, f"{img.name}: degenerate label map"
        for answer, where in ((got, "served"), (in_proc, "in process")):
            label_map = decode_label_map(answer["label_map"])
            assert label_map.shape == pdx.shape, (where, img.name)
            mismatch = float(np.mean(label_map != pdx))
            assert mismatch <= SEG_MISMATCH, f"{where} {img.name}: {mismatch:.4%} pixels differ"
