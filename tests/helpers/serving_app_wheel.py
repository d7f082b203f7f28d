"""The real `paddle_serving_app` 0.9.0 wheel as a test oracle for the readers.

`app_wheel_dir()` runs `pip download --no-deps paddle-serving-app==0.9.0` once and unzips it
into `<repo>/.cache/paddle_serving_app-0.9.0` (gitignored); it calls `pytest.skip` when the
download fails (no network).

`run_original(wheel_dir, code)` runs `code` in a fresh interpreter where
`paddle_serving_app.reader.<module>` imports the wheel's own files. The packages' `__init__`
files do not run (synthetic package modules point into the wheel), and the few imports the
readers make but the tested code never uses are stubbed: `sentencepiece` (only WSSPTokenizer),
`paddle` / `paddle.fluid.incubate.data_generator` (IMDBDataset's unused base class; pptsn's
`isinstance(x, paddle.Tensor)` checks). The code must print one JSON line last; its value is
returned.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
APP_SPEC = "paddle-serving-app==0.9.0"
APP_CACHE_DIR = REPO_ROOT / ".cache" / "paddle_serving_app-0.9.0"
_MARKER = Path("paddle_serving_app", "reader", "tokenization.py")

_PREFIX = """\
import json, os, sys, types
_WHEEL = {wheel!r}
def _package(name, *parts):
    m = types.ModuleType(name)
    m.__path__ = [os.path.join(_WHEEL, *parts)]
    sys.modules[name] = m
    return m
def _stub(name, **attrs):
    m = types.ModuleType(name)
    m.__path__ = []
    m.__dict__.update(attrs)
    sys.modules[name] = m
    return m
_package("paddle_serving_app", "paddle_serving_app")
_package("paddle_serving_app.reader", "paddle_serving_app", "reader")
class Tensor:
    pass
_stub("paddle", Tensor=Tensor, float32="float32")
_stub("paddle.fluid")
_stub("paddle.fluid.incubate")
_stub("paddle.fluid.incubate.data_generator", MultiSlotDataGenerator=object)
_stub("sentencepiece")
"""


def app_wheel_dir() -> Path:
    """The unpacked paddle-serving-app 0.9.0 wheel (downloaded once, cached)."""
    if (APP_CACHE_DIR / _MARKER).is_file():
        return APP_CACHE_DIR
    APP_CACHE_DIR.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=APP_CACHE_DIR.parent, prefix=".app-wheel-") as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               "--disable-pip-version-check", "--quiet", APP_SPEC, "-d", tmp]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        except (OSError, subprocess.TimeoutExpired) as exc:
            pytest.skip(f"cannot download {APP_SPEC}: {exc}")
        wheels = sorted(Path(tmp).glob("*.whl"))
        if proc.returncode != 0 or not wheels:
            pytest.skip(f"cannot download {APP_SPEC}: {(proc.stderr or proc.stdout)[-300:]}")
        unpacked = Path(tmp, "unpacked")
        with zipfile.ZipFile(wheels[0]) as archive:
            archive.extractall(unpacked)
        if APP_CACHE_DIR.exists():
            shutil.rmtree(APP_CACHE_DIR)
        try:
            unpacked.rename(APP_CACHE_DIR)
        except OSError:
            if not (APP_CACHE_DIR / _MARKER).is_file():
                raise
    return APP_CACHE_DIR


def run_original(wheel_dir: Path, code: str, cwd: Path | None = None, timeout: float = 120) -> Any:
    """Run `code` against the wheel's reader modules; return the JSON of its last stdout line."""
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)  # the wheel's modules, never this repository's
    proc = subprocess.run([sys.executable, "-c", _PREFIX.format(wheel=str(wheel_dir)) + code],
                          capture_output=True, text=True, timeout=timeout, env=env,
                          cwd=cwd or REPO_ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])
