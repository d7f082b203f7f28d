"""The serving configuration chosen by measurement: the decision rule on given samples, the
config.yml edit, and a real short sweep inside `scaffold new --sweep` on a small model."""

from __future__ import annotations

import os

import pytest
import yaml
from scaffold_helpers import scaffold

from generator.runtime.config import load_pipeline_config
from generator.scaffold.serving_sweep import (
    Sample,
    ServingCandidate,
    SweepResult,
    candidates,
    decide,
    write_choice,
)

BASE, TWO, TWO_B4 = ServingCandidate(1, 2, 1), ServingCandidate(2, 1, 1), ServingCandidate(2, 1, 4)


def _runs(*ips: float, p50: float = 50.0, errors: int = 0) -> list[Sample]:
    return [Sample(v, p50, errors) for v in ips]


def test_candidates_share_the_cores_and_start_with_one_instance_on_all_of_them():
    assert candidates(2) == [ServingCandidate(1, 2, 1), ServingCandidate(1, 2, 4),
                             ServingCandidate(2, 1, 1, "process"),
                             ServingCandidate(2, 1, 4, "process")]
    assert all(c.instances * c.threads <= 8 for c in candidates(8))
    assert candidates(1) == [ServingCandidate(1, 1, 1), ServingCandidate(1, 1, 4)]
    # backends that release the GIL: several instances as threads too; OCR: batch 1 only
    assert candidates(2, (1,), ("thread", "process")) == [
        ServingCandidate(1, 2, 1), ServingCandidate(2, 1, 1, "thread"),
        ServingCandidate(2, 1, 1, "process")]


def test_the_space_follows_the_backends_and_the_number_of_model_ops():
    from generator.scaffold.serving_sweep import _space, model_ops

    def conf(*backends):
        return {"op": {"read": {}, **{f"m{i}": {"local_service_conf": {
            "model_config": f"m{i}/serving_server", "backend": b}}
            for i, b in enumerate(backends)}}}

    assert model_ops(conf("paddle", "onnxruntime")) == ["m0", "m1"]
    assert _space(conf("paddle"), ["m0"]) == {"batch_sizes": (1, 4), "kinds": ("process",)}
    assert _space(conf("openvino"), ["m0"])["kinds"] == ("thread", "process")
    c = conf("onnxruntime", "paddle")
    assert _space(c, model_ops(c)) == {"batch_sizes": (1,), "kinds": ("process",)}


def test_more_candidates_get_shorter_windows_within_the_budget():
    from generator.scaffold.serving_sweep import MEASURE_BUDGET_S, ROUNDS, WINDOW_S, window_for

    kinds = ("thread", "process")
    assert window_for(len(candidates(2, (1, 4), kinds)), ROUNDS) == WINDOW_S  # 6 on 2 cores
    many = len(candidates(16, (1, 4), kinds))
    assert many == 10
    assert window_for(many, ROUNDS) * many * ROUNDS == pytest.approx(MEASURE_BUDGET_S)
    assert window_for(many, ROUNDS) < WINDOW_S


def test_a_clear_margin_in_most_rounds_replaces_the_baseline():
    chosen, reason = decide({BASE: _runs(100, 90, 110), TWO: _runs(150, 140, 160)},
                            latency_bound_ms=1000)
    assert chosen == TWO and "1.50x" in reason


def test_noise_does_not_flip_the_choice():
    # better in one round by 30 %, worse or equal in the others: the median ratio is < 1.1
    chosen, reason = decide({BASE: _runs(100, 100, 100), TWO: _runs(130, 95, 104)},
                            latency_bound_ms=1000)
    assert chosen == BASE and "10%" in reason


def test_a_candidate_that_loses_two_rounds_does_not_win_on_its_median():
    samples = {BASE: _runs(100, 100, 100, 100, 100), TWO: _runs(130, 125, 120, 90, 95)}
    assert decide(samples, latency_bound_ms=1000)[0] == BASE  # median 1.2, but two rounds lost
    samples[TWO] = _runs(130, 125, 120, 90, 115)
    assert decide(samples, latency_bound_ms=1000)[0] == TWO


