"""TensorRT dynamic shapes in `local_service_conf`: `min/max/opt_input_shape` checked together
(same inputs, same rank, min <= opt <= max)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from generator.runtime.config.checker import _check_shapes, _Checker, _join, _suggest

_SHAPE_KEYS = ("min_input_shape", "max_input_shape", "opt_input_shape")


def _check_shape_triplet(
    ctx: _Checker, shapes: Mapping[str, dict[str, list[int]] | None], path: str
) -> None:
    """min/max/opt: all three or none, same inputs, same rank, min <= opt <= max."""
    present = [k for k in _SHAPE_KEYS if shapes.get(k)]
    if not present:
        return
    missing = [k for k in _SHAPE_KEYS if not shapes.get(k)]
    if missing:
        ctx.error(
            _join(path, missing[0]),
            "min_input_shape, max_input_shape and opt_input_shape must be set together "
            f"(found {', '.join(present)}; missing {', '.join(missing)})",
        )
        return
    mins, maxs, opts = (shapes[k] or {} for k in _SHAPE_KEYS)
    names = list(mins)
    for other_key, other in (("max_input_shape", maxs), ("opt_input_shape", opts)):
        if set(other) != set(mins):
            ctx.error(
                _join(path, other_key),
                f"expected the same input names as min_input_shape {sorted(mins)}, "
                f"found {sorted(other)}",
            )
            return
    for name in names:
        lo, hi, opt = mins[name], maxs[name], opts[name]
        ranks_ok = True
        for other_key, other in (("max_input_shape", hi), ("opt_input_shape", opt)):
            if len(other) != len(lo):
                ctx.error(
                    _join(_join(path, other_key), name),
                    f"expected {len(lo)} dimensions like min_input_shape.{name} {lo}, "
                    f"found {len(other)}: {other}",
                )
                ranks_ok = False
        if not ranks_ok:
            continue
        bad = [i for i in range(len(lo)) if not lo[i] <= opt[i] <= hi[i]]
        if bad:
            ctx.error(
                _join(_join(path, "opt_input_shape"), name),
                f"expected min <= opt <= max in every dimension, found min {lo}, opt {opt}, "
                f"max {hi} (dimension {', '.join(str(i) for i in bad)})",
            )


def check_dynamic_shape_info(
    info: Mapping[str, Any] | None, source: str = "set_dynamic_shape_info", path: str = ""
) -> dict[str, dict[str, list[int]]]:
    """Validate the `Op.dynamic_shape_info` form used by Paddle Serving's
    `set_dynamic_shape_info` hook: {} or {"min_input_shape": {name: [dims]}, "max_input_shape":
    ..., "opt_input_shape": ...}. Returns a normalised copy ({} when empty)."""
    ctx = _Checker(source)
    if info is None or (isinstance(info, Mapping) and not info):
        return {}
    if not isinstance(info, Mapping):
        ctx.expected(
            path or "dynamic_shape_info",
            "a mapping with min_input_shape, max_input_shape and opt_input_shape",
            info,
        )
        ctx.raise_if_errors()
    for name in info:
        if name not in _SHAPE_KEYS:
            hint = _suggest(str(name), _SHAPE_KEYS)
            ctx.error(
                _join(path, name),
                f"unknown key '{name}'"
                + (
                    f"; did you mean '{hint}'?"
                    if hint
                    else "; expected min_input_shape, max_input_shape and opt_input_shape"
                ),
            )
    shapes = {
        k: _check_shapes(ctx, info[k], _join(path, k)) if k in info else None for k in _SHAPE_KEYS
    }
    if ctx.ok(*(_join(path, k) for k in _SHAPE_KEYS)) and not ctx.errors:
        _check_shape_triplet(ctx, shapes, path)
    ctx.raise_if_errors()
    if not any(shapes.values()):
        return {}
    return {k: v or {} for k, v in shapes.items()}


def dynamic_shape_info(local_conf: Mapping[str, Any]) -> dict[str, dict[str, list[int]]]:
    """The TensorRT dynamic shapes of a validated local_service_conf in
    `set_dynamic_shape_info` form, or {} when none are set."""
    if not local_conf.get("min_input_shape"):
        return {}
    return {k: {n: list(d) for n, d in local_conf[k].items()} for k in _SHAPE_KEYS}
