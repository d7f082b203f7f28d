"""Input specs: config entries -> `paddle.static.InputSpec` nests, signature checks, sample inputs.

Config form of one input (an entry of `inputs:`):
    tensor:      {name: image, shape: [null, 3, -1, -1], dtype: float32}
    nested list: [<input>, <input>, ...]
    nested dict: {dict: {key: <input>, ...}}
    non-tensor:  {value: <any YAML value>}
A top-level entry may also carry `arg: <parameter name>`, checked against the method signature.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from generator.export.errors import InputSpecError

DTYPES = ("float32", "float64", "float16", "bfloat16", "int64", "int32", "int16", "int8",
          "uint8", "bool")
TENSOR_KEYS = {"name", "shape", "dtype", "arg"}
#: size used for unknown (None/-1) dims when making random parity inputs: batch, then others
UNKNOWN_BATCH = 1
UNKNOWN_DIM = 32


class ValueSpec:
    """A non-tensor argument passed as a constant when tracing (`{value: ...}` in the config)."""

    def __init__(self, value: Any) -> None:
        self.value = value

    def __repr__(self) -> str:
        return f"ValueSpec({self.value!r})"


def parse_inputs(entries: Any, where: str = "inputs") -> list[Any]:
    """Validate config `inputs:` and return a nest of plain spec dicts / ValueSpec.

    Tensors become `{"name", "shape", "dtype"}` dicts (shape with None for unknown dims);
    call `to_paddle_specs` to get real InputSpec objects.
    """
    if not isinstance(entries, list) or not entries:
        raise InputSpecError(f"{where}: expected a non-empty list of input specs, got {entries!r}")
    return [_parse_one(e, f"{where}[{i}]", top=True) for i, e in enumerate(entries)]


def _parse_one(entry: Any, where: str, top: bool = False) -> Any:
    if isinstance(entry, list):
        if not entry:
            raise InputSpecError(f"{where}: an empty nested list spec is not allowed")
        return [_parse_one(e, f"{where}[{i}]") for i, e in enumerate(entry)]
    if not isinstance(entry, dict):
        raise InputSpecError(
            f"{where}: expected a mapping like {{name: x, shape: [null, 3, 224, 224], "
            f"dtype: float32}}, a list, {{dict: ...}} or {{value: ...}}; got {entry!r}"
        )
    extra_ok = {"arg"} if top else set()
    if "value" in entry:
        _check_keys(entry, {"value"} | extra_ok, where)
        return _with_arg(ValueSpec(entry["value"]), entry, top)
    if "dict" in entry:
        _check_keys(entry, {"dict"} | extra_ok, where)
        sub = entry["dict"]
        if not isinstance(sub, dict) or not sub:
            raise InputSpecError(f"{where}.dict: expected a non-empty mapping of key -> input")
        return _with_arg({"__dict__": {str(k): _parse_one(v, f"{where}.dict.{k}")
                                       for k, v in sub.items()}}, entry, top)
    _check_keys(entry, TENSOR_KEYS if top else TENSOR_KEYS - {"arg"}, where)
    if "shape" not in entry:
        raise InputSpecError(f"{where}: missing `shape` (a list, null or -1 for unknown dims)")
    shape = entry["shape"]
    if not isinstance(shape, list) or not all(
        d is None or (isinstance(d, int) and not isinstance(d, bool) and (d > 0 or d == -1))
        for d in shape
    ):
        raise InputSpecError(
            f"{where}.shape: expected a list of positive ints, null or -1; got {shape!r}"
        )
    dtype = entry.get("dtype", "float32")
    if dtype not in DTYPES:
        raise InputSpecError(f"{where}.dtype: {dtype!r} is not one of {', '.join(DTYPES)}")
    name = entry.get("name")
    if name is not None and (not isinstance(name, str) or not name):
        raise InputSpecError(f"{where}.name: expected a non-empty string, got {name!r}")
    spec = {"name": name, "shape": [None if d in (None, -1) else d for d in shape],
            "dtype": dtype}
    if top and "arg" in entry:
        spec["arg"] = entry["arg"]
    return spec


def _with_arg(spec: Any, entry: dict, top: bool) -> Any:
    if top and "arg" in entry:
        return {"__arg__": entry["arg"], "__spec__": spec}
    return spec


def _check_keys(entry: dict, allowed: set[str], where: str) -> None:
    unknown = sorted(set(entry) - allowed)
    if unknown:
        raise InputSpecError(
            f"{where}: unknown key(s) {', '.join(map(str, unknown))}; allowed: {', '.join(sorted(allowed))}"
        )


def _unwrap_arg(spec: Any) -> tuple[str | None, Any]:
    if isinstance(spec, dict) and "__arg__" in spec:
        return spec["__arg__"], spec["__spec__"]
    if isinstance(spec, dict) and "shape" in spec and "arg" in spec:
        rest = {k: v for k, v in spec.items() if k != "arg"}
        return spec["arg"], rest
    return None, spec


def check_signature(fn: Callable, specs: list[Any], method: str = "forward") -> list[Any]:
    """Check config specs against `fn`'s signature; return specs with `arg` markers removed.

    Too many or too few inputs, or an `arg:` naming a parameter other than the one at that
    position, raise InputSpecError. Parameters with defaults may be left out. Unnamed
    top-level tensors get the parameter's name.
    """
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return [_unwrap_arg(s)[1] for s in specs]
    positional = [p for p in params
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    has_varargs = any(p.kind == p.VAR_POSITIONAL for p in params)
    required = [p.name for p in positional if p.default is inspect.Parameter.empty]
    names = [p.name for p in positional]
    sig = f"{method}({', '.join(str(p) for p in params)})"
    if len(specs) > len(positional) and not has_varargs:
        raise InputSpecError(
            f"{len(specs)} inputs given but {sig} takes at most {len(positional)} positional "
            f"argument(s); fix `inputs:` to match the signature"
        )
    if len(specs) < len(required):
        missing = required[len(specs):]
        raise InputSpecError(
            f"{len(specs)} inputs given but {sig} requires {len(required)}; no input spec for "
            f"{', '.join(missing)} (add them to `inputs:` or give them defaults)"
        )
    out = []
    for i, spec in enumerate(specs):
        arg, inner = _unwrap_arg(spec)
        pname = names[i] if i < len(names) else None
        if arg is not None and arg != pname:
            raise InputSpecError(
                f"inputs[{i}] is declared for argument {arg!r} but position {i} of {sig} is "
                f"{pname!r}; reorder `inputs:` or fix the `arg:` name"
            )
        if isinstance(inner, dict) and "shape" in inner and inner.get("name") is None and pname:
            inner = dict(inner, name=pname)
        out.append(inner)
    return out


def name_tensors(specs: list[Any]) -> list[Any]:
    """Give every unnamed tensor a unique feed name (`input_<n>`); raise on duplicate names."""
    seen: set[str] = set()
    counter = iter(range(1_000_000))
    for spec in iter_tensor_specs(specs):
        if spec["name"] is None:
            name = f"input_{next(counter)}"
            while name in seen:
                name = f"input_{next(counter)}"
            spec["name"] = name
        if spec["name"] in seen:
            raise InputSpecError(
                f"input name {spec['name']!r} is used twice; every tensor input needs a unique name"
            )
        seen.add(spec["name"])
    return specs


def iter_tensor_specs(specs: Any) -> Iterator[dict]:
    """Yield the tensor spec dicts of a nest in order (lists, dict values, skipping values)."""
    if isinstance(specs, list):
        for s in specs:
            yield from iter_tensor_specs(s)
    elif isinstance(specs, dict):
        if "__dict__" in specs:
            for s in specs["__dict__"].values():
                yield from iter_tensor_specs(s)
        elif "shape" in specs:
            yield specs


def to_paddle_specs(specs: Any) -> Any:
    """Convert a spec nest to what `paddle.jit.to_static(input_spec=...)` takes."""
    from paddle.static import InputSpec

    if isinstance(specs, list):
        return [to_paddle_specs(s) for s in specs]
    if isinstance(specs, ValueSpec):
        return specs.value
    if isinstance(specs, dict) and "__dict__" in specs:
        return {k: to_paddle_specs(v) for k, v in specs["__dict__"].items()}
    if isinstance(specs, dict) and "shape" in specs:
        return InputSpec(shape=list(specs["shape"]), dtype=specs["dtype"], name=specs["name"])
    return specs


def from_paddle_specs(specs: Any) -> Any:
    """Convert InputSpec nests (as in `BuiltModel.input_spec`) to the plain form used here."""
    from paddle.static import InputSpec

    if isinstance(specs, (list, tuple)):
        return [from_paddle_specs(s) for s in specs]
    if isinstance(specs, dict):
        if "__dict__" in specs or "shape" in specs:
            return specs
        return {"__dict__": {k: from_paddle_specs(v) for k, v in specs.items()}}
    if isinstance(specs, InputSpec):
        dtype = str(specs.dtype).replace("paddle.", "")
        return {"name": specs.name,
                "shape": [None if d in (None, -1) else int(d) for d in specs.shape],
                "dtype": dtype}
    if isinstance(specs, ValueSpec):
        return specs
    return ValueSpec(specs)


def parse_fixed_input_shape(value: Any) -> list[int] | None:
    """Parse `--fixed_input_shape` with PaddleRS semantics into `[n, c, h, w]`.

    `[w, h]` -> `[-1, 3, h, w]`; `[n, c, w, h]` -> `[n, c, h, w]` (n may be -1).
    Accepts a list or a string such as "[224,224]" or "224,224". None/"" -> None.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    hint = "use [w,h] (e.g. [224,224]) or [n,c,w,h] (e.g. [-1,3,224,224])"
    if isinstance(value, str):
        text = value.strip()
        if not re.fullmatch(r"\[?\s*-?\d+(\s*,\s*-?\d+)*\s*\]?", text):
            raise InputSpecError(f"--fixed_input_shape {value!r} is malformed: {hint}")
        dims = [int(x) for x in re.findall(r"-?\d+", text)]
    elif isinstance(value, (list, tuple)) and all(
        isinstance(d, int) and not isinstance(d, bool) for d in value
    ):
        dims = list(value)
    else:
        raise InputSpecError(f"--fixed_input_shape {value!r} is malformed: {hint}")
    if len(dims) == 2:
        w, h = dims
        n, c = -1, 3
    elif len(dims) == 4:
        n, c, w, h = dims
    else:
        raise InputSpecError(
            f"--fixed_input_shape {value!r} has {len(dims)} values: {hint}"
        )
    if w <= 0 or h <= 0 or c <= 0 or not (n > 0 or n == -1):
        raise InputSpecError(
            f"--fixed_input_shape {value!r}: width, height and channels must be positive and the "
            f"batch size positive or -1; {hint}"
        )
    return [n, c, h, w]


