"""`infer_cfg.yml` with the content PaddleDetection's `tools/export_model.py` writes.

Top-level keys keep their insertion order; nested mappings are written with sorted keys (so each
`Preprocess` item lists its parameters alphabetically with `type` last), as `yaml.dump` does.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from .config import InputShapes, input_shapes
from .errors import PpdetConfigError
from .labels import dataset_label_list

#: `arch` of infer_cfg.yml and its TensorRT `min_subgraph_size`; the first key contained in
#: the architecture name wins, so the order matters.
TRT_MIN_SUBGRAPH: dict[str, int] = {
    "YOLO": 3, "PPYOLOE": 3, "SSD": 60, "RCNN": 40, "RetinaNet": 40, "S2ANet": 80,
    "EfficientDet": 40, "Face": 3, "TTFNet": 60, "FCOS": 16, "SOLOv2": 60, "HigherHRNet": 3,
    "HRNet": 3, "DeepSORT": 3, "ByteTrack": 10, "CenterTrack": 5, "JDE": 10, "FairMOT": 5,
    "GFL": 16, "PicoDet": 3, "CenterNet": 5, "TOOD": 5, "YOLOX": 8, "YOLOF": 40,
    "METRO_Body": 3, "DETR": 3, "CLRNet": 3,
}  # fmt: skip
_EXACT_ARCHS = ("PPYOLOE", "YOLOX", "YOLOF")


def infer_arch(architecture: str) -> tuple[str, int]:
    """`(arch, min_subgraph_size)` for an architecture name (e.g. YOLOv3 -> ("YOLO", 3))."""
    name = "PPYOLOE" if architecture == "PPYOLOEWithAuxHead" else architecture
    if name in _EXACT_ARCHS:
        return name, TRT_MIN_SUBGRAPH[name]
    for arch, size in TRT_MIN_SUBGRAPH.items():
        if arch in architecture:
            return arch, size
    raise PpdetConfigError(
        f"architecture {architecture!r} has no infer_cfg `arch` (PaddleDetection's exporter "
        "refuses it too); known: " + ", ".join(TRT_MIN_SUBGRAPH)
    )


def preprocess_list(reader: Mapping[str, Any], shapes: InputShapes) -> list[dict[str, Any]]:
    """`Preprocess` from `TestReader`: sample_transforms minus the first (Decode), Resize set to
    the fixed input size, NormalizeImage dropped with `fuse_normalize`, PadBatch -> PadStride."""
    fuse_normalize = bool(reader.get("fuse_normalize", False))
    out: list[dict[str, Any]] = []
    for item in list(reader.get("sample_transforms") or [])[1:]:
        for op, params in dict(item).items():
            params = copy.deepcopy(dict(params or {}))
            if op == "Resize":
                if int(shapes.image[2]) != -1:
                    params["target_size"] = list(shapes.image[2:])
                params.setdefault("interp", 1)
            if fuse_normalize and op == "NormalizeImage":
                continue
            out.append({"type": op, **params})
    for item in reader.get("batch_transforms") or []:
        done = False
        for op, params in dict(item).items():
            if op == "PadBatch":
                out.append({"type": "PadStride", "stride": dict(params or {})["pad_to_stride"]})
                done = True
                break
        if done:
            break
    return out


def build_infer_cfg(
    cfg: Mapping[str, Any], search_dirs: Iterable[Path] = (Path.cwd(),)
) -> dict[str, Any]:
    """The ordered `infer_cfg.yml` content for a loaded PaddleDetection config.

    `search_dirs` are where `TestDataset.dataset_dir/anno_path` is looked for (label names);
    without that file the metric's default names are used, as PaddleDetection does.
    """
    architecture = str(cfg.get("architecture", ""))
    if not architecture:
        raise PpdetConfigError("the config has no `architecture` key")
    shapes = input_shapes(cfg)
    arch, min_subgraph = infer_arch(architecture)
    infer: dict[str, Any] = {
        "mode": "paddle",
        "draw_threshold": 0.5,
        "metric": cfg.get("metric"),
        "use_dynamic_shape": shapes.dynamic,
    }
    if cfg.get("pdx_model_name"):
        infer["Global"] = {"model_name": cfg["pdx_model_name"]}
    infer["arch"] = arch
    infer["min_subgraph_size"] = min_subgraph
    arch_section = cfg.get(architecture) or {}
    if isinstance(arch_section, Mapping) and (
        arch_section.get("mask_head") or arch_section.get("with_mask")
    ):
        infer["mask"] = True
    reader = cfg.get("TestReader")
    if not isinstance(reader, Mapping) or "sample_transforms" not in reader:
        raise PpdetConfigError("the config has no `TestReader.sample_transforms`")
    infer["Preprocess"] = preprocess_list(reader, shapes)
    infer["label_list"] = dataset_label_list(cfg, search_dirs)
    return infer


def _sorted(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _sorted(value[k]) for k in sorted(value)}
    if isinstance(value, list | tuple):
        return [_sorted(v) for v in value]
    return value


def dump_infer_cfg(infer_cfg: Mapping[str, Any]) -> str:
    """YAML text of an infer_cfg: top level in order, nested mappings sorted (PaddleDetection's)."""
    top = {key: _sorted(value) for key, value in infer_cfg.items()}
    return yaml.safe_dump(top, sort_keys=False, default_flow_style=False)


def write_infer_cfg(infer_cfg: Mapping[str, Any], path: Path) -> Path:
    """Write `dump_infer_cfg(infer_cfg)` to `path` (a file) and return it."""
    path.write_text(dump_infer_cfg(infer_cfg), encoding="utf-8")
    return path
