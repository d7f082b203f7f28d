"""`scaffold export` / `scaffold convert` through click, and one real subprocess run."""

from __future__ import annotations

import subprocess
import sys

import pytest
from click.testing import CliRunner

from generator.commands.convert import command as convert_cmd
from generator.commands.export import command as export_cmd
from generator.commands.export import parse_bool
from generator.serving_model.model_config import read_model_config


@pytest.mark.parametrize("text, value", [("True", True), ("False", False), ("false", False),
                                         ("1", True), ("0", False), ("yes", True), ("no", False)])
def test_parse_bool(text, value):
    assert parse_bool(text) is value


def test_export_cli_flags(configs, tmp_path):
    runner = CliRunner()
    out = tmp_path / "inference"
    res = runner.invoke(export_cmd, ["-c", str(configs / "tiny.yml"), "-o", "model.args.hidden=3",
                                     "name=tinyx", "--output_dir", str(out),
                                     "--export_serving_model", "False"])
    assert res.exit_code == 0, res.output
    names = sorted(p.name for p in (out / "tiny").iterdir())
    # False really is False (no serving folders); no weights given: RANDOM_WEIGHTS.txt says so
    assert names == ["RANDOM_WEIGHTS.txt", "infer_cfg.yml", "model.json", "model.pdiparams"]
    assert "parity PASS" in res.stderr


@pytest.mark.parametrize("args, code, msg", [
    (["--export_serving_model", "Flase"], 2, "not a boolean"),
    (["-o", "model.args"], 2, "malformed override"),
    (["--fixed_input_shape", "[1,2,3]"], 2, "fixed_input_shape"),
    (["-o", "modell.args.hidden=2"], 2, "did you mean 'model'"),
    (["-o", "model.weights=http://example.com/w.pdparams"], 1, "download"),
])
def test_export_cli_errors(configs, tmp_path, args, code, msg):
    out = tmp_path / "o"
    res = CliRunner().invoke(export_cmd, ["-c", str(configs / "tiny.yml"), "--output_dir",
                                          str(out), *args])
    assert res.exit_code == code, res.output
    assert msg in res.output
    assert not out.exists() or list(out.iterdir()) == []


def test_convert_cli(pir_export, tmp_path):
    res = CliRunner().invoke(convert_cmd, [
        "--dirname", str(pir_export.model_dir), "--serving_server", str(tmp_path / "srv"),
        "--serving_client", str(tmp_path / "cli"), "--fetch_alias_names", "p,a",
        "--model_filename", "model.json", "--params_filename", "model.pdiparams",
        "--show_proto"])
    assert res.exit_code == 0, res.output
    assert 'alias_name: "p"' in res.stdout and "feed vars:  x, b" in res.stdout
    assert [v.alias_name for v in read_model_config(tmp_path / "srv").fetch_vars] == ["p", "a"]
    bad = CliRunner().invoke(convert_cmd, ["--dirname", str(pir_export.model_dir),
                                           "--serving_server", str(tmp_path / "s2"),
                                           "--feed_alias_names", "only_one"])
    assert bad.exit_code == 2 and "--feed_alias_names has 1" in bad.output


def test_real_subprocess_export(configs, tmp_path):
    proc = subprocess.run(
        [sys.executable, "-c", "from generator.cli import main; main()", "export",
         "-c", str(configs / "embed.yml"), "--output_dir", str(tmp_path / "out"),
         "--fixed_input_shape", "[1,3,8,8]"],
        capture_output=True, text=True, timeout=300, check=False)
    # embed has no 4-D input: a clear error, non-zero exit, nothing left behind
    assert proc.returncode == 2 and "needs a 4-D image input" in proc.stderr
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []
    proc = subprocess.run(
        [sys.executable, "-c", "from generator.cli import main; main()", "export",
         "-c", str(configs / "embed.yml"), "--output_dir", str(tmp_path / "out"),
         "--export_serving_model=true"],
        capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "[export] tracing" in proc.stderr and "done (" in proc.stderr
    conf = read_model_config(tmp_path / "out" / "embed" / "serving_server")
    assert [v.name for v in conf.feed_vars] == ["x0", "x1"]
