"""A generated service folder installs and serves away from this repository: copied alone to a
new place, a new venv, `pip install -r requirements.txt` (this package from vendor/), `python
web_service.py`, a request answered.

The new venv sees the dependencies (Paddle, grpcio, ...) through a folder of links to this
venv's packages: only the distributions the vendored wheel declares (transitively), without
paddle-serving-scaffold itself, so the test needs no network and a dependency missing from
setup.cfg fails it; on a fresh machine pip takes them from PyPI.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
import zipfile
from pathlib import Path

import pytest
import requests
import yaml
from scaffold_helpers import IMAGE, SERVICES, scaffold

from generator import __version__
from tests.helpers.services import REPO_ROOT, free_port

pytestmark = pytest.mark.slow


def _closure(requirements: list[str], extras: set[str]) -> set[str]:
    """The installed distributions `requirements` need, transitively (markers evaluated)."""
    from importlib import metadata

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    seen: set[str] = set()
    todo = [(r, extras) for r in requirements]
    while todo:
        text, wanted = todo.pop()
        req = Requirement(text)
        if req.marker is not None and not any(
                req.marker.evaluate({"extra": e}) for e in (wanted or {""})):
            continue
        name = canonicalize_name(req.name)
        if name in seen:
            continue
        seen.add(name)
        try:
            dist = metadata.distribution(req.name)
        except metadata.PackageNotFoundError:
            continue  # pip reports it when installing
        todo += [(r, set(req.extras)) for r in dist.requires or []]
    return seen


def _dependency_overlay(root: Path, wheel: Path | None = None) -> Path:
    """Links to the site-packages entries of this venv's distributions. With `wheel`: only
    those its METADATA needs (paddle-serving-scaffold[cpu], transitively), so a dependency
    missing from setup.cfg fails the install as on a fresh machine."""
    from importlib import metadata

    from packaging.utils import canonicalize_name

    site = Path(sysconfig.get_paths()["purelib"])
    overlay = root / "deps"
    overlay.mkdir()
    allowed = None
    if wheel is not None:
        with zipfile.ZipFile(wheel) as zf:
            meta = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
            requires = [line.split(":", 1)[1].strip() for line in
                        zf.read(meta).decode().splitlines() if line.startswith("Requires-Dist:")]
        allowed = _closure(requires, {"cpu"})
    if wheel is not None:  # requirements.txt lists setuptools: Paddle imports it undeclared
        allowed.add("setuptools")
    entries: set[str] = set()
    for dist in metadata.distributions(path=[str(site)]):
        name = canonicalize_name(dist.metadata["Name"] or "")
        if name == "paddle-serving-scaffold" or (allowed is not None and name not in allowed):
            continue
        for file in dist.files or []:
            top = file.parts[0]
            if not top.endswith(".pth") and top not in ("..", "__pycache__"):
                entries.add(top)
    for top in sorted(entries):
        if (site / top).exists() and not (overlay / top).exists():
            (overlay / top).symlink_to(site / top)
    return overlay


def _new_venv(root: Path, wheel: Path | None = None) -> Path:
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()"
                              "['purelib'])"], capture_output=True, text=True, check=True)
    Path(purelib.stdout.strip(), "deps.pth").write_text(f"{_dependency_overlay(root, wheel)}\n")
    return python


def _clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["GLOG_minloglevel"] = "2"
    return env


def test_service_folder_installs_and_serves_on_its_own(generated, tmp_path):
    source, _, _ = generated("segmentation")
    wheels = list((source / "vendor").glob("paddle_serving_scaffold-*-py3-none-any.whl"))
    assert [w.name for w in wheels] == [f"paddle_serving_scaffold-{__version__}-py3-none-any.whl"]
    requirements = (source / "requirements.txt").read_text().splitlines()
    assert "--find-links vendor" in requirements and "setuptools" in requirements
    elsewhere = tmp_path / "elsewhere" / "seg_serving"
    shutil.copytree(source, elsewhere)
    http_port, rpc_port = free_port(), free_port()
    config = elsewhere / "config.yml"
    text = config.read_text()
    for key, port in (("http_port", http_port), ("rpc_port", rpc_port)):
        text = "\n".join(f"{key}: {port}" if line.startswith(f"{key}:") else line
                         for line in text.splitlines()) + "\n"
    config.write_text(text)

    python = _new_venv(tmp_path, wheel=wheels[0])  # only what the wheel declares it needs
    env = _clean_env()
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-index",
         "--disable-pip-version-check", "-q", "-r", "requirements.txt"],
        cwd=elsewhere, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    where = subprocess.run([str(python), "-c", "import generator; print(generator.__file__)"],
                           cwd=tmp_path, env=env, capture_output=True, text=True, check=True)
    assert str(tmp_path / "venv") in where.stdout and str(REPO_ROOT) not in where.stdout

    log = open(elsewhere / "service.log", "wb")  # noqa: SIM115 - closed below
    server = subprocess.Popen([str(python), "web_service.py"], cwd=elsewhere, env=env,
                              stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None, (elsewhere / "service.log").read_text()
            assert time.monotonic() < deadline, (elsewhere / "service.log").read_text()
            try:
                if requests.get(f"http://127.0.0.1:{http_port}/health/ready",
                                timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                pass
            time.sleep(0.3)
        name = yaml.safe_load((elsewhere / ".scaffold.yml").read_text())["inputs"]["name"]
        body = {"key": ["image"], "value": [base64.b64encode(IMAGE.read_bytes()).decode()]}
        answer = requests.post(f"http://127.0.0.1:{http_port}/{name}/prediction", json=body,
                               timeout=60).json()
        assert answer["err_no"] == 0, answer
        assert json.loads(answer["value"][0])  # a segmentation result
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def test_installed_package_is_repacked_into_a_wheel(tmp_path):
    """Installed from a wheel (no source tree), vendor/ gets the installed files packed back."""
    from generator.scaffold.vendor import _build_from_source, source_root

    built = _build_from_source(source_root())
    python = _new_venv(tmp_path)
    env = _clean_env()
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-index",
         "--no-deps", "-q", str(built)], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    dest = tmp_path / "vendor"
    code = ("import sys; from pathlib import Path; from generator.scaffold.vendor import "
            "vendor_wheel, source_root; assert source_root() is None; "
            f"print(vendor_wheel(Path({str(dest)!r})))")
    proc = subprocess.run([str(python), "-c", code], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    repacked = Path(proc.stdout.strip().splitlines()[-1])
    names = set(zipfile.ZipFile(repacked).namelist())
    assert names >= {n for n in zipfile.ZipFile(built).namelist()}
    assert "generator/scaffold/vendor.py" in names


def test_no_vendor_leaves_the_wheel_out(tmp_path):
    config, overrides = SERVICES["segmentation"]
    out = tmp_path / "svc"
    opts = [a for o in overrides for a in ("-o", o)]
    res = scaffold("new", "--config", str(config), *opts, "--output", str(out), "--no-vendor")
    assert res.exit_code == 0, res.output
    assert list((out / "vendor").iterdir()) == [out / "vendor" / "README.txt"]
    assert "--no-vendor" in (out / "requirements.txt").read_text()


def test_the_wheel_cache_keeps_the_recent_builds(tmp_path):
    import os

    from generator.scaffold.vendor import _prune

    slots = []
    for i in range(12):
        slot = tmp_path / f"slot{i:02d}"
        slot.mkdir()
        age = 3600 - i * 60 if i < 10 else 60  # the last two are fresh
        os.utime(slot, (time.time() - age, time.time() - age))
        slots.append(slot)
    keep = slots[0]  # the one just used is never removed, however old
    _prune(tmp_path, keep=keep, limit=4)
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == ["slot00", "slot09", "slot10", "slot11"]


def test_an_offline_build_packs_the_source_tree(tmp_path):
    """Without a build backend (pip wheel offline), the wheel is packed from the source tree
    with setup.cfg's metadata; it installs and finds its templates."""
    from generator.scaffold.vendor import source_root, zip_source

    wheel = zip_source(source_root(), tmp_path / "out")
    python = _new_venv(tmp_path)
    env = _clean_env()
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-index",
         "-q", str(wheel)], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr  # dependencies resolved from its METADATA
    code = ("from generator.scaffold.render import find_templates_dir; "
            "import generator; print(generator.__file__); print(find_templates_dir())")
    proc = subprocess.run([str(python), "-c", code], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    module, templates = proc.stdout.split()
    assert module.startswith(str(tmp_path / "venv"))
    assert templates.startswith(str(tmp_path / "venv")) and templates.endswith("templates")
    scaffold_bin = tmp_path / "venv" / "bin" / "scaffold"
    assert subprocess.run([str(scaffold_bin), "--version"], env=env, capture_output=True,
                          text=True).stdout.startswith("scaffold")


def test_vendoring_works_without_a_package_index(tmp_path, monkeypatch, capsys):
    from generator.scaffold.vendor import vendor_wheel

    monkeypatch.setenv("PIP_NO_INDEX", "1")  # no setuptools for pip's isolated build
    monkeypatch.setenv("SCAFFOLD_WHEEL_CACHE", str(tmp_path / "cache"))
    wheel = vendor_wheel(tmp_path / "vendor")
    assert wheel.name == f"paddle_serving_scaffold-{__version__}-py3-none-any.whl"
    assert "generator/scaffold/vendor.py" in zipfile.ZipFile(wheel).namelist()
    assert "packed the source tree directly" in capsys.readouterr().err
