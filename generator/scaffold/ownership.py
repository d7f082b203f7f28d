"""What `scaffold new --overwrite` may replace: only a folder `scaffold new` generated (its
`.scaffold.yml` present), never the current directory, one of its parents or the home directory,
and never a file the user changed since generation without `--force`.

`.scaffold.yml` records the SHA-256 of every generated file (`files:`). On `--overwrite`:

- files the user *added* are carried over into the new folder (reported as kept);
- files the user *changed* (hash differs), and added files whose path the new folder generates,
  are refused unless `--force`, which names each file that will be lost;
- runtime artefacts (logs, `__pycache__`, the TensorRT cache) are carried over like added files.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from generator.scaffold.errors import ScaffoldConfigError

RECORD = ".scaffold.yml"
#: never carried over into a regenerated folder (rebuilt by Python itself)
_SKIP_PARTS = ("__pycache__",)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _files(folder: Path) -> list[str]:
    out = []
    for path in folder.rglob("*"):
        rel = path.relative_to(folder)
        if any(part in _SKIP_PARTS for part in rel.parts) or path.is_dir():
            continue
        if str(rel) != RECORD:
            out.append(rel.as_posix())
    return sorted(out)


def file_hashes(folder: Path) -> dict[str, str]:
    """{relative path: sha256} of every file under `folder` except `.scaffold.yml`."""
    return {rel: _sha256(folder / rel) for rel in _files(folder)}


def add_file_hashes(folder: Path) -> None:
    """Append the `files:` hashes of the generated folder to its `.scaffold.yml`."""
    record = folder / RECORD
    text = record.read_text(encoding="utf-8")
    hashes = yaml.safe_dump({"files": file_hashes(folder)}, sort_keys=True)
    record.write_text(text + "# SHA-256 of each generated file: --overwrite keeps your changes\n"
                      + hashes, encoding="utf-8")


def read_record(folder: Path) -> dict[str, Any] | None:
    """The `.scaffold.yml` of a generated folder, or None when it is not one."""
    path = folder / RECORD
    if not path.is_file():
        return None
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return None
    if not isinstance(data, dict) or data.get("generated_by") != "paddle-serving-scaffold":
        return None
    return data


@dataclass
class ReplacePlan:
    """What replacing an existing generated folder does to the user's files."""

    folder: Path
    changed: list[str] = field(default_factory=list)  # lost on replacement (needs --force)
    added: list[str] = field(default_factory=list)  # carried over into the new folder

    def carry_over(self, new_folder: Path, generated: set[str], force: bool) -> list[str]:
        """Copy the added files that the new folder does not generate into it; returns them.

        An added file at a path the new folder generates is lost: refused unless `force`."""
        clash = [rel for rel in self.added if rel in generated and rel not in self.changed]
        if clash and not force:
            listed = "\n".join(f"  {rel}" for rel in clash)
            raise ScaffoldConfigError(
                f"--output {self.folder}: refusing to replace it: you added these files where "
                f"the new service writes its own, so they would be lost:\n{listed}\nNothing was "
                "changed. Move them, or pass --force as well to replace them")
        kept = []
        for rel in self.added:
            if rel in generated:
                continue
            target = new_folder / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(self.folder / rel, target)
            kept.append(rel)
        return kept


def _protected(output: Path) -> str | None:
    cwd = Path.cwd().resolve()
    home = Path(os.path.expanduser("~")).resolve()
    if output == cwd:
        return "it is the current directory"
    if cwd.is_relative_to(output):
        return f"it contains the current directory {cwd}"
    if output == home:
        return "it is your home directory"
    return None


def check_replaceable(output: Path, *, force: bool, generates: set[str] | None = None) \
        -> ReplacePlan:
    """Decide whether `--overwrite` may replace `output`; ScaffoldConfigError if not.

    `generates`: the paths the new folder will contain (an added file there would be lost).
    """
    protected = _protected(output)
    if protected:
        raise ScaffoldConfigError(
            f"--output {output}: refusing to replace it: {protected}. Nothing was changed; "
            "choose a new folder with --output")
    record = read_record(output)
    if record is None:
        raise ScaffoldConfigError(
            f"--output {output}: refusing to replace it: it was not generated by `scaffold new` "
            f"(no {RECORD} in it), so --overwrite could delete your files. Nothing was changed; "
            "remove the folder yourself or choose another --output")
    plan = ReplacePlan(output)
    recorded = record.get("files")
    current = _files(output)
    if not isinstance(recorded, dict):  # generated before hashes were recorded
        plan.changed = current
    else:
        for rel in current:
            if rel not in recorded:
                plan.added.append(rel)
            elif _sha256(output / rel) != recorded[rel]:
                plan.changed.append(rel)
        plan.changed += [rel for rel in plan.added if generates and rel in generates]
        plan.changed.sort()
    if plan.changed and not force:
        listed = "\n".join(f"  {rel}" for rel in plan.changed[:30])
        more = f"\n  ... and {len(plan.changed) - 30} more" if len(plan.changed) > 30 else ""
        why = "changed since `scaffold new` generated them" if isinstance(recorded, dict) else \
            f"of unknown state ({RECORD} records no file hashes)"
        raise ScaffoldConfigError(
            f"--output {output}: refusing to replace it: these files are {why} and would be "
            f"lost:\n{listed}{more}\nNothing was changed. Copy them elsewhere, or pass --force "
            "as well to replace them")
    return plan
