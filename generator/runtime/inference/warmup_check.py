"""Check warm-up outputs against what a model declares, in Paddle Serving's conventions.

Paddle Serving's converter (`paddle_serving_client.io.inference_model_to_serving` and
`save_model`) writes a variable's prototxt `shape` as the program's dimensions that are >= 0,
in order: the batch dim and every dynamic dim are dropped, so an output [-1, 1, -1, -1] becomes
`shape: 1` and a feed [-1, 3, -1, -1] `shape: 3`; a LoD variable gets `shape: -1`; a hand-made
prototxt may give no shape or the full per-sample shape with -1 for dynamic dims. A prototxt
shape therefore tells neither the rank nor where its dims sit: the output must hold them in
that order (-1 matching any size). Where the backend knows the program's own output shape, it
gives the rank and the place of each fixed dim. A weights file cannot change an output's dtype,
so a dtype unlike the prototxt's is only logged (Paddle Serving does not check it).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

_LOGGER = logging.getLogger(__name__)

__all__ = ["fits_program", "fits_prototxt", "malformed_outputs"]


def fits_prototxt(declared: Sequence[int], actual: Sequence[int]) -> bool:
    """Whether the prototxt dims `declared` appear, in order, in the output shape `actual`
    (a negative declared dim matches any size)."""
    pos = 0
    for want in declared:
        while pos < len(actual) and not (want < 0 or actual[pos] == want):
            pos += 1
        if pos == len(actual):
            return False
        pos += 1
    return True


def fits_program(declared: Sequence[int], actual: Sequence[int]) -> bool:
    """Whether `actual` has the program's rank and its fixed dims (-1: dynamic) in place."""
    return len(declared) == len(actual) and all(
        d < 0 or d == a for d, a in zip(declared, actual, strict=True))


def _shape_problem(key: str, value: np.ndarray, var: Any, program_shape: Sequence[int]) -> str:
    if value.ndim == 0:  # Paddle >= 2.5 gives 0-d tensors where older programs declared [1]
        return ""
    if program_shape and not fits_program(program_shape, value.shape):
        return (f"output '{key}' of shape {value.shape} where the model program declares "
                f"{list(program_shape)}")
    if var is None or var.is_lod_tensor or not var.shape:
        return ""
    if not fits_prototxt(var.shape, value.shape):
        return (f"output '{key}' of shape {value.shape}, which lacks the dims {list(var.shape)} "
                "the model declares (serving_server_conf.prototxt)")
    return ""


def malformed_outputs(out: Mapping[str, Any], fetch_vars: Sequence[Any],
                      program_shapes: Mapping[str, Sequence[int]] | None = None) -> str:
    """Why warm-up outputs look broken ('' when they look fine): no or only empty outputs,
    non-finite values, or a shape unlike the program's (rank, fixed dims) or lacking the
    prototxt's dims. `fetch_vars` are the prototxt's `VarInfo`s, `program_shapes` the program's
    output shapes by fetch alias (() or absent: unknown)."""
    arrays = {k: v for k, v in out.items() if isinstance(v, np.ndarray) and not k.endswith(".lod")}
    if not arrays:
        return "no outputs"
    if all(v.size == 0 for v in arrays.values()):
        return "only empty outputs (" + ", ".join(f"{k} {v.shape}" for k, v in arrays.items()) + ")"
    for key, value in arrays.items():
        if value.dtype.kind in "fc" and not np.isfinite(value).all():
            return f"non-finite values (NaN or inf) in output '{key}'"
    declared = {v.alias_name: v for v in fetch_vars}
    shapes = program_shapes or {}
    for key, value in arrays.items():
        var = declared.get(key)
        problem = _shape_problem(key, value, var, tuple(shapes.get(key, ())))
        if problem:
            return problem
        if var is not None and np.dtype(var.dtype) != value.dtype:
            _LOGGER.warning("warm-up output '%s' is %s where serving_server_conf.prototxt says %s "
                            "(fetch_type %s); answered as %s", key, value.dtype, var.dtype,
                            var.dtype_code, value.dtype)
    return ""
