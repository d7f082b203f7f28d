"""Read the deploy record an exporter writes next to a model: PaddleDetection `infer_cfg.yml`
(or `inference.yml` from `--for_fd`), PaddleClas `inference.yml`, PaddleSeg `deploy.yaml`, and
ours (`infer_cfg.yml` with a `task:` key)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from generator.yaml_file import read_yaml_mapping

#: file names looked for in a model directory, in order
DEPLOY_FILES = ("infer_cfg.yml", "inference.yml", "deploy.yaml", "deploy.yml")

_PPCLS_OPS = {"ResizeImage", "CropImage", "ToCHWImage", "DecodeImage"}
_PPSEG_OPS = {"Normalize", "ResizeByShort", "ResizeByLong", "LimitLong", "Padding"}


class DeployConfigError(ValueError):
    """A deploy record is missing or malformed."""


@dataclass(frozen=True)
class DeployConfig:
    """What a service needs to pre- and post-process for one exported model."""

    task: str  # detection | classification | segmentation | embedding | text_detection |
    #            text_recognition | textline_orientation
    toolkit: str  # ppdet | ppcls | ppseg | ppocr (the Preprocess vocabulary)
    preprocess: list[dict[str, Any]]
    source: Path
    labels: list[str] = field(default_factory=list)
    draw_threshold: float = 0.5
    min_subgraph_size: int = 3
    arch: str = ""


def _op_names(ops: list[Any]) -> set[str]:
    names = set()
    for op in ops:
        if isinstance(op, dict):
            names.add(op.get("type") or next(iter(op), ""))
    return names


def find_deploy_config(model_dir: str | Path) -> Path:
    """The deploy record inside (or next to) `model_dir`."""
    d = Path(model_dir)
    for base in (d, d.parent):
        for name in DEPLOY_FILES:
            if (base / name).is_file():
                return base / name
    raise DeployConfigError(
        f"{d}: no deploy record found (looked for {', '.join(DEPLOY_FILES)}); export the model "
        "with its toolkit's exporter (it writes one) or describe pre/post-processing in a native "
        "config (serving_configs/*.yml) and pass it with --config"
    )


def read_deploy_config(path: str | Path) -> DeployConfig:
    """Parse any supported deploy record into a `DeployConfig`."""
    p = Path(path)
    data = read_yaml_mapping(p, DeployConfigError, "deploy record")
    if "Deploy" in data:  # PaddleSeg deploy.yaml / inference.yml
        ops = list((data["Deploy"] or {}).get("transforms") or [])
        return DeployConfig("segmentation", "ppseg", ops, p,
                            arch=str((data.get("Global") or {}).get("model_name", "")))
    if "PreProcess" in data:  # PaddleClas / PaddleOCR inference.yml
        return _from_toolkit_export(data, p)
    if "Preprocess" not in data:
        raise DeployConfigError(
            f"{p}: not a PaddleDetection infer_cfg.yml, PaddleClas inference.yml or PaddleSeg "
            "deploy.yaml (no Preprocess, PreProcess or Deploy section)")
    if "task" not in data:  # a PaddleDetection export: refuse kinds without [N, 6] boxes
        from generator.toolkit import ToolkitExportError, classify_inference_yml

        try:
            classify_inference_yml(data, p)
        except ToolkitExportError as exc:
            raise DeployConfigError(str(exc)) from None
    ops = list(data.get("Preprocess") or [])
    task = data.get("task") or "detection"
    names = _op_names(ops)
    if task == "detection":
        toolkit = "ppdet"
    elif names & _PPCLS_OPS:
        toolkit = "ppcls"
    elif names & _PPSEG_OPS or task == "segmentation":
        toolkit = "ppseg"
    else:
        toolkit = "ppdet"
    return DeployConfig(
        task, toolkit, ops, p, labels=[str(x) for x in data.get("label_list") or []],
        draw_threshold=float(data.get("draw_threshold", 0.5)),
        min_subgraph_size=int(data.get("min_subgraph_size", 3)), arch=str(data.get("arch", "")),
    )


def _from_toolkit_export(data: dict[str, Any], path: Path) -> DeployConfig:
    """A `PreProcess` inference.yml (PaddleClas, PaddleOCR 3), classified by
    `generator.toolkit` (training-only ops dropped; an unknown kind is an error)."""
    from generator.toolkit import ToolkitExportError, classify_inference_yml

    try:
        export = classify_inference_yml(data, path)
    except ToolkitExportError as exc:
        raise DeployConfigError(str(exc)) from None
    post = export.postprocess
    topk = post if post.get("name") == "Topk" else post.get("Topk") or {}
    labels = [str(x) for x in topk.get("label_list") or []]
    toolkit = "ppocr" if export.kind in ("text_detection", "text_recognition") else "ppcls"
    return DeployConfig(export.kind, toolkit, export.preprocess, path, labels=labels,
                        arch=export.model_name)


def read_labels(path: str | Path) -> list[str]:
    """One label per line (PaddleClas "id name" lines keep the name)."""
    from generator.models.labels import read_label_lines

    return read_label_lines(path)
