"""A first run without surprises: Paddle's noise hidden unless --verbose, the folder named as
the README says, one spelling of `-o weights=`, random weights remembered across `scaffold
export` -> `scaffold new --model-dir`, label_list.txt filled for classifiers, the generated
README's error table and response complete, log-friendly bench progress."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from scaffold_helpers import CONFIGS, scaffold

SCAFFOLD = Path(sys.executable).parent / "scaffold"
SEG = ["-c", str(CONFIGS / "segmentation.yml"), "-o", "model.args.backbone=mobilenet_v3_small",
       "-o", "model.args.input_size=[64,64]"]
GLOG_LINE = re.compile(r"^[IWE]\d{4} ", re.M)


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in __import__("os").environ.items()
           if k not in ("GLOG_minloglevel", "GLOG_v", "PYTHONWARNINGS")}
    return subprocess.run([str(SCAFFOLD), *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


@pytest.mark.slow
def test_paddle_noise_is_hidden_unless_verbose_and_random_weights_are_remembered(tmp_path):
    quiet = _cli("export", *SEG, "--output_dir", str(tmp_path / "q"), cwd=tmp_path)
    assert quiet.returncode == 0, quiet.stderr
    assert "No ccache found" not in quiet.stderr and not GLOG_LINE.search(quiet.stderr)
    assert "[export] exported to" in quiet.stderr  # progress lines stay
    loud = _cli("--verbose", "export", *SEG, "--no-verify", "--output_dir", str(tmp_path / "v"),
                cwd=tmp_path)
    assert loud.returncode == 0, loud.stderr
    assert "No ccache found" in loud.stderr or GLOG_LINE.search(loud.stderr)
    # exported without weights: the folder says so, and scaffold new --model-dir repeats it
    exported = tmp_path / "q" / "segmentation"
    assert (exported / "RANDOM_WEIGHTS.txt").is_file()
    assert "RANDOM weights" in quiet.stderr
    res = scaffold("new", "--model-dir", str(exported), "--dry-run", cwd=tmp_path)
    assert res.exit_code == 0, res.output
    assert "RANDOM weights" in res.output and "-o weights=PATH.pdparams" in res.output


def test_the_folder_is_named_after_the_config_and_weights_have_one_spelling(tmp_path):
    res = scaffold("new", "--config", str(CONFIGS / "yolov3.yml"), "--dry-run", cwd=tmp_path)
    assert res.exit_code == 0, res.output
    assert f"would write {tmp_path / 'yolov3_serving'}/" in res.output
    assert "-o weights=PATH.pdparams" in res.output and "model.weights=" not in res.output


def test_classifier_label_list_has_one_line_per_class(generated):
    folder, _, _ = generated("classification")
    lines = (folder / "label_list.txt").read_text().splitlines()
    assert lines == [str(i) for i in range(1000)]


def test_generated_readme_lists_every_error_code_and_the_tensors_field(generated):
    readme = (generated("segmentation")[0] / "README.md").read_text()
    for code in ("3002", "5000", "6000", "7000", "8000", "8001", "10000"):
        assert f"| {code} |" in readme, code
    assert '"tensors": []' in readme
    assert "It listens on 127.0.0.1" in readme and "--host 0.0.0.0" in readme


def test_bench_progress_has_no_carriage_returns_in_a_log(capsys):
    from generator.quality.loadgen import run_level

    def factory():
        def send():
            time.sleep(0.01)
            return None
        return send

    result = run_level("grpc", 2, 1.0, factory, progress=True)
    err = capsys.readouterr().err
    assert result.requests > 0
    assert "\r" not in err and "grpc x2: done" in err



@pytest.mark.slow
def test_a_generated_service_starts_quietly(generated, tmp_path):
    import os
    import signal

    import requests

    from tests.helpers.services import REPO_ROOT

    folder, http_port, _ = generated("segmentation")
    env = {k: v for k, v in os.environ.items()
           if k not in ("GLOG_minloglevel", "GLOG_v", "PYTHONWARNINGS")}
    env["PYTHONPATH"] = str(REPO_ROOT)
    log = tmp_path / "service.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "web_service.py"], cwd=folder, env=env,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            deadline = time.monotonic() + 120
            while True:
                assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
                try:
                    if requests.get(f"http://127.0.0.1:{http_port}/health/ready",
                                    timeout=1).status_code == 200:
                        break
                except requests.RequestException:
                    pass
                time.sleep(0.3)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
    text = log.read_text()
    assert "starting /" in text
    assert "No ccache found" not in text and not GLOG_LINE.search(text), text
