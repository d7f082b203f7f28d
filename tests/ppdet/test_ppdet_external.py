"""`--ppdet-root`: running PaddleDetection's exporter (here a stand-in script) in a subprocess."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ppdet_paths import FIXTURES

from generator.ppdet.errors import ExporterError
from generator.ppdet.external import run_ppdet_exporter

STAND_IN = '''
import argparse, json, os, sys
p = argparse.ArgumentParser()
p.add_argument("-c", "--config", required=True)
p.add_argument("-o", "--opt", nargs="*", default=[])
p.add_argument("--output_dir", default="output_inference")
a = p.parse_args()
mode = os.environ.get("STAND_IN_MODE", "ok")
if mode == "fail":
    print("Traceback (most recent call last):", file=sys.stderr)
    print("ValueError: Config use_gpu cannot be set as true", file=sys.stderr)
    sys.exit(3)
name = os.path.splitext(os.path.basename(a.config))[0]
out = os.path.join(a.output_dir, name)
os.makedirs(out, exist_ok=True)
with open(os.path.join(out, "call.json"), "w") as f:
    json.dump({"opt": a.opt, "cwd": os.getcwd(), "config": a.config}, f)
if mode == "ok":
    with open(os.path.join(out, "infer_cfg.yml"), "w") as f:
        f.write("mode: paddle\\narch: RCNN\\n")
    for fn in ("model.json", "model.pdiparams"):
        open(os.path.join(out, fn), "wb").close()
'''

CONFIG = FIXTURES / "configs" / "other" / "tiny_rcnn.yml"


@pytest.fixture
def ppdet_root(tmp_path: Path) -> Path:
    root = tmp_path / "PaddleDetection"
    (root / "tools").mkdir(parents=True)
    (root / "tools" / "export_model.py").write_text(STAND_IN)
    return root


def test_runner_returns_exported_dir_and_forces_cpu(ppdet_root, tmp_path):
    out = run_ppdet_exporter(
        ppdet_root, CONFIG, ["weights=w.pdparams", "use_gpu=true"], tmp_path / "out",
        use_gpu=False,
    )  # fmt: skip
    assert out == (tmp_path / "out" / "tiny_rcnn").resolve()
    assert (out / "infer_cfg.yml").is_file() and (out / "model.json").is_file()
    call = json.loads((out / "call.json").read_text())
    assert call["opt"] == ["weights=w.pdparams", "use_gpu=false"]
    assert Path(call["cwd"]) == ppdet_root.resolve()
    assert Path(call["config"]) == CONFIG.resolve()


def test_runner_reports_failure_with_stderr_tail(ppdet_root, tmp_path, monkeypatch):
    monkeypatch.setenv("STAND_IN_MODE", "fail")
    with pytest.raises(ExporterError, match=r"exit code 3(.|\n)*use_gpu cannot be set"):
        run_ppdet_exporter(ppdet_root, CONFIG, [], tmp_path / "out", use_gpu=False)


def test_runner_reports_missing_output_and_missing_script(ppdet_root, tmp_path, monkeypatch):
    monkeypatch.setenv("STAND_IN_MODE", "nomodel")
    with pytest.raises(ExporterError, match="wrote no model(.|\n)*call.json"):
        run_ppdet_exporter(ppdet_root, CONFIG, [], tmp_path / "out", use_gpu=False)
    with pytest.raises(ExporterError, match="PaddleDetection checkout"):
        run_ppdet_exporter(tmp_path / "nowhere", CONFIG, [], tmp_path / "out")
