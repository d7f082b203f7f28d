"""Class names for `label_list`: from the dataset's annotation file, else the metric's defaults."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from .errors import PpdetConfigError

log = logging.getLogger(__name__)

_DEFAULTS = {"coco": "coco_labels.txt", "voc": "voc_labels.txt"}


def default_labels(metric: str) -> list[str]:
    """Built-in names for a metric: COCO (80 COCO-2017 classes) or VOC (20); else []."""
    name = _DEFAULTS.get(str(metric).lower())
    if name is None:
        return []
    text = resources.files(__package__).joinpath(name).read_text(encoding="utf-8")
    return [line.strip() for line in text.splitlines() if line.strip()]


def read_label_file(path: Path) -> list[str]:
    """Names from a COCO json (`categories` in file order) or a text file (one per line).

    A leading `background` line of a text file is dropped, as PaddleDetection does.
    """
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise PpdetConfigError(f"cannot read categories from {path}: {exc}") from exc
        cats = data.get("categories") if isinstance(data, dict) else None
        if not isinstance(cats, list):
            raise PpdetConfigError(f"{path} has no `categories` list (COCO annotation format)")
        return [str(cat["name"]) for cat in cats]
    if path.suffix.lower() != ".txt":
        raise PpdetConfigError(f"label file {path} should be .json (COCO) or .txt (one per line)")
    names = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    names = [n for n in names if n]
    if names and names[0] == "background":
        names = names[1:]
    return names


def dataset_label_list(
    cfg: Mapping[str, Any], search_dirs: Iterable[Path] = (), dataset_key: str = "TestDataset"
) -> list[str]:
    """`label_list` as PaddleDetection's exporter computes it.

    The annotation file is `TestDataset.dataset_dir/anno_path`, looked up relative to each of
    `search_dirs` (PaddleDetection uses its working directory). When absent, the metric's
    built-in names are used.
    """
    metric = str(cfg.get("metric", "COCO"))
    dataset = cfg.get(dataset_key) or {}
    anno = dataset.get("anno_path") if isinstance(dataset, Mapping) else None
    if anno:
        rel = Path(str(dataset.get("dataset_dir") or "")) / str(anno)
        candidates = [rel] if rel.is_absolute() else [Path(d) / rel for d in search_dirs]
        for cand in candidates:
            if cand.is_file():
                return read_label_file(cand)
        log.info("annotation file %s not found; using the default %s class names", rel, metric)
    return default_labels(metric)
