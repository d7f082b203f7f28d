"""Parity check: the dynamic model and the exported model on the same inputs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from generator.export import specs as specs_mod
from generator.export.predictor import create_predictor, run_predictor


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


def check_parity(layer_or_callable: Callable[..., Any], model_dir: str | Path,
                 inputs: dict[str, np.ndarray], rtol: float = 1e-3, atol: float = 1e-6, *,
                 input_spec: Any = None, model_name: str | None = None) -> ParityReport:
    """Run the dynamic model and the exported model on `inputs` and compare outputs by position.

    `layer_or_callable` is called with the inputs packed as `input_spec` describes (nested
    lists/dicts, constants), or, without a spec, with the arrays as positional arguments in
    the dict's order. The exported model is fed by input name.
    """
    import paddle

    report = ParityReport(rtol=rtol, atol=atol)
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
        if i < len(dynamic):
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
    lines.append(f"parity {verdict} (allclose rtol={report.rtol:g}, atol={report.atol:g})"
                 + (f": {report.problem}" if report.problem else ""))
    return "\n".join(lines)
