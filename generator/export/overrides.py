"""`-o key=value` overrides: values parsed as YAML, dotted keys merged into nested sections."""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any

import yaml

from generator.export.errors import OverrideError


def parse_overrides(items: Iterable[str]) -> dict[str, Any]:
    """Parse `["a.b=1", "c=[1, 2]"]` into `{"a": {"b": 1}, "c": [1, 2]}`.

    The value after the first `=` is parsed as YAML (`true`, `0.5`, `[3,640,640]` keep their
    types). Several overrides under the same section are merged, not replaced.
    Raises OverrideError for an item without `=`, an empty key or segment, or invalid YAML.
    """
    result: dict[str, Any] = {}
    for item in items:
        if not isinstance(item, str) or "=" not in item:
            raise OverrideError(
                f"malformed override {item!r}: expected key=value, e.g. -o weights=model.pdparams"
            )
        key, raw = item.split("=", 1)
        key = key.strip()
        parts = key.split(".")
        if not key or any(not p.strip() for p in parts):
            raise OverrideError(
                f"malformed override {item!r}: the key must be a dotted name like "
                "TestReader.inputs_def.image_shape"
            )
        try:
            value = yaml.safe_load(raw) if raw.strip() else None
        except yaml.YAMLError as exc:
            problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            raise OverrideError(
                f"malformed override {item!r}: the value is not valid YAML ({problem}); "
                "quote it, e.g. -o name='\"a: b\"'"
            ) from None
        node = result
        for part in parts[:-1]:
            nxt = node.get(part)
            if not isinstance(nxt, dict):
                nxt = {}
                node[part] = nxt
            node = nxt
        node[parts[-1]] = value
    return result


def merge_dicts(base: Mapping[str, Any], other: Mapping[str, Any]) -> dict[str, Any]:
    """Recursive merge: mappings merge key by key, anything else in `other` replaces `base`."""
    merged = copy.deepcopy(dict(base))
    for key, value in other.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = merge_dicts(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def apply_overrides(config: Mapping[str, Any], items: Iterable[str]) -> dict[str, Any]:
    """Return `config` with the parsed `-o` overrides merged in."""
    return merge_dicts(config, parse_overrides(items))
