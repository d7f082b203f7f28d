"""This package's wheel in a service folder's `vendor/`, so the folder installs on a machine
that has never seen this repository (`pip install -r requirements.txt` finds it there).

From a source tree (checkout or editable install) the wheel is built with `pip wheel` from a
copy of the tree and cached by the tree's content hash (`$SCAFFOLD_WHEEL_CACHE`, default
`~/.cache/paddle-serving-scaffold/wheels`), so only the first `scaffold new` after a change pays
for the build. Installed from a wheel, the installed files are packed back into one.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from importlib import metadata
from pathlib import Path

from generator.scaffold.errors import ScaffoldError

DIST = "paddle-serving-scaffold"
#: what the wheel is built from (relative to the source root)
SOURCE_ITEMS = ("generator", "templates", "setup.cfg", "pyproject.toml", "README.md")


def _say(message: str) -> None:
    print(f"[new] {message}", file=sys.stderr, flush=True)


def source_root() -> Path | None:
    """The source tree this package runs from, or None when it is installed from a wheel."""
    import generator

    root = Path(generator.__file__).resolve().parents[1]
    return root if (root / "setup.cfg").is_file() and (root / "templates").is_dir() else None


def _source_files(root: Path) -> list[Path]:
    files = []
    for item in SOURCE_ITEMS:
        path = root / item
        if path.is_file():
            files.append(path)
        elif path.is_dir():
            files += [p for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts
                      and not p.name.endswith((".pyc", ".tmp"))]
    return sorted(files)


def source_hash(root: Path) -> str:
    """SHA-256 over the paths and contents of the files the wheel is built from."""
    h = hashlib.sha256()
    for path in _source_files(root):
        h.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def cache_dir() -> Path:
    """Where built wheels are kept, one sub-folder per source hash."""
    env = os.environ.get("SCAFFOLD_WHEEL_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "paddle-serving-scaffold" / "wheels"


def _build_from_source(root: Path) -> Path:
    digest = source_hash(root)
    slot = cache_dir() / digest[:24]
    found = sorted(slot.glob("paddle_serving_scaffold-*.whl"))
    if found:
        return found[-1]
    _say("building the paddle-serving-scaffold wheel for vendor/ (once per source change) ...")
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="scaffold-wheel-") as tmp:
        src = Path(tmp) / "src"
        for path in _source_files(root):  # a private copy: no build/ in the checkout, no races
            target = src / path.relative_to(root)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
        out = Path(tmp) / "out"
        proc = subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "--no-deps", "--disable-pip-version-check",
             "-q", "-w", str(out), str(src)], capture_output=True, text=True, check=False)
        wheels = sorted(out.glob("paddle_serving_scaffold-*.whl"))
        if proc.returncode != 0 or not wheels:  # offline (no setuptools for the isolated build)
            try:
                wheels = [zip_source(root, out)]
            except (ScaffoldError, OSError) as exc:
                raise ScaffoldError(
                    "building the paddle-serving-scaffold wheel for vendor/ failed: pip wheel "
                    f"said:\n{(proc.stderr or proc.stdout)[-1500:]}\nand packing the source "
                    f"tree directly failed: {exc}\nFix the build, or pass --no-vendor and "
                    "install paddle-serving-scaffold on the target machine yourself") from None
            _say("pip wheel failed (offline?): packed the source tree directly")
        slot.mkdir(parents=True, exist_ok=True)
        staged = slot / f".{wheels[-1].name}.{os.getpid()}"
        shutil.copy2(wheels[-1], staged)
        os.replace(staged, slot / wheels[-1].name)  # atomic: concurrent builds are harmless
    _say(f"built {wheels[-1].name} ({time.perf_counter() - start:.1f} s)")
    _prune(cache_dir(), keep=slot)
    return slot / wheels[-1].name


def _prune(cache: Path, keep: Path, limit: int = 8) -> None:
    """Keep the `limit` most recently built wheels of the cache (one per source hash); older
    ones go once they are 10 minutes old (a concurrent `scaffold new` may be copying one)."""
    now = time.time()
    slots = sorted((p for p in cache.iterdir() if p.is_dir() and p != keep),
                   key=lambda p: p.stat().st_mtime, reverse=True)
    for old in slots[limit - 1:]:
        if now - old.stat().st_mtime > 600:
            shutil.rmtree(old, ignore_errors=True)


def zip_source(root: Path, dest: Path) -> Path:
    """A wheel packed from the source tree without a build backend (offline fallback): the
    `generator` package (package data included), `templates/` as the data files setup.cfg
    installs, and metadata read from setup.cfg."""
    import generator

    meta, entry_points = _setup_cfg_metadata(root / "setup.cfg", generator.__version__)
    base = f"paddle_serving_scaffold-{generator.__version__}"
    info = f"{base}.dist-info"
    entries: list[tuple[str, bytes]] = []
    for path in _source_files(root):
        rel = path.relative_to(root).as_posix()
        if rel.startswith("generator/"):
            entries.append((rel, path.read_bytes()))
        elif rel.startswith("templates/") and path.suffix == ".j2":
            entries.append((f"{base}.data/data/share/{DIST}/{rel}", path.read_bytes()))
    entries += [(f"{info}/METADATA", meta.encode()),
                (f"{info}/WHEEL", b"Wheel-Version: 1.0\nGenerator: paddle-serving-scaffold\n"
                                  b"Root-Is-Purelib: true\nTag: py3-none-any\n"),
                (f"{info}/top_level.txt", b"generator\n"),
                (f"{info}/entry_points.txt", entry_points.encode())]
    dest.mkdir(parents=True, exist_ok=True)
    wheel = dest / f"{base}-py3-none-any.whl"
    rows = []
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as zf:
        for arc, data in entries:
            zf.writestr(arc, data)
            rows.append((arc, _record_hash(data), str(len(data))))
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerows([*rows, (f"{info}/RECORD", "", "")])
        zf.writestr(f"{info}/RECORD", buf.getvalue())
    return wheel


def _setup_cfg_metadata(setup_cfg: Path, version: str) -> tuple[str, str]:
    """(METADATA text, entry_points.txt text) from setup.cfg's declarative config."""
    import configparser

    cfg = configparser.ConfigParser(interpolation=None)
    if not cfg.read(setup_cfg, encoding="utf-8"):
        raise ScaffoldError(f"{setup_cfg}: cannot read it")

    def items(section: str, key: str) -> list[str]:
        return [v.strip() for v in cfg.get(section, key, fallback="").splitlines() if v.strip()]

    lines = ["Metadata-Version: 2.1", f"Name: {cfg.get('metadata', 'name', fallback=DIST)}",
             f"Version: {version}"]
    for key, field in (("description", "Summary"), ("license", "License")):
        if cfg.has_option("metadata", key):
            lines.append(f"{field}: {cfg.get('metadata', key)}")
    lines += [f"Classifier: {c}" for c in items("metadata", "classifiers")]
    if cfg.has_option("options", "python_requires"):
        lines.append(f"Requires-Python: {cfg.get('options', 'python_requires')}")
    lines += [f"Requires-Dist: {r}" for r in items("options", "install_requires")]
    if cfg.has_section("options.extras_require"):
        for extra in cfg.options("options.extras_require"):
            lines.append(f"Provides-Extra: {extra}")
            for req in items("options.extras_require", extra):
                name, _, marker = (part.strip() for part in req.partition(";"))
                when = f'({marker}) and extra == "{extra}"' if marker else f'extra == "{extra}"'
                lines.append(f"Requires-Dist: {name}; {when}")
    points = ""
    if cfg.has_section("options.entry_points"):
        for group in cfg.options("options.entry_points"):
            points += f"[{group}]\n" + "".join(
                f"{line}\n" for line in items("options.entry_points", group)) + "\n"
    return "\n".join(lines) + "\n", points


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"sha256={digest}"


