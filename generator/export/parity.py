"""Parity check: the dynamic model and the exported model on the same inputs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from generator.export import specs as specs_mod
from generator.export.predictor import create_predictor, run_predictor

#: absolute tolerance floor, in pixels, for the box coordinates of detector outputs: a legacy
#: program (fused conv+BN) moves NMS boxes by ~0.02 px, which `rtol` alone cannot absorb on
#: coordinates close to 0
BOX_ATOL_PX = 0.05


@dataclass
class OutputParity:
    """Comparison of one output (by position)."""

    name: str
    dynamic_shape: tuple[int, ...]
    exported_shape: tuple[int, ...]
    max_abs_diff: float
    max_rel_diff: float
    ok: bool
    note: str = ""


@dataclass
class ParityReport:
    """Per-output comparison of the dynamic and exported models."""

    outputs: list[OutputParity] = field(default_factory=list)
    rtol: float = 1e-3
    atol: float = 1e-6
    problem: str = ""
    box_atol: float | None = None

    @property
    def ok(self) -> bool:
        """True when every output matches within `allclose(rtol, atol)`."""
        return not self.problem and bool(self.outputs) and all(o.ok for o in self.outputs)


def _to_numpy_outputs(out: Any) -> list[np.ndarray]:
    import paddle

    flat = paddle.utils.flatten(out) if isinstance(out, (list, tuple, dict)) else [out]
    arrays = []
    for item in flat:
        if isinstance(item, paddle.Tensor):
            arrays.append(item.numpy())
        elif isinstance(item, np.ndarray):
            arrays.append(item)
    return arrays


def compare_arrays(name: str, dynamic: np.ndarray, exported: np.ndarray, rtol: float,
                   atol: float) -> OutputParity:
    """Compare two arrays with `np.allclose(exported, dynamic, rtol, atol)`."""
    dshape, eshape = tuple(dynamic.shape), tuple(exported.shape)
    if dshape != eshape:
        return OutputParity(name, dshape, eshape, float("inf"), float("inf"), False,
                            "shape differs")
    if dynamic.size == 0:
        return OutputParity(name, dshape, eshape, 0.0, 0.0, True)
    a = exported.astype(np.float64)
    b = dynamic.astype(np.float64)
    diff = np.abs(a - b)
    max_abs = float(np.nanmax(diff)) if diff.size else 0.0
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        rel = diff / np.maximum(np.abs(b), np.finfo(np.float64).tiny)
        max_rel = float(np.nanmax(np.where(diff == 0, 0.0, rel)))
    ok = bool(np.allclose(a, b, rtol=rtol, atol=atol, equal_nan=True))
    return OutputParity(name, dshape, eshape, max_abs, max_rel, ok)


def is_detection_rows(dynamic: np.ndarray, exported: np.ndarray) -> bool:
    """Whether both arrays look like detector rows `[N, 6]` float
    (`[class_id, score, x1, y1, x2, y2]`)."""
    return all(a.ndim == 2 and a.shape[1] == 6 and a.dtype.kind == "f"
               for a in (dynamic, exported))


def _row_order(a: np.ndarray, b: np.ndarray, col_rtol: np.ndarray,
               col_atol: np.ndarray) -> np.ndarray | None:
    """Indices `idx` with `b[idx]` close to `a` row by row (greedy), or None.

    Rows whose scores tie within the tolerance may come out of NMS in either order."""
    free = np.ones(len(b), dtype=bool)
    idx = np.empty(len(a), dtype=np.int64)
    for i, row in enumerate(a):
        close = np.all(np.abs(b - row) <= col_atol + col_rtol * np.abs(b), axis=1) & free
        hits = np.flatnonzero(close)
        if not hits.size:
            return None
        idx[i] = hits[0]
        free[hits[0]] = False
    return idx


def compare_detections(name: str, dynamic: np.ndarray, exported: np.ndarray, rtol: float,
                       atol: float, box_atol: float = BOX_ATOL_PX) -> OutputParity:
    """Compare detector rows `[N, 6]`: same count, class ids equal, scores within
    `(rtol, atol)`, box coordinates within `rtol` with an absolute floor of `box_atol` pixels.

    Rows are matched in order, or else greedily (near-equal scores may swap places)."""
    if dynamic.shape != exported.shape or dynamic.size == 0:
        return compare_arrays(name, dynamic, exported, rtol, atol)
    a = exported.astype(np.float64)
    b = dynamic.astype(np.float64)
    col_atol = np.array([0.0, atol] + [max(atol, box_atol)] * 4)
    col_rtol = np.array([0.0, rtol, rtol, rtol, rtol, rtol])
    in_order = np.all(np.abs(a - b) <= col_atol + col_rtol * np.abs(b))
    idx = None if in_order else _row_order(a, b, col_rtol, col_atol)
    if idx is not None:
        b = b[idx]
    base = compare_arrays(name, b, a, rtol, atol)
    note = f"boxes: atol floor {box_atol:g} px" + ("" if idx is None else ", rows reordered")
    return OutputParity(name, base.dynamic_shape, base.exported_shape, base.max_abs_diff,
                        base.max_rel_diff, bool(in_order or idx is not None), note)


def check_parity(layer_or_callable: Callable[..., Any], model_dir: str | Path,
                 inputs: dict[str, np.ndarray], rtol: float = 1e-3, atol: float = 1e-6, *,
                 input_spec: Any = None, model_name: str | None = None,
                 box_atol: float | None = None) -> ParityReport:
    """Run the dynamic model and the exported model on `inputs` and compare outputs by position.

    `layer_or_callable` is called with the inputs packed as `input_spec` describes (nested
    lists/dicts, constants), or, without a spec, with the arrays as positional arguments in
    the dict's order. The exported model is fed by input name. With `box_atol` (detectors),
    `[N, 6]` float outputs are compared by `compare_detections`.
    """
    import paddle

    report = ParityReport(rtol=rtol, atol=atol, box_atol=box_atol)
    if input_spec is not None:
        plain = specs_mod.from_paddle_specs(input_spec)
        args = specs_mod.pack_args(plain, inputs, paddle.to_tensor)
    else:
        args = [paddle.to_tensor(v) for v in inputs.values()]
    with paddle.no_grad():
        dynamic = _to_numpy_outputs(layer_or_callable(*args))
    exported = run_predictor(create_predictor(model_dir, model_name), inputs)
    if len(dynamic) != len(exported):
        report.problem = (f"the dynamic model returned {len(dynamic)} output(s), the exported "
                          f"model {len(exported)}")
    for i, (name, arr) in enumerate(exported):
        if i >= len(dynamic):
            continue
        if box_atol is not None and is_detection_rows(dynamic[i], arr):
            report.outputs.append(compare_detections(name, dynamic[i], arr, rtol, atol, box_atol))
        else:
            report.outputs.append(compare_arrays(name, dynamic[i], arr, rtol, atol))
    return report


def format_parity_table(report: ParityReport) -> str:
    """A small text table: output, shape, max abs diff, max rel diff, ok."""
    rows = [("output", "shape", "max_abs_diff", "max_rel_diff", "ok")]
    for o in report.outputs:
        shape = "x".join(map(str, o.exported_shape)) or "scalar"
        if o.dynamic_shape != o.exported_shape:
            shape = f"{shape} (dynamic {'x'.join(map(str, o.dynamic_shape))})"
        rows.append((o.name, shape, f"{o.max_abs_diff:.3g}", f"{o.max_rel_diff:.3g}",
                     "yes" if o.ok else "NO"))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    verdict = "PASS" if report.ok else "FAIL"
    boxes = f", box atol floor {report.box_atol:g} px" if report.box_atol is not None else ""
    lines.append(f"parity {verdict} (allclose rtol={report.rtol:g}, atol={report.atol:g}{boxes})"
                 + (f": {report.problem}" if report.problem else ""))
    return "\n".join(lines)
