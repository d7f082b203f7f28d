"""Corrections for paddle2onnx 2.1.0's known misreads of Paddle 3 PIR programs, each taken
from the PIR program's own attribute values (../shared reference, cpu_backends §5.3).

Paddle 3.3's PIR program (`model.json` / `inference.json`) stores some attributes as doubles
(`"0.a_f64"`): `leaky_relu.negative_slope` and the `scale` list of the interpolation ops.
paddle2onnx's PIR reader wants floats there:

* interpolation scales: it refuses the program ("the 0th elementwise MUST be
  ir::FloatAttribute") -> `converter_copy` writes a copy of the program for the converter
  with those attributes tagged as floats (same values; Paddle itself keeps the original, it
  rejects the rewritten one);
* `leaky_relu`: it writes `LeakyRelu` with an uninitialised `alpha` (0, 2.8e-45, ...; a ReLU;
  Paddle2ONNX#1646) -> the copy fixes that too, and `fix_leaky_relu` checks every `LeakyRelu`
  of the ONNX graph against the slope of its `leaky_relu` op and sets it where it differs;
* stale `graph.value_info` shapes are re-inferred by the converter's caller
  (`onnx_export._fix_value_info`).

Only the attributes paddle2onnx reads as floats are retagged: others stored as doubles
(`full.value`) it reads as doubles.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

F64, F32 = "0.a_f64", "0.a_f32"
#: (PIR op name without its dialect prefix, attribute) pairs paddle2onnx reads as float
FLOAT_READ = {
    ("leaky_relu", "negative_slope"),
    ("nearest_interp", "scale"),
    ("bilinear_interp", "scale"),
    ("bicubic_interp", "scale"),
    ("linear_interp", "scale"),
    ("trilinear_interp", "scale"),
}


@dataclass(frozen=True)
class Correction:
    """One value corrected: where, what the converter had, what the PIR program says."""

    where: str
    attribute: str
    before: Any
    after: Any

    def __str__(self) -> str:
        return f"{self.where}.{self.attribute}: {self.before} -> {self.after}"


def op_name(op: dict[str, Any]) -> str:
    """`1.leaky_relu` -> `leaky_relu` (the dialect prefix dropped)."""
    return str(op.get("#", "")).split(".", 1)[-1]


def iter_ops(node: Any) -> Iterator[dict[str, Any]]:
    """Every op of a PIR json program, nested regions included, in program order."""
    if isinstance(node, dict):
        if isinstance(node.get("#"), str) and "A" in node and "O" in node:
            yield node
        for value in node.values():
            if isinstance(value, (dict, list)):
                yield from iter_ops(value)
    elif isinstance(node, list):
        for item in node:
            yield from iter_ops(item)


def attribute(op: dict[str, Any], name: str) -> Any:
    """The plain value of one attribute of an op (lists for array attributes), or None."""
    for entry in op.get("A", []):
        if isinstance(entry, dict) and entry.get("N") == name:
            return _plain(entry.get("AT"))
    return None


def _plain(at: Any) -> Any:
    if not isinstance(at, dict):
        return at
    data = at.get("D")
    if isinstance(data, list) and all(isinstance(d, dict) and "#" in d for d in data):
        return [_plain(d) for d in data]
    return data


def _retag(at: Any) -> int:
    """Tag f64 values (also inside arrays) as f32 in place; the number retagged."""
    if not isinstance(at, dict):
        return 0
    count = 0
    if at.get("#") == F64:
        at["#"] = F32
        count += 1
    data = at.get("D")
    if isinstance(data, list):
        for item in data:
            count += _retag(item)
    return count


def load_program(path: str | Path) -> dict[str, Any]:
    """The parsed PIR json program."""
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def converter_copy(program: dict[str, Any]) -> tuple[dict[str, Any], list[Correction]]:
    """A copy of `program` with the double attributes paddle2onnx reads as floats retagged
    as floats (values unchanged), and what was retagged."""
    copy = json.loads(json.dumps(program))
    done: list[Correction] = []
    counters: dict[str, int] = {}
    for op in iter_ops(copy):
        name = op_name(op)
        k = counters.get(name, 0)
        counters[name] = k + 1
        for entry in op.get("A", []):
            if not isinstance(entry, dict) or (name, entry.get("N")) not in FLOAT_READ:
                continue
            if _retag(entry.get("AT")):
                value = _plain(entry.get("AT"))
                done.append(Correction(f"{name}#{k}", str(entry["N"]), "double", value))
    return copy, done


def leaky_slopes(program: dict[str, Any]) -> list[float]:
    """`negative_slope` of each `leaky_relu` op, in program order."""
    return [float(attribute(op, "negative_slope") if attribute(op, "negative_slope")
                  is not None else 0.01)
            for op in iter_ops(program) if op_name(op) == "leaky_relu"]


def _leaky_index(node: Any) -> int | None:
    """The k of paddle2onnx's output name `p2o.pd_op.leaky_relu.<k>.0` (None: other names)."""
    for out in node.output:
        parts = out.split(".")
        if len(parts) >= 4 and parts[-3] == "leaky_relu" and parts[-2].isdigit():
            return int(parts[-2])
    return None


def fix_leaky_relu(model: Any, program: dict[str, Any], *, rtol: float = 1e-6
                   ) -> list[Correction]:
    """Set each ONNX `LeakyRelu`'s alpha to its PIR op's `negative_slope` where they differ.

    A node is matched to its op by paddle2onnx's output name, else by order; when the counts
    differ and the names say nothing, nothing is changed (the parity check judges)."""
    slopes = leaky_slopes(program)
    nodes = [n for n in model.graph.node if n.op_type == "LeakyRelu"]
    if not nodes or not slopes:
        return []
    indices = [_leaky_index(n) for n in nodes]
    if any(i is None or i >= len(slopes) for i in indices):
        if len(nodes) != len(slopes):
            return []
        indices = list(range(len(nodes)))
    done: list[Correction] = []
    for node, k in zip(nodes, indices, strict=True):
        want = slopes[int(k)]  # type: ignore[arg-type]
        attr = next((a for a in node.attribute if a.name == "alpha"), None)
        have = attr.f if attr is not None else 0.01
        if abs(have - want) <= rtol * max(abs(want), 1e-12):
            continue
        if attr is None:
            from onnx import helper

            node.attribute.append(helper.make_attribute("alpha", want))
        else:
            attr.f = want
        done.append(Correction(f"LeakyRelu {node.name or node.output[0]!r}", "alpha",
                               f"{have:g}", want))
    return done
