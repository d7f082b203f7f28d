"""`infer_cfg.yml`: PaddleDetection's record for detection, an equivalent one for other tasks.

Detection records come from the ppdet builder (`BuiltModel.infer_cfg`) and are written with their
key order kept (nested mappings sorted, as PaddleDetection's `yaml.dump` does).
Classification / segmentation / embedding / generic records written here:

    mode: paddle
    arch: <arch or factory function name>
    task: classification
    input_shape: [null, 3, 224, 224]      # the image input's shape (null = any)
    Preprocess: [{type: ResizeImage, resize_short: 256}, ...]   # PaddleClas / PaddleSeg ops
    label_list: [...]
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from generator.export.errors import ConfigError

IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]


def _image_shape(input_spec: Any) -> list[int | None] | None:
    from generator.export import specs as specs_mod

    for spec in specs_mod.iter_tensor_specs(specs_mod.from_paddle_specs(input_spec)):
        if len(spec["shape"]) == 4:
            return list(spec["shape"])
    return None


def default_preprocess(task: str, image_shape: list[int | None] | None) -> list[dict[str, Any]]:
    """PaddleClas (classification/embedding) or PaddleSeg (segmentation) eval transforms."""
    h = image_shape[2] if image_shape else None
    w = image_shape[3] if image_shape else None
    if task in ("classification", "embedding"):
        ops: list[dict[str, Any]] = []
        if h and w:
            ops.append({"type": "ResizeImage", "resize_short": int(round(min(h, w) * 256 / 224))})
            ops.append({"type": "CropImage", "size": h if h == w else [w, h]})
        ops.append({"type": "NormalizeImage", "scale": 1.0 / 255.0, "mean": IMAGENET_MEAN,
                    "std": IMAGENET_STD, "order": ""})
        ops.append({"type": "ToCHWImage"})
        return ops
    if task == "segmentation":
        ops = []
        if h and w:
            ops.append({"type": "Resize", "target_size": [w, h]})
        ops.append({"type": "Normalize", "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5]})
        return ops
    return []


def build_infer_cfg(arch: str, task: str, input_spec: Any, label_list: list[str] | None = None,
                    preprocess: Any = None) -> dict[str, Any]:
    """The infer_cfg record for non-detection models (see the module doc)."""
    shape = _image_shape(input_spec)
    if isinstance(preprocess, list) and all(isinstance(p, dict) and "type" in p for p in preprocess):
        ops = copy.deepcopy(preprocess)
    else:
        ops = default_preprocess(task, shape)
    cfg: dict[str, Any] = {"mode": "paddle", "arch": arch, "task": task}
    if shape is not None:
        cfg["input_shape"] = shape
    cfg["Preprocess"] = ops
    cfg["label_list"] = list(label_list or [])
    return cfg


def apply_fixed_shape(cfg: dict[str, Any], nchw: list[int]) -> dict[str, Any]:
    """Make the Preprocess resize/crop ops and `input_shape` produce the fixed [h, w]."""
    cfg = copy.deepcopy(cfg)
    _, _, h, w = nchw
    task = cfg.get("task", "detection")
    if "use_dynamic_shape" in cfg:
        cfg["use_dynamic_shape"] = False
    if "input_shape" in cfg:
        cfg["input_shape"] = [None if nchw[0] == -1 else nchw[0], nchw[1], h, w]
    ops = cfg.get("Preprocess")
    kinds = {op.get("type") for op in ops or []}
    if isinstance(ops, list) and task == "segmentation" and "Resize" not in kinds:
        ops.insert(0, {"type": "Resize", "target_size": [w, h]})
    if isinstance(ops, list) and task in ("classification", "embedding") \
            and not kinds & {"ResizeImage", "CropImage"}:
        ops[0:0] = default_preprocess(task, nchw)[:2]
    for op in ops or []:
        kind = op.get("type")
        if kind == "Resize" and task == "segmentation":
            op["target_size"] = [w, h]
        elif kind == "Resize" and "target_size" in op:
            op["target_size"] = [h, w]
        elif kind == "CropImage":
            op["size"] = h if h == w else [w, h]
        elif kind == "ResizeImage" and "resize_short" in op:
            op["resize_short"] = int(round(min(h, w) * 256 / 224))
        elif kind == "ResizeImage" and "size" in op:
            op["size"] = [w, h]
    return cfg


def read_labels(labels: Any, base_dir: Path) -> list[str]:
    """Labels from the config's `labels:`: a list of names, or a text file one name per line
    (PaddleClas `id name` lines keep the name). Anything else (issue 5's forms) -> []."""
    if isinstance(labels, list) and all(isinstance(x, (str, int)) for x in labels):
        return [str(x) for x in labels]
    if isinstance(labels, str):
        path = Path(labels) if Path(labels).is_absolute() else base_dir / labels
        if not path.is_file():
            raise ConfigError(f"labels: file {path} not found")
        from generator.models.labels import read_label_lines

        return read_label_lines(path)
    return []


def dump_infer_cfg(cfg: dict[str, Any]) -> str:
    """YAML text: top-level keys in the given order, nested mappings with sorted keys."""
    parts = []
    for key, value in cfg.items():
        parts.append(yaml.safe_dump({key: _plain(value)}, default_flow_style=False,
                                    sort_keys=True, allow_unicode=True))
    return "".join(parts)


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        return value.item()
    return value


def write_infer_cfg(cfg: dict[str, Any], path: str | Path) -> Path:
    """Write `infer_cfg.yml`, keeping the top-level key order."""
    p = Path(path)
    p.write_text(dump_infer_cfg(cfg), encoding="utf-8")
    return p


def read_infer_cfg(path: str | Path) -> dict[str, Any]:
    """Read back an `infer_cfg.yml` (ours or PaddleDetection's) and check its basic shape."""
    p = Path(path)
    if p.is_dir():
        p = p / "infer_cfg.yml"
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{p}: cannot read infer_cfg ({exc})") from None
    if not isinstance(data, dict) or data.get("mode") != "paddle":
        raise ConfigError(f"{p}: not an infer_cfg record (expected `mode: paddle` at the top)")
    if not isinstance(data.get("Preprocess", []), list):
        raise ConfigError(f"{p}: `Preprocess` must be a list of {{type: ...}} ops")
    data.setdefault("label_list", [])
    return data
