"""Read feed/fetch variables (name, dtype, shape, lod level) from inference programs.

PIR programs (`*.json`, Paddle 3) are parsed as JSON; legacy programs (`*.pdmodel`,
`__model__`, a `ProgramDesc` protobuf) with Paddle's `framework_pb2`, loaded from the installed
paddle package without importing paddle itself.
"""

from __future__ import annotations

import importlib.util
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_PIR_DTYPES = {
    "t_f32": "float32", "t_f64": "float64", "t_f16": "float16", "t_bf16": "bfloat16",
    "t_i64": "int64", "t_i32": "int32", "t_i16": "int16", "t_i8": "int8", "t_ui8": "uint8",
    "t_bool": "bool", "t_c64": "complex64", "t_c128": "complex128",
}
_PIR_ATTR_DTYPES = {"float32", "float64", "float16", "bfloat16", "int64", "int32", "int16",
                    "int8", "uint8", "bool", "complex64", "complex128"}
_LEGACY_DTYPES = {
    "BOOL": "bool", "INT16": "int16", "INT32": "int32", "INT64": "int64", "FP16": "float16",
    "FP32": "float32", "FP64": "float64", "UINT8": "uint8", "INT8": "int8", "BF16": "bfloat16",
    "COMPLEX64": "complex64", "COMPLEX128": "complex128",
}


class ProgramReadError(ValueError):
    """The program file cannot be read or has an unexpected structure."""


@dataclass(frozen=True)
class ProgramVar:
    """A feed or fetch variable of an inference program."""

    name: str
    dtype: str | None  # numpy dtype name, None when unknown
    shape: tuple[int, ...]
    lod_level: int = 0


@dataclass(frozen=True)
class ProgramIO:
    """Feeds (in feed order) and fetches (in fetch order) plus persistable var names (legacy)."""

    feeds: list[ProgramVar]
    fetches: list[ProgramVar]
    persistables: list[str]
    is_pir: bool


def is_pir_json(path: Path) -> bool:
    """True when `path` starts like a PIR program JSON file."""
    try:
        with path.open("rb") as fh:
            head = fh.read(256).lstrip()
    except OSError:
        return False
    return head.startswith(b"{")


def read_program(path: str | Path) -> ProgramIO:
    """Feeds/fetches of a PIR json or legacy ProgramDesc file (chosen by content)."""
    p = Path(path)
    if not p.is_file():
        raise ProgramReadError(f"{p}: program file not found")
    if is_pir_json(p):
        return read_pir_program(p)
    return read_legacy_program(p)


def _attrs(op: dict) -> dict[str, Any]:
    out = {}
    for a in op.get("A", []):
        if isinstance(a, dict) and "N" in a:
            at = a.get("AT", {})
            out[a["N"]] = at.get("D") if isinstance(at, dict) else at
    return out


def _tensor_type(value: dict) -> tuple[str | None, tuple[int, ...], int]:
    tt = value.get("TT", {})
    data = tt.get("D") if isinstance(tt, dict) else None
    if not isinstance(data, list) or len(data) < 2:
        return None, (), 0
    kind = data[0].get("#", "") if isinstance(data[0], dict) else ""
    dtype = _PIR_DTYPES.get(kind.split(".")[-1])
    shape = tuple(int(d) for d in data[1]) if isinstance(data[1], list) else ()
    lod = data[3] if len(data) > 3 and isinstance(data[3], list) else []
    return dtype, shape, len(lod)


