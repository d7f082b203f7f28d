"""`-o key=value` overrides with PaddleDetection's semantics.

`parse_overrides(["a.b=1", "c=[1, 2]"])` gives `{"a": {"b": 1}, "c": [1, 2]}`: the text after the
first `=` is read as YAML (so `true`, `0.5`, `[3,416,416]` are typed; an empty value is None) and
dotted keys become nested dicts. Like PaddleDetection's `ArgsParser`, a later option re-creates the
intermediate dicts of a key with three or more parts (`-o A.b.c=1 A.b.d=2` keeps only `d`).
`merge_overrides` then deep-merges them into a config (dicts merged, everything else replaced).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml


class OverrideError(ValueError):
    """An override is not of the form `key=value`."""


def parse_override_value(text: str) -> Any:
    """Read one override value as YAML (empty -> None); unparsable text stays a string."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def parse_overrides(opts: list[str] | None) -> dict[str, Any]:
    """Turn `["A.b=1", "c=x"]` into a nested dict, typed by YAML, in PaddleDetection's way."""
    config: dict[str, Any] = {}
    for raw in opts or []:
        item = raw.strip()
        if "=" not in item:
            raise OverrideError(
                f"override {raw!r} is not of the form key=value (e.g. -o weights=model.pdparams "
                "or -o TestReader.inputs_def.image_shape=[3,416,416])"
            )
        key, text = item.split("=", 1)
        key = key.strip()
        if not key or any(not part for part in key.split(".")):
            raise OverrideError(f"override {raw!r} has an empty key part")
        value = parse_override_value(text)
        parts = key.split(".")
        if len(parts) == 1:
            config[key] = value
            continue
        cur = config.setdefault(parts[0], {})
        if not isinstance(cur, dict):
            cur = config[parts[0]] = {}
        for part in parts[1:-1]:
            cur[part] = {}
            cur = cur[part]
        cur[parts[-1]] = value
    return config


def deep_merge(base: dict[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    """Merge `update` into `base` in place: nested dicts merged, lists and scalars replaced."""
    for key, value in update.items():
        if isinstance(base.get(key), dict) and isinstance(value, Mapping):
            deep_merge(base[key], value)
        else:
            base[key] = value
    return base


def merge_overrides(
    config: dict[str, Any], overrides: list[str] | Mapping[str, Any] | None
) -> dict[str, Any]:
    """Apply `-o` overrides to `config` in place and return it.

    `overrides` is a list of `key=value` strings or a dict (nested, or with dotted keys whose
    values are already typed).
    """
    if not overrides:
        return config
    if isinstance(overrides, Mapping):
        nested: dict[str, Any] = {}
        for key, value in overrides.items():
            parts = str(key).split(".")
            cur = nested
            for part in parts[:-1]:
                if not isinstance(cur.get(part), dict):
                    cur[part] = {}
                cur = cur[part]
            if isinstance(cur.get(parts[-1]), dict) and isinstance(value, Mapping):
                deep_merge(cur[parts[-1]], value)
            else:
                cur[parts[-1]] = value
    else:
        nested = parse_overrides(list(overrides))
    return deep_merge(config, nested)
