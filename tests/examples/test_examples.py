"""The examples run as their READMEs say: the `scaffold` commands of each README's bash blocks
are executed (from a scratch folder standing in for the repository root), then the generated
service is used as the README shows (infer.py; for custom_factory also the running service and
both clients)."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from generator.service import OPS_BY_TASK, LocalService
from tests.helpers.services import REPO_ROOT, free_port, service_env, start_service, stop_service

pytestmark = pytest.mark.slow

EXAMPLES = REPO_ROOT / "examples"
IMAGE = REPO_ROOT / "tests" / "data" / "shapes_320x240.jpg"


def _bash_lines(readme: Path) -> list[str]:
    """The command lines of the README's ```bash blocks."""
    blocks = re.findall(r"```bash\n(.*?)```", readme.read_text(encoding="utf-8"), re.S)
    return [line.strip() for block in blocks for line in block.splitlines() if line.strip()]


def _absolute(word: str) -> str:
    """Repository-relative paths of the README -> absolute paths (the test runs elsewhere)."""
    for prefix in ("examples/", "serving_configs/"):
        if word.startswith(prefix):
            return str(REPO_ROOT / word)
    if word.endswith("tests/data/shapes_320x240.jpg"):
        return str(IMAGE)
    return word


def _run_scaffold_lines(readme: Path, cwd: Path, extra: dict[str, list[str]] | None = None):
    """Run every `scaffold ...` line of the README in-process, in `cwd`."""
    from generator.cli import main

    ran = []
    for line in _bash_lines(readme):
        words = shlex.split(line, comments=True)
        if words[0] != "scaffold":
            continue
        args = [_absolute(w) for w in words[1:]] + (extra or {}).get(words[1], [])
        old = Path.cwd()
        os.chdir(cwd)
        try:
            res = CliRunner().invoke(main, args, catch_exceptions=False)
        finally:
            os.chdir(old)
        assert res.exit_code == 0, f"{line}\n{res.output}"
        ran.append(words[1])
    return ran


def _python(folder: Path, line: str) -> subprocess.CompletedProcess:
    words = [_absolute(w) for w in shlex.split(line, comments=True)][1:]
    return subprocess.run([sys.executable, *words], cwd=folder, env=service_env(),
                          capture_output=True, text=True, timeout=120)


def test_custom_factory_example(tmp_path):
    readme = EXAMPLES / "custom_factory" / "README.md"
    http_port, rpc_port = free_port(), free_port()
    ran = _run_scaffold_lines(readme, tmp_path, extra={
        "new": ["--http-port", str(http_port), "--rpc-port", str(rpc_port)]})
    assert ran == ["export", "new"]
    exported = tmp_path / "output_inference" / "two_view_net"
    assert (exported / "model.json").is_file() and (exported / "serving_server").is_dir()
    folder = tmp_path / "two_view_net_serving"
    lines = [ln for ln in _bash_lines(readme) if ln.startswith("python ")]
    infer = _python(folder, next(ln for ln in lines if ln.startswith("python infer.py")))
    assert infer.returncode == 0, infer.stderr
    local = json.loads(infer.stdout.strip().splitlines()[-1])["result"]["image"]
    assert len(local) == 2 and {d["label"] for d in local} <= {
        "circle", "square", "triangle", "no shape"}
    proc = start_service(["web_service.py"], folder, http_port)
    try:
        for line in lines:
            if "client" not in line:
                continue
            line = line.replace("--port 18090", f"--port {http_port}").replace(
                "--port 18091", f"--port {rpc_port}")
            out = _python(folder, line)
            assert out.returncode == 0, out.stderr
            served = json.loads(out.stdout.strip().splitlines()[-1])["result"]["image"]
            assert [d["category_id"] for d in served] == [d["category_id"] for d in local]
            assert [d["score"] for d in served] == pytest.approx([d["score"] for d in local],
                                                                  rel=1e-5)
    finally:
        stop_service(proc)


def test_ppdet_model_dir_example(tmp_path):
    readme = EXAMPLES / "ppdet_model_dir" / "README.md"
    assert _run_scaffold_lines(readme, tmp_path) == ["export", "new"]
    exported = tmp_path / "output_inference" / "yolov3"
    # the PaddleDetection layout: program + params + infer_cfg.yml, no serving folders (and
    # RANDOM_WEIGHTS.txt: exported without weights, which scaffold new --model-dir repeats)
    assert sorted(p.name for p in exported.iterdir()) == [
        "RANDOM_WEIGHTS.txt", "infer_cfg.yml", "model.json", "model.pdiparams"]
    folder = tmp_path / "yolov3_serving"
    assert "/yolov3/prediction" in (folder / "README.md").read_text()
    line = next(ln for ln in _bash_lines(readme) if ln.startswith("python infer.py"))
    infer = _python(folder, line)
    assert infer.returncode == 0, infer.stderr
    got = json.loads(infer.stdout.strip().splitlines()[-1])["result"]["image"]
    op = OPS_BY_TASK["detection"](name="d", deploy_config=exported / "infer_cfg.yml")
    # the PaddleDetection folder, converted by hand, gives the same answer
    from generator.export.convert import inference_model_to_serving

    inference_model_to_serving(exported, tmp_path / "ref_server", tmp_path / "ref_client")
    want = LocalService(op, tmp_path / "ref_server").predict_images(
        {"image": IMAGE.read_bytes()})["image"]
    assert got == want