def test_the_latency_bound_and_errors_disqualify():
    samples = {BASE: _runs(100, 100, 100), TWO: _runs(300, 300, 300, p50=2000),
               TWO_B4: _runs(400, 400, 400, errors=1)}
    assert decide(samples, latency_bound_ms=1000)[0] == BASE
    assert decide(samples, latency_bound_ms=5000)[0] == TWO


def test_a_later_candidate_must_beat_the_current_best_not_the_baseline():
    samples = {BASE: _runs(100, 100, 100), TWO: _runs(200, 200, 200), TWO_B4: _runs(210, 205, 215)}
    assert decide(samples, latency_bound_ms=1000)[0] == TWO


def test_write_choice_sets_the_keys_with_the_figures_as_a_comment(tmp_path):
    cfg = tmp_path / "config.yml"
    cfg.write_text("rpc_port: 19000\nhttp_port: 19001\nop:\n  classification:\n"
                   "    # threads\n    concurrency: 1\n    batch_size: 1\n"
                   "    local_service_conf:\n      model_config: serving_server\n"
                   "      thread_num: 2\n")
    chosen = ServingCandidate(2, 1, 4, "process")
    result = SweepResult(chosen, {BASE: _runs(100), chosen: _runs(180)}, "1.80x")
    write_choice(cfg, ["classification"], result)
    text = cfg.read_text()
    assert "# serving configuration chosen by measurement" in text and "180.0 req/s" in text
    assert "* 2 inst x 1 thr (processes), batch 4" in text
    op = load_pipeline_config(str(cfg))["op"]["classification"]
    assert (op["concurrency"], op["batch_size"], op["worker_kind"]) == (2, 4, "process")
    assert op["local_service_conf"]["thread_num"] == 1


def test_write_choice_sets_every_model_op_of_a_two_stage_service(tmp_path):
    cfg = tmp_path / "config.yml"
    op = ("    concurrency: 1\n    batch_size: 1\n    local_service_conf:\n"
          "      model_config: {}/serving_server\n      thread_num: 2\n")
    cfg.write_text("rpc_port: 19000\nhttp_port: 19001\nop:\n  det:\n" + op.format("det")
                   + "  rec:\n" + op.format("rec"))
    chosen = ServingCandidate(2, 1, 1, "thread")
    write_choice(cfg, ["det", "rec"], SweepResult(chosen, {BASE: _runs(50), chosen: _runs(80)}))
    conf = load_pipeline_config(str(cfg))
    for name in ("det", "rec"):
        o = conf["op"][name]
        assert (o["concurrency"], o["worker_kind"], o["local_service_conf"]["thread_num"]) \
            == (2, "thread", 1)
    assert cfg.read_text().count("chosen by measurement") == 1


@pytest.mark.slow
def test_scaffold_new_sweeps_by_default_and_writes_the_measured_choice(generated, tmp_path,
                                                                      monkeypatch):
    source, _, _ = generated("classification")
    out = tmp_path / "svc"
    monkeypatch.delenv("SCAFFOLD_SWEEP")  # the suite's conftest turns the default off
    # a --model-dir relative to the working directory: the sweep starts candidates from
    # folders it deletes afterwards, and the path must still resolve when the record is written
    monkeypatch.chdir(source.parent)
    res = scaffold("new", "--model-dir", source.name, "--output", str(out), "--no-vendor",
                   "--backend", "paddle")
    assert res.exit_code == 0, res.output
    assert "serving: " in res.output and "req/s" in res.output and "measured in" in res.output
    chosen = [ln for ln in res.output.splitlines() if ln.startswith("* ")
              and "inst x" in ln]
    assert len(chosen) == 1, res.output
    conf = load_pipeline_config(str(out / "config.yml"))
    op = conf["op"]["classification"]
    picked = ServingCandidate(op["concurrency"], op["local_service_conf"]["thread_num"],
                              op["batch_size"], op["worker_kind"])
    assert picked.label in chosen[0]
    assert picked in candidates(os.cpu_count() or 1)  # Paddle: several instances in processes
    text = (out / "config.yml").read_text()
    assert "serving configuration chosen by measurement" in text
    # the candidates skipped the startup probe; the written service keeps it
    assert op["local_service_conf"]["startup_probe"] is True
    assert not list(tmp_path.glob(".sweep-*"))  # the probe folders are gone
    assert os.getcwd() == str(source.parent)
    record = yaml.safe_load((out / ".scaffold.yml").read_text())
    assert record["inputs"]["model_dir"] == str(source.resolve())


