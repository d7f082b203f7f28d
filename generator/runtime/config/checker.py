"""The checker behind `config.yml` validation: `_Checker` collects every problem (and warning) as
`source: dotted.path: expected X, found Y (type); hint` and raises them all at once; `_check_section`
walks one section against its `Key` table."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from generator.runtime.config.keys import Key
from generator.runtime.config.schema import IGNORED_KEYS, SECTIONS, UNSUPPORTED_DEVICE_TYPES
from generator.runtime.errors import ConfigValidationError
from generator.suggest import closest

_SIMILARITY_CUTOFF = 0.8

logger = logging.getLogger(__name__)


def _found(value: Any) -> str:
    """'two' (str), 8 (int), null ... as shown after 'found'."""
    if value is None:
        return "null"
    text = repr(value)
    if len(text) > 80:
        text = text[:77] + "..."
    return f"{text} ({type(value).__name__})"


def _join(path: str, name: Any) -> str:
    return f"{path}.{name}" if path else str(name)


class _Checker:
    """Collects the errors of one validation run; warnings go to the log at once."""

    def __init__(self, source: str):
        self.source = source
        self.errors: list[str] = []
        self.bad: set[str] = set()

    def error(self, path: str, message: str) -> None:
        self.errors.append(f"{path}: {message}" if path else message)
        self.bad.add(path)

    def expected(self, path: str, expected: str, value: Any, hint: str = "") -> None:
        self.error(path, f"expected {expected}, found {_found(value)}{hint}")

    def warn(self, path: str, message: str) -> None:
        logger.warning("%s: %s: %s", self.source, path or "(top level)", message)

    def ok(self, *paths: str) -> bool:
        return not any(p in self.bad for p in paths)

    def raise_if_errors(self) -> None:
        if self.errors:
            raise ConfigValidationError(self.source, self.errors)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _int_hint(value: Any) -> str:
    if isinstance(value, str):
        try:
            int(value.strip())
        except ValueError:
            return ""
        return f"; remove the quotes: {value.strip()}"
    if isinstance(value, float) and value.is_integer():
        return f"; write {int(value)}"
    if isinstance(value, bool):
        return "; write a number, not true/false"
    return ""


_BOOL_WORDS = {
    "true": "true",
    "yes": "true",
    "on": "true",
    "false": "false",
    "no": "false",
    "off": "false",
}


def _bool_hint(value: Any) -> str:
    if isinstance(value, str) and value.strip().lower() in _BOOL_WORDS:
        return f"; write {_BOOL_WORDS[value.strip().lower()]} without quotes"
    if _is_int(value) and value in (0, 1):
        return f"; write {'true' if value else 'false'}"
    return ""


def _check_value(ctx: _Checker, key: Key, value: Any, path: str) -> Any:
    """Type/range-check one scalar or list value; returns the normalised value (the default
    when the value is invalid, with the error recorded)."""
    if value is None:
        if key.accepts_none:
            return None
        ctx.expected(path, key.expected(), value)
        return key.fresh_default()
    kind = key.kind
    if kind == "any":
        return value
    if kind in ("int", "number"):
        is_number = _is_int(value) or (kind == "number" and isinstance(value, float))
        if not is_number:
            ctx.expected(path, key.expected(), value, _int_hint(value) if kind == "int" else "")
            return key.fresh_default()
        if key.name == "device_type" and value in UNSUPPORTED_DEVICE_TYPES:
            supported = "-1/0 (CPU), 1 (GPU) or 2 (TensorRT)"
            ctx.error(
                path,
                f"device_type {value} ({UNSUPPORTED_DEVICE_TYPES[value]}) is not "
                f"supported by this runtime; use {supported}",
            )
            return key.fresh_default()
        too_low = key.minimum is not None and (
            value <= key.minimum if key.exclusive_minimum else value < key.minimum
        )
        too_high = key.maximum is not None and value > key.maximum
        if too_low or too_high or (key.choices is not None and value not in key.choices):
            ctx.expected(path, key.expected(), value)
            return key.fresh_default()
        return value
    if kind == "bool":
        if not isinstance(value, bool):
            ctx.expected(path, key.expected(), value, _bool_hint(value))
            return key.fresh_default()
        return value
    if kind == "str":
        if not isinstance(value, str):
            hint = f'; quote it: "{value}"' if _is_int(value) or isinstance(value, float) else ""
            ctx.expected(path, key.expected(), value, hint)
            return key.fresh_default()
        normalised = value.lower() if key.lowercase else value
        if key.choices is not None and normalised not in key.choices:
            ctx.expected(path, key.expected(), value)
            return key.fresh_default()
        return normalised
    if kind == "str_list":
        return _check_str_list(ctx, key, value, path)
    if kind == "shapes":
        return _check_shapes(ctx, value, path)
    raise AssertionError(f"unhandled kind {kind!r}")  # pragma: no cover - schema bug


def _check_str_list(ctx: _Checker, key: Key, value: Any, path: str) -> Any:
    if isinstance(value, str):
        ctx.expected(path, key.expected(), value, f"; write it as a list: [{value}]")
        return key.fresh_default()
    if not isinstance(value, list | tuple):
        ctx.expected(path, key.expected(), value)
        return key.fresh_default()
    items: list[str] = []
    for i, item in enumerate(value):
        if not isinstance(item, str):
            hint = f'; quote it: "{item}"' if _is_int(item) or isinstance(item, float) else ""
            ctx.expected(f"{path}[{i}]", "a string", item, hint)
        else:
            items.append(item)
    return items


def _check_shapes(ctx: _Checker, value: Any, path: str) -> dict[str, list[int]] | None:
    """Input name -> list of positive ints. An empty mapping means unset (None)."""
    expected = "a mapping of input name to a list of positive integers"
    if not isinstance(value, Mapping):
        ctx.expected(path, expected, value)
        return None
    shapes: dict[str, list[int]] = {}
    for name, dims in value.items():
        dim_path = _join(path, name)
        if not isinstance(name, str):
            ctx.expected(path, "input names that are strings", name)
            continue
        if (
            not isinstance(dims, list | tuple)
            or not dims
            or not all(_is_int(d) and d > 0 for d in dims)
        ):
            ctx.expected(dim_path, "a non-empty list of positive integers", dims)
            continue
        shapes[name] = list(dims)
    return shapes or None


def _suggest(name: str, candidates: Iterable[str]) -> str | None:
    """A known key close to `name` (stricter than elsewhere: an unknown key near one is an error)."""
    return closest(name, candidates, cutoff=_SIMILARITY_CUTOFF)


def _home_of(name: str, section: str, path: str) -> str | None:
    """Where a known key that is misplaced in `section` belongs, as a concrete path."""
    op_path = path.rsplit(".local_service_conf", 1)[0] if path.startswith("op.") else None
    for prefix, keys in SECTIONS.items():
        if prefix == section or not any(k.name == name for k in keys):
            continue
        if prefix.startswith("op.*"):
            concrete = prefix.replace("op.*", op_path or "op.<name>", 1)
        else:
            concrete = prefix
        return concrete or "the top level"
    return None


def _check_section(
    ctx: _Checker, raw: Any, keys: tuple[Key, ...], path: str, section: str
) -> dict[str, Any]:
    """Validate one mapping against `keys`: unknown keys, types, ranges, defaults. Child
    sections are returned as plain dicts (or {}) for the caller to validate."""
    out: dict[str, Any] = {}
    if raw is None:
        raw = {}
    by_name = {k.name: k for k in keys}
    for name in raw:
        if not isinstance(name, str):
            ctx.error(path or "(top level)", f"keys must be strings, found {_found(name)}")
            continue
        if name in by_name:
            continue
        key_path = _join(path, name)
        home = _home_of(name, section, path)
        suggestion = _suggest(name, by_name)
        if home is not None:
            ctx.warn(key_path, f"unknown key '{name}' here (ignored); it belongs under {home}")
        elif suggestion is not None:
            ctx.error(key_path, f"unknown key '{name}'; did you mean '{suggestion}'?")
        else:
            ctx.warn(key_path, f"unknown key '{name}' ignored")
    for key in keys:
        key_path = _join(path, key.name)
        if key.name not in raw:
            if key.name not in IGNORED_KEYS:
                out[key.name] = key.fresh_default()
                logger.debug("%s: %s not set, using default %r", ctx.source, key_path, key.default)
            continue
        value = raw[key.name]
        if key.kind == "section":
            if value is None:
                out[key.name] = {}
            elif isinstance(value, Mapping):
                out[key.name] = dict(value)
            else:
                ctx.expected(key_path, "a mapping", value)
                out[key.name] = {}
            continue
        checked = _check_value(ctx, key, value, key_path)
        if key.name in IGNORED_KEYS:
            continue
        out[key.name] = checked
    return out
