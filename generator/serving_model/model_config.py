"""The `general_model_config.proto` schema (proto2, package `baidu.paddle_serving.configure`).

The message classes are built at import time from a descriptor, so no protoc step and no
generated `_pb2` module is needed, and the module works with any protobuf >= 4.21.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, text_format

PACKAGE = "baidu.paddle_serving.configure"

#: Paddle Serving type codes (`var_type_conversion`) to numpy dtype names.
CODE_TO_DTYPE: dict[int, str] = {
    0: "int64",
    1: "float32",
    2: "int32",
    3: "float64",
    4: "int16",
    5: "float16",
    6: "uint16",  # bf16 is carried as numpy uint16
    7: "uint8",
    8: "int8",
    9: "bool",
    10: "complex64",
    11: "complex128",
}
DTYPE_TO_CODE: dict[str, int] = {v: k for k, v in CODE_TO_DTYPE.items()}
DTYPE_TO_CODE["bfloat16"] = 6


class ModelConfigError(ValueError):
    """A serving model config file is missing or malformed."""


def _build_classes():
    fdp = descriptor_pb2.FileDescriptorProto(
        name="general_model_config.proto", package=PACKAGE, syntax="proto2"
    )
    opt = descriptor_pb2.FieldDescriptorProto
    for msg_name, type_field in (("FeedVar", "feed_type"), ("FetchVar", "fetch_type")):
        msg = fdp.message_type.add(name=msg_name)
        msg.field.add(name="name", number=1, type=opt.TYPE_STRING, label=opt.LABEL_OPTIONAL)
        msg.field.add(name="alias_name", number=2, type=opt.TYPE_STRING, label=opt.LABEL_OPTIONAL)
        msg.field.add(
            name="is_lod_tensor",
            number=3,
            type=opt.TYPE_BOOL,
            label=opt.LABEL_OPTIONAL,
            default_value="false",
        )
        msg.field.add(
            name=type_field, number=4, type=opt.TYPE_INT32, label=opt.LABEL_OPTIONAL, default_value="0"
        )
        msg.field.add(name="shape", number=5, type=opt.TYPE_INT32, label=opt.LABEL_REPEATED)
    cfg = fdp.message_type.add(name="GeneralModelConfig")
    cfg.field.add(
        name="feed_var", number=1, type=opt.TYPE_MESSAGE, label=opt.LABEL_REPEATED,
        type_name=f".{PACKAGE}.FeedVar",
    )
    cfg.field.add(
        name="fetch_var", number=2, type=opt.TYPE_MESSAGE, label=opt.LABEL_REPEATED,
        type_name=f".{PACKAGE}.FetchVar",
    )
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    get = message_factory.GetMessageClass
    return (
        get(pool.FindMessageTypeByName(f"{PACKAGE}.FeedVar")),
        get(pool.FindMessageTypeByName(f"{PACKAGE}.FetchVar")),
        get(pool.FindMessageTypeByName(f"{PACKAGE}.GeneralModelConfig")),
    )


FeedVar, FetchVar, GeneralModelConfig = _build_classes()


@dataclass(frozen=True)
class VarInfo:
    """One feed or fetch variable of a serving model."""

    name: str
    alias_name: str
    dtype_code: int
    shape: tuple[int, ...] = ()
    is_lod_tensor: bool = False

    @property
    def dtype(self) -> str:
        """numpy dtype name of the variable (`float32` when the code is unknown)."""
        return CODE_TO_DTYPE.get(self.dtype_code, "float32")


@dataclass(frozen=True)
class ServingModelConfig:
    """Feed and fetch variables read from `serving_server_conf.prototxt`."""

    feed_vars: list[VarInfo] = field(default_factory=list)
    fetch_vars: list[VarInfo] = field(default_factory=list)

    def feed_alias(self) -> dict[str, str]:
        """Map alias name -> model variable name for feeds."""
        return {v.alias_name: v.name for v in self.feed_vars}

    def fetch_alias(self) -> dict[str, str]:
        """Map alias name -> model variable name for fetches."""
        return {v.alias_name: v.name for v in self.fetch_vars}


def read_model_config(path: str | Path) -> ServingModelConfig:
    """Read a text `*_conf.prototxt` (or the directory holding `serving_server_conf.prototxt`)."""
    p = Path(path)
    if p.is_dir():
        p = p / "serving_server_conf.prototxt"
    if not p.is_file():
        raise ModelConfigError(
            f"{p}: serving model config not found; create it with `scaffold convert --dirname MODEL_DIR`"
        )
    msg = GeneralModelConfig()
    try:  # Merge, as Paddle Serving reads it: a field given twice takes the last value
        text_format.Merge(p.read_text(encoding="utf-8"), msg)
    except text_format.ParseError as exc:
        raise ModelConfigError(f"{p}: not a valid GeneralModelConfig text proto: {exc}") from exc
    feeds = [
        VarInfo(v.name, v.alias_name or v.name, v.feed_type, tuple(v.shape), v.is_lod_tensor)
        for v in msg.feed_var
    ]
    fetches = [
        VarInfo(v.name, v.alias_name or v.name, v.fetch_type, tuple(v.shape), v.is_lod_tensor)
        for v in msg.fetch_var
    ]
    return ServingModelConfig(feeds, fetches)


def build_message(feed_vars: list[VarInfo], fetch_vars: list[VarInfo]):
    """The `GeneralModelConfig` message for these variables."""
    msg = GeneralModelConfig()
    for v in feed_vars:
        msg.feed_var.add(name=v.name, alias_name=v.alias_name, is_lod_tensor=v.is_lod_tensor,
                         feed_type=v.dtype_code, shape=list(v.shape))
    for v in fetch_vars:
        msg.fetch_var.add(name=v.name, alias_name=v.alias_name, is_lod_tensor=v.is_lod_tensor,
                          fetch_type=v.dtype_code, shape=list(v.shape))
    return msg


def write_model_config(directory: str | Path, prefix: str, feed_vars: list[VarInfo],
                       fetch_vars: list[VarInfo]) -> None:
    """Write `<prefix>_conf.prototxt` (text) and `<prefix>_conf.stream.prototxt` (binary).

    `prefix` is `serving_server` or `serving_client`. Fetch vars are written in the given
    order; callers sort them by name as Paddle Serving's converter does.
    """
    msg = build_message(feed_vars, fetch_vars)
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    (d / f"{prefix}_conf.prototxt").write_text(text_format.MessageToString(msg), encoding="utf-8")
    (d / f"{prefix}_conf.stream.prototxt").write_bytes(msg.SerializeToString())