@pytest.mark.slow
def test_an_ocr_service_gets_the_sweep_on_every_model_op(tmp_path, monkeypatch):
    from tests.helpers import toolkit_exports as te

    det = te.save_ppocr_det(tmp_path / "det").model_dir
    rec = te.save_ppocr_rec(tmp_path / "rec").model_dir
    out = tmp_path / "ocr_svc"
    monkeypatch.delenv("SCAFFOLD_SWEEP")
    res = scaffold("new", "--model-dir", str(det), "--model-dir", str(rec), "--output", str(out),
                   "--no-vendor", "--backend", "onnxruntime")
    assert res.exit_code == 0, res.output
    rows = [ln for ln in res.output.splitlines() if "inst x" in ln and "req/s" in ln]
    # ONNX Runtime releases the GIL: several instances measured as threads and as processes
    assert any("(threads)" in ln for ln in rows) and any("(processes)" in ln for ln in rows)
    assert not any("batch 4" in ln for ln in rows), rows
    conf = load_pipeline_config(str(out / "config.yml"))
    picked = {ServingCandidate(o["concurrency"], o["local_service_conf"]["thread_num"],
                               o["batch_size"], o["worker_kind"])
              for o in (conf["op"]["det"], conf["op"]["rec"])}
    assert len(picked) == 1, picked  # one candidate, on both stages
    [cand] = picked
    assert [ln for ln in rows if ln.startswith("* ")] == [
        ln for ln in rows if ln.startswith(f"* {cand.label}")]
    assert (out / "config.yml").read_text().count("chosen by measurement") == 1


def test_a_model_converted_for_batch_one_is_swept_at_batch_one(tmp_path):
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    from generator.runtime.inference.backends import onnx_names as on
    from generator.scaffold.serving_sweep import _space

    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    model = helper.make_model(graph)
    def entry(name: str) -> str:
        return f'[{{"onnx": "{name}", "paddle": "{name}", "dtype": "float32"}}]'

    for limit, want in ((None, (1, 4)), ("1", (1,))):
        meta = {on.METADATA_INPUTS: entry("x"), on.METADATA_OUTPUTS: entry("y")}
        if limit:
            meta[on.METADATA_MAX_BATCH] = limit
        del model.metadata_props[:]
        helper.set_model_props(model, meta)
        (tmp_path / "m").mkdir(exist_ok=True)
        onnx.save(model, str(tmp_path / "m" / on.ONNX_FILENAME))
        conf = {"op": {"det": {"local_service_conf": {"model_config": "m",
                                                      "backend": "onnxruntime"}}}}
        assert _space(conf, ["det"], tmp_path)["batch_sizes"] == want
        conf["op"]["det"]["local_service_conf"]["backend"] = "paddle"  # reads the program
        assert _space(conf, ["det"], tmp_path)["batch_sizes"] == (1, 4)


def test_scaffold_new_skips_the_sweep_for_a_heavy_model(tmp_path):
    """The default YOLOv3 (~350 ms an image here) swept for 9 minutes in `make serve`."""
    from types import SimpleNamespace

    from generator.runtime.inference.probe import ProbeResult
    from generator.scaffold.backend_choice import BackendChoice, Candidate, Measured
    from generator.scaffold.serving_sweep import HEAVY_MS, sweep_into

    def choice(ms: float) -> BackendChoice:
        cand = Candidate("openvino fp32", "openvino", False, "legacy")
        return BackendChoice(cand, [Measured(cand, ProbeResult(rounds_s=[ms / 1000] * 3),
                                             parity_ok=True)])

    plan = SimpleNamespace(settings=SimpleNamespace(device="cpu"), task="detection",
                           backend=choice(HEAVY_MS * 7), sweep_note="", sweep_warning="")
    assert sweep_into(plan, tmp_path / "not_started") is None  # nothing was started
    assert "350 ms" in plan.sweep_note and "scaffold bench --configs" in plan.sweep_note
    # OCR: the slowest stage decides
    plan.backend = SimpleNamespace(choices={"det": choice(HEAVY_MS * 2), "rec": choice(1.0)})
    plan.sweep_note = ""
    assert sweep_into(plan, tmp_path / "not_started") is None and "100 ms" in plan.sweep_note
