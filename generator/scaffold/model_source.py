"""Where the generated service's model comes from: an export of a config, or an already
exported model folder (`--model-dir`) converted to Paddle Serving's layout.

Both write into a (temporary) service folder: `serving_server/`, `serving_client/` and the deploy
record (`infer_cfg.yml`, or the source's `inference.yml` / `deploy.yaml`).
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from generator.scaffold.errors import ScaffoldConfigError, ScaffoldError

#: tasks a generated service can serve (the task Ops of generator.service)
SERVICE_TASKS = ("detection", "classification", "segmentation", "embedding", "text_detection",
                 "text_recognition", "textline_orientation")
#: keys of a native config used only for its pre/post-processing (`--model-dir` + `--config`)
PROCESSING_KEYS = ("version", "name", "task", "model", "inputs", "service", "preprocess",
                   "postprocess", "labels")


@dataclass
class ModelOutput:
    """The model files a source wrote into the service folder."""

    deploy_file: str  # file name of the deploy record, in the service folder


def export_into(config_path: Path, overrides: list[str], folder: Path, *,
                verify: bool = False, ppdet_root: Path | None = None) -> ModelOutput:
    """Export the model a config describes; move its serving folders and infer_cfg.yml into
    `folder`."""
    from generator.export.errors import ExportError
    from generator.export.exporter import export_config

    work = folder / ".export"
    try:
        result = export_config(config_path, work, overrides, model_format="pir",
                               export_serving_model=True, verify=verify, ppdet_root=ppdet_root)
    except ExportError as exc:
        raise ScaffoldError(f"exporting {config_path} failed: {short_error(str(exc))}") from exc
    for item in ("serving_server", "serving_client"):
        shutil.move(str(result.model_dir / item), str(folder / item))
    deploy_file = result.infer_cfg_path.name if result.infer_cfg_path else "infer_cfg.yml"
    shutil.move(str(result.infer_cfg_path), str(folder / deploy_file))
    shutil.rmtree(work, ignore_errors=True)
    return ModelOutput(deploy_file)


def export_legacy_into(config_path: Path, overrides: list[str], work: Path,
                       ppdet_root: Path | None = None) -> tuple[Path, Path] | str:
    """The same model exported as a legacy program (what OpenVINO reads, and often the fastest
    Paddle oneDNN path) into `work`: (serving_server, serving_client), or why it could not be."""
    from generator.export.errors import ExportError
    from generator.export.exporter import export_config

    if ppdet_root is not None:
        return "exported with --ppdet-root (PIR only here)"
    try:
        result = export_config(config_path, work, overrides, model_format="legacy",
                               export_serving_model=True, verify=False)
    except ExportError as exc:
        return f"legacy export failed: {str(exc).strip().splitlines()[0][:300]}"
    assert result.serving_server is not None and result.serving_client is not None
    return result.serving_server, result.serving_client


_ERROR_LINE = re.compile(r"^\s*(\w+(Error|Exception)): (.+)$")


def short_error(message: str) -> str:
    """A Paddle error without its traced source: the first line and the final `XError: ...`
    line (Paddle's to_static errors quote the transformed code and the C++ location)."""
    import os

    lines = [ln for ln in message.splitlines() if ln.strip()]
    if len(lines) <= 3 or os.environ.get("SCAFFOLD_VERBOSE"):
        return message
    errors = [m for m in map(_ERROR_LINE.match, lines) if m]
    if not errors:
        return message
    last = errors[-1]
    detail = f"{last.group(1)}: {last.group(3).strip()}"
    head = lines[0].split(" In transformed code:")[0].rstrip(": ").strip()
    if head.endswith(last.group(1)):  # "tracing failed: ValueError" + "ValueError: ..."
        head = head[: -len(last.group(1))].rstrip(": ").strip()
    short = f"{head}: {detail}" if head and detail not in head else detail
    return f"{short} (scaffold --verbose ... shows the whole message)"


def convert_into(model_dir: Path, folder: Path, deploy_record: Path | None,
                 infer_cfg: dict[str, Any] | None) -> ModelOutput:
    """Convert the inference model in `model_dir` to `folder/serving_server` + `serving_client`;
    copy its deploy record, or write `infer_cfg` (built from a native config) as infer_cfg.yml."""
    from generator.export.convert import inference_model_to_serving
    from generator.export.errors import ExportError

    if (model_dir / "serving_server" / "serving_server_conf.prototxt").is_file():
        model_dir = model_dir / "serving_server"  # a Paddle Serving (or generated) folder
    try:
        inference_model_to_serving(model_dir, folder / "serving_server",
                                   folder / "serving_client")
    except ExportError as exc:
        raise ScaffoldError(f"--model-dir {model_dir}: cannot convert the model: {exc}") from exc
    if infer_cfg is not None:
        from generator.export.infer_cfg import write_infer_cfg

        write_infer_cfg(infer_cfg, folder / "infer_cfg.yml")
        return ModelOutput("infer_cfg.yml")
    assert deploy_record is not None
    shutil.copy2(deploy_record, folder / deploy_record.name)
    return ModelOutput(deploy_record.name)


def read_processing_config(path: Path, overrides: list[str]) -> dict[str, Any]:
    """A native config used for pre/post-processing of a bare model (`--model-dir --config`):
    `model:` is not needed; `task` must be a service task."""
    from generator.export.errors import ExportError
    from generator.export.overrides import apply_overrides

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        data = apply_overrides(data or {}, overrides)
    except (OSError, yaml.YAMLError, ExportError) as exc:
        raise ScaffoldConfigError(f"--config {path}: {exc}") from None
    if not isinstance(data, dict):
        raise ScaffoldConfigError(f"--config {path}: expected a mapping at the top level")
    unknown = [k for k in data if k not in PROCESSING_KEYS]
    if unknown:
        raise ScaffoldConfigError(f"--config {path}: unknown key(s) {', '.join(map(str, unknown))};"
                                  f" allowed: {', '.join(PROCESSING_KEYS)}")
    pre = data.get("preprocess")
    if pre is not None and not (isinstance(pre, list)
                                and all(isinstance(p, dict) and "type" in p for p in pre)):
        raise ScaffoldConfigError(
            f"--config {path}: preprocess must be a list of {{type: OpName, ...}} mappings "
            "(the infer_cfg.yml Preprocess vocabulary)")
    data.setdefault("name", path.stem)
    data["__config_path__"] = str(path.resolve())
    return data


def infer_cfg_from_config(cfg: dict[str, Any], task: str) -> dict[str, Any]:
    """An infer_cfg.yml record (our form, with `task:`) from a native config's preprocess and
    labels."""
    from generator.export.errors import ExportError
    from generator.export.infer_cfg import read_labels

    base = Path(cfg["__config_path__"]).parent
    try:
        labels = read_labels(cfg.get("labels"), base)
    except ExportError as exc:
        raise ScaffoldConfigError(str(exc)) from None
    record: dict[str, Any] = {"mode": "paddle", "arch": str(cfg.get("name")), "task": task}
    post = cfg.get("postprocess") or {}
    if task == "detection":
        record["draw_threshold"] = float(post.get("draw_threshold", 0.5)) \
            if isinstance(post, dict) else 0.5
    record["Preprocess"] = list(cfg["preprocess"])
    record["label_list"] = labels
    return record


def _program_feed_dims(serving_server: Path) -> dict[str, list[int]]:
    """Per-sample feed dims as the program declares them (-1: dynamic); {} if unreadable."""
    from generator.runtime.errors import PredictorError
    from generator.runtime.inference.model_files import find_model_files
    from generator.serving_model.program_io import ProgramReadError, read_program

    try:
        files = find_model_files(serving_server)
        program = read_program(files.model_file or files.model_dir / "__model__")
    except (PredictorError, ProgramReadError, OSError):
        return {}
    return {v.name: [int(d) for d in v.shape[1:]] for v in program.feeds if v.shape}


def trt_dynamic_shapes(serving_server: Path, max_batch: int) -> dict[str, dict[str, list[int]]]:
    """TensorRT min/opt/max shapes per feed var (batch first; unknown dims get 32 / 640 /
    1280), from the program's feed shapes: the prototxt keeps only the fixed dims (Paddle
    Serving's converter writes a [-1, 3, -1, -1] feed as `shape: 3`)."""
    from generator.serving_model.model_config import read_model_config

    conf = read_model_config(serving_server)
    program_dims = _program_feed_dims(serving_server)
    shapes: dict[str, dict[str, list[int]]] = {"min": {}, "opt": {}, "max": {}}
    for var in conf.feed_vars:
        dims = program_dims.get(var.name) or [int(d) for d in var.shape]
        if not dims:
            continue
        shapes["min"][var.name] = [1] + [d if d > 0 else 32 for d in dims]
        shapes["opt"][var.name] = [1] + [d if d > 0 else 640 for d in dims]
        shapes["max"][var.name] = [max_batch] + [d if d > 0 else 1280 for d in dims]
    return shapes