def apply_fixed_shape(specs: list[Any], nchw: list[int], target: str | None) -> str:
    """Set the shape of the image input (`target`, or the first 4-D tensor) to `nchw`.

    Returns the name of the input changed. Raises InputSpecError when there is none.
    """
    tensors = list(iter_tensor_specs(specs))
    if target is not None:
        chosen = [t for t in tensors if t["name"] == target]
        if not chosen:
            raise InputSpecError(
                f"--fixed_input_shape: the model has no input named {target!r} "
                f"(inputs: {', '.join(str(t['name']) for t in tensors)})"
            )
    else:
        chosen = [t for t in tensors if len(t["shape"]) == 4]
        if not chosen:
            raise InputSpecError(
                "--fixed_input_shape needs a 4-D image input [n,c,h,w]; the model's inputs are "
                + ", ".join(f"{t['name']}{t['shape']}" for t in tensors)
            )
    spec = chosen[0]
    if len(spec["shape"]) != 4:
        raise InputSpecError(
            f"--fixed_input_shape: input {spec['name']!r} has shape {spec['shape']}, not 4-D"
        )
    spec["shape"] = [None if nchw[0] == -1 else nchw[0], nchw[1], nchw[2], nchw[3]]
    return spec["name"]


def random_inputs(specs: Any, seed: int = 0) -> dict[str, np.ndarray]:
    """Random arrays for every tensor spec, unknown dims replaced by small sizes.

    The first unknown dim of a tensor is the batch (size 1), other unknown dims get 32.
    Floats are standard normal, ints in [0, 10), bools random.
    """
    rng = np.random.default_rng(seed)
    out: dict[str, np.ndarray] = {}
    for spec in iter_tensor_specs(specs):
        shape = [(UNKNOWN_BATCH if i == 0 else UNKNOWN_DIM) if d is None else d
                 for i, d in enumerate(spec["shape"])]
        dtype = spec["dtype"]
        if dtype == "bool":
            arr = rng.integers(0, 2, size=shape).astype(bool)
        elif dtype.startswith(("int", "uint")):
            arr = rng.integers(0, 10, size=shape).astype(dtype)
        elif dtype == "bfloat16":
            arr = rng.standard_normal(shape).astype("float32")
        else:
            arr = rng.standard_normal(shape).astype(dtype)
        out[spec["name"]] = arr
    return out


def pack_args(specs: Any, inputs: dict[str, Any], convert: Callable[[Any], Any]) -> Any:
    """Build call arguments following the spec nest: tensors from `inputs` by name (through
    `convert`), constants from ValueSpec."""
    if isinstance(specs, list):
        return [pack_args(s, inputs, convert) for s in specs]
    if isinstance(specs, ValueSpec):
        return specs.value
    if isinstance(specs, dict) and "__dict__" in specs:
        return {k: pack_args(v, inputs, convert) for k, v in specs["__dict__"].items()}
    if isinstance(specs, dict) and "shape" in specs:
        if specs["name"] not in inputs:
            raise InputSpecError(f"no value for input {specs['name']!r}")
        return convert(inputs[specs["name"]])
    return specs