def repack_installed(dest: Path) -> Path:
    """A wheel of the installed distribution, from the files its RECORD lists."""
    try:
        dist = metadata.distribution(DIST)
    except metadata.PackageNotFoundError:
        raise ScaffoldError(
            f"{DIST} is neither a source tree nor an installed distribution, so its wheel "
            "cannot be put in vendor/; pass --no-vendor") from None
    version = dist.version
    base = f"paddle_serving_scaffold-{version}"
    data_prefix = f"{base}.data/data/"
    skip = {"RECORD", "INSTALLER", "REQUESTED", "direct_url.json"}
    dest.mkdir(parents=True, exist_ok=True)
    wheel = dest / f"{base}-py3-none-any.whl"
    rows = []
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as zf:
        for file in dist.files or []:
            rel = file.as_posix()
            if "__pycache__" in rel or rel.endswith(".pyc") or Path(rel).name in skip:
                continue
            if rel.startswith("../"):  # data_files: <prefix>/share/... relative to site-packages
                parts = Path(rel).parts
                if "share" not in parts:
                    continue
                arc = data_prefix + "/".join(parts[parts.index("share"):])
            else:
                arc = rel
            data = Path(file.locate()).read_bytes()
            zf.writestr(arc, data)
            rows.append((arc, _record_hash(data), str(len(data))))
        record = f"{base}.dist-info/RECORD"
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerows([*rows, (record, "", "")])
        zf.writestr(record, buf.getvalue())
    return wheel


def vendor_wheel(dest: Path) -> Path:
    """Put this package's wheel into `dest` (a service folder's vendor/); returns its path."""
    dest.mkdir(parents=True, exist_ok=True)
    root = source_root()
    if root is None:
        _say("packing the installed paddle-serving-scaffold into vendor/ ...")
        return repack_installed(dest)
    built = _build_from_source(root)
    target = dest / built.name
    shutil.copy2(built, target)
    return target
