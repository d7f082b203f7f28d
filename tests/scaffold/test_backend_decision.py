"""The backend decision rule on given per-round timings (no timing luck): a candidate replaces
the reference only when >= 10 % faster on the median and faster in most paired rounds; near
ties keep the earlier (simpler) candidate, so the same samples always give the same choice."""

from __future__ import annotations

import pytest

from generator.scaffold.backend_decision import MARGIN, decide, spread

REF = [0.100, 0.104, 0.098, 0.120, 0.101]  # median 0.101


def test_a_candidate_inside_the_margin_does_not_replace_the_reference():
    # 5 % faster on the median (PicoDet's oneDNN-PIR vs oneDNN-off): inside the noise
    cand = [r * 0.95 for r in REF]
    label, why = decide(REF, {"paddle oneDNN (PIR)": cand})
    assert label is None
    assert ">= 10% on the median" in why and "paddle oneDNN (PIR) within that margin" in why


def test_a_clearly_faster_candidate_replaces_the_reference():
    label, why = decide(REF, {"paddle oneDNN (PIR)": [r * 0.5 for r in REF]})
    assert label == "paddle oneDNN (PIR)" and why.startswith("2.00x")


def test_the_margin_boundary_is_on_the_median():
    just = [r * (1 - MARGIN) for r in REF]
    assert decide(REF, {"x": just})[0] == "x"
    assert decide(REF, {"x": [v * 1.001 for v in just]})[0] is None


def test_a_faster_median_from_one_lucky_stretch_needs_most_rounds_too():
    # median 30 % lower, but slower than the reference in 3 of 5 paired rounds
    ref = [0.100, 0.100, 0.060, 0.060, 0.100]
    cand = [0.050, 0.050, 0.070, 0.070, 0.110]
    assert spread(cand).median <= 0.9 * spread(ref).median
    assert decide(ref, {"x": cand})[0] is None
    cand[2] = 0.055  # now faster in 3 of 5
    assert decide(ref, {"x": cand})[0] == "x"


def test_near_tie_between_two_fast_backends_keeps_the_earlier_one():
    fast = {"openvino fp32": [r * 0.40 for r in REF],
            "onnxruntime fp32": [r * 0.38 for r in REF]}  # 5 % apart: inside the margin
    label, why = decide(REF, fast)
    assert label == "openvino fp32" and "onnxruntime fp32 is within 10%" in why
    # swapped order: the rule follows the candidate order, deterministically
    assert decide(REF, dict(reversed(list(fast.items()))))[0] == "onnxruntime fp32"
    # clearly faster wins regardless of order
    clear = {"openvino fp32": [r * 0.40 for r in REF],
             "onnxruntime fp32": [r * 0.30 for r in REF]}
    assert decide(REF, clear)[0] == "onnxruntime fp32"


def test_same_samples_same_choice_and_spread_figures():
    cands = {"a": [r * 0.7 for r in REF], "b": [r * 0.65 for r in REF]}
    assert {decide(REF, cands) for _ in range(5)} == {decide(REF, cands)}
    s = spread([0.010, 0.012, 0.011])
    assert (s.median, s.low, s.high) == (0.011, 0.010, 0.012)
    assert s.text() == "    11.0 ms [10.0-12.0]"
    assert decide(REF, {}) == (None, "no other candidate with the same outputs")
    with pytest.raises(ValueError, match="margin"):
        decide(REF, cands, margin=1.5)


def test_service_extras_carry_only_the_chosen_backends_runtime():
    from generator.scaffold.backend_choice import service_extras

    assert service_extras("cpu", "paddle") == "paddle-cpu"
    assert service_extras("cpu", "openvino") == "paddle-cpu,openvino"
    assert service_extras("cpu", "onnxruntime") == "paddle-cpu,onnxruntime"
    assert service_extras("gpu", "paddle") == "gpu"
    import configparser

    from tests.helpers.services import REPO_ROOT

    cfg = configparser.ConfigParser()
    cfg.read(REPO_ROOT / "setup.cfg")
    extras = {k: set(v.split()) for k, v in cfg["options.extras_require"].items()}
    names = {k: {r.split(">")[0].split("=")[0] for r in v} for k, v in extras.items()}
    assert {"paddlepaddle", "openvino", "onnxruntime", "paddle2onnx", "onnx"} <= names["cpu"]
    assert names["paddle-cpu"] == {"paddlepaddle"}
    assert names["openvino"] == {"openvino"} and names["onnxruntime"] == {"onnxruntime"}
