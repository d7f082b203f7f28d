"""The one reader of a YAML file that must hold a mapping (toolkit exports, deploy records).

A leaf: imports only PyYAML, so every layer may use it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


def read_yaml_mapping(path: Path, error: type[Exception], what: str = "") -> dict[str, Any]:
    """The mapping at the top of the YAML file `path`; an unreadable file, bad YAML or another
    top-level value raises `error` naming the file (`what`: what it is, in the message)."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise error(f"{path}: cannot read{' ' + what if what else ''}: {exc}") from exc
    if not isinstance(data, dict):
        raise error(f"{path}: expected a mapping at the top level")
    return data
