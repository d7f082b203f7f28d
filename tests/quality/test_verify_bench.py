"""`scaffold verify` and `scaffold bench` on a small generated service (real subprocess
services, real gRPC and HTTP)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from generator.cli import main
from tests.helpers.services import free_port

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    out = tmp_path_factory.mktemp("svc") / "det_serving"
    result = CliRunner().invoke(main, [
        "new", "--config", str(REPO / "serving_configs" / "yolov3.yml"),
        "-o", "model.args.image_shape=[3,64,64]", "-o", "service.draw_threshold=0.05",
        "--output", str(out), "--http-port", str(free_port()), "--rpc-port", str(free_port())])
    assert result.exit_code == 0, result.output
    return out


def _run(args):
    return CliRunner().invoke(main, args, catch_exceptions=False)


def test_verify_passes_on_a_generated_service(service):
    result = _run(["verify", str(service), "--count", "2"])
    assert result.exit_code == 0, result.output
    assert "verify PASS" in result.output
    rows = [line for line in result.output.splitlines() if re.match(r"^(grpc|http|dynamic)", line)]
    assert {r.split()[0] for r in rows} == {"grpc", "http", "dynamic"}
    assert all(" pass " in r for r in rows)
    assert re.search(r"grpc generated_0\.jpg .* pass +\d+ boxes", result.output)


def test_verify_fails_when_the_served_preprocessing_drifts(service, tmp_path):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(service, broken)
    cfg = broken / "infer_cfg.yml"
    cfg.write_text(cfg.read_text().replace("- 0.485", "- 0.3"))  # a wrong NormalizeImage mean
    result = _run(["verify", str(broken), "--count", "2", "--protocol", "grpc", "--no-dynamic"])
    assert result.exit_code == 1, result.output
    assert "verify FAIL" in result.output and "no served box matches" in result.output


def test_bench_reports_sane_numbers_and_no_errors(service):
    result = _run(["bench", str(service), "--concurrency", "1,2", "--duration", "1.5",
                   "--protocol", "both", "--baseline-seconds", "0.3", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)  # progress lines go to stderr
    assert report["inprocess"]["best_images_per_s"] > 0
    # --baseline-seconds bounds the whole baseline: batch 1 always, larger ones while it lasts
    assert "1" in report["inprocess"]["images_per_s_by_batch"]
    assert set(report["inprocess"]["images_per_s_by_batch"]) <= {"1", "2", "4", "8", "16"}
    levels = {(lv["protocol"], lv["concurrency"]): lv for lv in report["levels"]}
    assert set(levels) == {("grpc", 1), ("grpc", 2), ("http", 1), ("http", 2)}
    for lv in levels.values():
        assert lv["errors"] == 0 and lv["requests"] > 0
        assert 0 < lv["p50_ms"] <= lv["p90_ms"] <= lv["p99_ms"]
        assert lv["qps"] == pytest.approx(lv["requests"] / lv["seconds"], rel=1e-2)
        assert lv["ratio_to_inprocess"] > 0


def test_the_baseline_is_one_predictor_on_every_thread_of_the_instances(service):
    from generator.quality.bench import baseline_conf
    from generator.quality.service_dir import open_service_dir

    sd = open_service_dir(service)
    sd.instances, sd.backend_conf = 2, {**sd.backend_conf, "thread_num": 1}
    assert baseline_conf(sd) == {**sd.backend_conf, "thread_num": 2}
    sd.instances = 1
    assert baseline_conf(sd)["thread_num"] == 1


def test_bench_rejects_bad_levels_and_missing_folder(tmp_path, service):
    bad = _run(["bench", str(service), "--concurrency", "0,x"])
    assert bad.exit_code == 2 and "positive integers" in bad.output
    missing = _run(["verify", str(tmp_path)])
    assert missing.exit_code == 2 and "not a service folder" in missing.output


def test_a_mixed_window_loads_both_protocols(service):
    from generator.quality.mixed_load import mixed_window
    from generator.quality.service_dir import open_service_dir, start_service, stop_service

    sd = open_service_dir(service)
    image = (REPO / "tests" / "data" / "shapes_320x240.jpg").read_bytes()
    proc = start_service(sd)
    try:
        w = mixed_window(sd.rpc_port, sd.http_port, sd.name, image, 4, 1.0)
        assert w.errors == 0 and w.rps > 0 and w.p50_ms > 0
        # half the clients are HTTP: a closed HTTP port fails the window
        with pytest.raises(OSError):
            mixed_window(sd.rpc_port, free_port(), sd.name, image, 4, 0.5)
        grpc_only = mixed_window(sd.rpc_port, None, sd.name, image, 2, 0.5)
        assert grpc_only.errors == 0 and grpc_only.rps > 0
    finally:
        stop_service(proc)