def read_pir_program(path: Path) -> ProgramIO:
    """Parse `pd_op.data` / `pd_op.fetch` ops of a PIR JSON program (`"#": "1.data"`)."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        ops = doc["program"]["regions"][0]["blocks"][0]["ops"]
    except (OSError, ValueError, KeyError, IndexError, TypeError) as exc:
        raise ProgramReadError(f"{path}: not a PIR program JSON ({type(exc).__name__}: {exc})") from None
    feeds, fetches = [], []
    for op in ops:
        kind = str(op.get("#", "")).split(".")[-1]
        if kind not in ("data", "fetch"):
            continue
        attrs = _attrs(op)
        outs = op.get("O") or []
        out = outs[0] if isinstance(outs, list) and outs else outs
        dtype, shape, lod = _tensor_type(out) if isinstance(out, dict) else (None, (), 0)
        if kind == "data":
            if dtype is None and attrs.get("dtype") in _PIR_ATTR_DTYPES:
                dtype = attrs["dtype"]
            attr_shape = attrs.get("shape")
            if isinstance(attr_shape, list) and attr_shape:
                shape = tuple(int(d) for d in attr_shape)
            feeds.append(ProgramVar(str(attrs.get("name")), dtype, shape, lod))
        else:
            fetches.append((int(attrs.get("col", len(fetches))),
                            ProgramVar(str(attrs.get("name")), dtype, shape, lod)))
    if not feeds or not fetches:
        raise ProgramReadError(f"{path}: the PIR program has no data (feed) or fetch ops")
    return ProgramIO(feeds, [v for _, v in sorted(fetches, key=lambda t: t[0])], [], True)


def _framework_pb2():
    spec = importlib.util.find_spec("paddle")
    if spec is None or not spec.submodule_search_locations:
        raise ProgramReadError("reading a legacy ProgramDesc needs paddlepaddle installed")
    pb2_path = Path(list(spec.submodule_search_locations)[0]) / "base" / "proto" / "framework_pb2.py"
    if not pb2_path.is_file():
        raise ProgramReadError(f"{pb2_path} not found: cannot parse legacy programs")
    mod_spec = importlib.util.spec_from_file_location("_scaffold_paddle_framework_pb2", pb2_path)
    module = importlib.util.module_from_spec(mod_spec)
    mod_spec.loader.exec_module(module)
    return module


_PB2 = None


def _pb2():
    global _PB2
    if _PB2 is None:
        _PB2 = _framework_pb2()
    return _PB2


def read_legacy_program(path: Path) -> ProgramIO:
    """Parse a legacy `ProgramDesc` (`*.pdmodel`, `__model__`): feed/fetch ops of block 0."""
    pb2 = _pb2()
    desc = pb2.ProgramDesc()
    try:
        desc.ParseFromString(path.read_bytes())
    except Exception as exc:  # protobuf DecodeError and friends
        raise ProgramReadError(f"{path}: not a Paddle program (PIR json or ProgramDesc): {exc}") from None
    if not desc.blocks:
        raise ProgramReadError(f"{path}: the program has no blocks")
    block = desc.blocks[0]
    var_type = pb2.VarType
    tensor_field = "dense_tensor" if "dense_tensor" in var_type.DESCRIPTOR.fields_by_name else "lod_tensor"
    variables = {}
    persistables = []
    for v in block.vars:
        tdesc = getattr(v.type, tensor_field)
        fields = tdesc.DESCRIPTOR.fields_by_name
        lod_field = "legacy_lod_level" if "legacy_lod_level" in fields else "lod_level"
        dtype = _LEGACY_DTYPES.get(var_type.Type.Name(tdesc.tensor.data_type)) \
            if v.type.HasField(tensor_field) else None
        variables[v.name] = ProgramVar(v.name, dtype, tuple(int(d) for d in tdesc.tensor.dims),
                                       int(getattr(tdesc, lod_field)))
        kind = var_type.Type.Name(v.type.type)
        if v.persistable and kind not in ("FEED_MINIBATCH", "FETCH_LIST", "RAW"):
            persistables.append(v.name)
    feeds, fetches = [], []
    for op in block.ops:
        if op.type not in ("feed", "fetch"):
            continue
        col = next((a.i for a in op.attrs if a.name == "col"), 0)
        slot = op.outputs if op.type == "feed" else op.inputs
        names = [arg for s in slot if s.parameter in ("Out", "X") for arg in s.arguments]
        if not names:
            continue
        var = variables.get(names[0], ProgramVar(names[0], None, ()))
        (feeds if op.type == "feed" else fetches).append((col, var))
    if not feeds or not fetches:
        raise ProgramReadError(f"{path}: the program has no feed or fetch ops; is it an "
                               "inference model (saved by jit.save / save_inference_model)?")
    return ProgramIO([v for _, v in sorted(feeds, key=lambda t: t[0])],
                     [v for _, v in sorted(fetches, key=lambda t: t[0])],
                     sorted(persistables), False)
