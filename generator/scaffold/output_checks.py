"""Before and after writing a service folder: the inputs' fingerprint (`--update`), the output
location (absent, or a generated folder `--overwrite` may replace) and the generated files' own
check; shared by every service kind."""

from __future__ import annotations

import os
import tempfile
from dataclasses import fields
from pathlib import Path

from generator import __version__
from generator.scaffold.errors import ScaffoldConfigError, ScaffoldError
from generator.scaffold.ownership import check_replaceable, read_record
from generator.scaffold.service_plan import NewServiceRequest, ServicePlan


def inputs_fingerprint(request: NewServiceRequest, name: str) -> str:
    """SHA-256 of what a generated folder depends on: the source files' content, the options
    and this package's version (`--update` regenerates only when it changes)."""
    import hashlib

    h = hashlib.sha256()
    sources = [Path(p) for p in (request.config,) if p]
    for d in [request.model_dir, *request.model_dirs]:
        if d and Path(d).is_dir():
            sources += sorted(p for p in Path(d).iterdir() if p.is_file())
    for path in sources:
        h.update(str(path.resolve()).encode() + b"\0" + path.read_bytes() + b"\0")
    for item in request.overrides:  # a file an override names (weights): a new one counts
        value = Path(item.partition("=")[2].strip())
        if value.is_file():
            st = value.stat()
            h.update(f"{value.resolve()}:{st.st_size}:{st.st_mtime_ns}".encode())
    # every option that shapes the folder (new request fields count without a change here)
    ignored = {"output", "overwrite", "force", "update", "warnings", "strict_overrides",
               "config", "model_dir", "model_dirs"}  # the last three: hashed above, by content
    options = {f.name: str(getattr(request, f.name)) for f in fields(request)
               if f.name not in ignored}
    options.update(name=name, version=__version__)
    h.update(repr(sorted(options.items())).encode())
    return h.hexdigest()


def _check_output(plan: ServicePlan) -> None:
    """The output location: absent and creatable, or a generated folder --overwrite may replace
    (files the user changed need --force). Raises ScaffoldConfigError; writes nothing."""
    request, output = plan.request, plan.output
    if output.exists() and not output.is_dir():
        raise ScaffoldConfigError(f"--output {output}: it exists and is not a folder; remove it "
                                  "or choose another --output")
    if output.exists():
        if request.update:
            record = read_record(output) or {}
            if record.get("inputs_hash") == plan.inputs_hash:
                plan.up_to_date = True
                return
        if not (request.overwrite or request.update):
            raise ScaffoldConfigError(
                f"--output {output}: it already exists. Nothing was changed; pass --overwrite "
                "to regenerate a folder `scaffold new` made (your changes are kept or refused), "
                "or choose another folder with --output")
        generates = {p for p in plan.files if not p.endswith("/")}
        plan.replace = check_replaceable(output, force=request.force, generates=generates)
    parent = output.parent
    if not parent.is_dir():
        raise ScaffoldConfigError(f"--output {output}: the parent folder {parent} does not "
                                  "exist; create it first or choose another --output")
    try:  # a real probe: os.access() says yes to root on read-only or special filesystems
        os.rmdir(tempfile.mkdtemp(prefix=f".{output.name}.probe-", dir=parent))
    except OSError as exc:
        raise ScaffoldConfigError(f"--output {output}: cannot write into {parent} "
                                  f"({exc.strerror}); choose a folder you can write with "
                                  "--output") from None


def _check_generated(folder: Path) -> None:
    """The generated config.yml loads with the runtime's validator; Python files compile."""
    from generator.runtime.config import load_pipeline_config
    from generator.runtime.errors import PipelineConfigError

    try:
        load_pipeline_config(str(folder / "config.yml"))
    except PipelineConfigError as exc:
        raise ScaffoldError(f"internal error: the generated config.yml is invalid: {exc}") from exc
    for py in folder.glob("*.py"):
        compile(py.read_text(encoding="utf-8"), str(py), "exec")
