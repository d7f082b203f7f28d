"""`inference_model_to_serving`: an inference model -> `serving_server/` + `serving_client/`.

The equivalent of `paddle_serving_client.io.inference_model_to_serving` for Paddle 3: reads the
program's feed/fetch variables without `paddle.fluid`, writes the prototxt pairs as
general_model_config.proto describes and copies the model and parameter files.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from generator.export.errors import ConvertError
from generator.serving_model.model_config import (
    DTYPE_TO_CODE,
    VarInfo,
    write_model_config,
)
from generator.serving_model.program_io import ProgramIO, ProgramReadError, ProgramVar, read_program

SERVER_PREFIX = "serving_server"
CLIENT_PREFIX = "serving_client"


def _split_aliases(value: str | Sequence[str] | None) -> list[str] | None:
    if value is None:
        return None
    items = value.split(",") if isinstance(value, str) else list(value)
    items = [str(x).strip() for x in items]
    if not any(items):
        return None
    if not all(items):
        raise ConvertError(f"alias names {value!r} contain an empty name")
    return items


def find_model_file(dirname: Path, model_filename: str | None) -> Path:
    """Pick the program file: the given name, else `__model__`, a single `*.json` or `*.pdmodel`."""
    if model_filename:
        path = dirname / model_filename
        if not path.is_file():
            raise ConvertError(f"--model_filename {model_filename!r}: {path} does not exist")
        return path
    if (dirname / "__model__").is_file():
        return dirname / "__model__"
    for pattern in ("*.json", "*.pdmodel"):
        found = sorted(p for p in dirname.glob(pattern) if p.is_file())
        if pattern == "*.json":
            found = [p for p in found if p.with_suffix(".pdiparams").is_file()] or found
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            raise ConvertError(
                f"{dirname}: several program files ({', '.join(p.name for p in found)}); "
                "choose one with --model_filename"
            )
    raise ConvertError(
        f"{dirname}: no inference program found (looked for __model__, *.json, *.pdmodel); "
        "pass --model_filename"
    )


def find_params(dirname: Path, model_file: Path, params_filename: str | None,
                io: ProgramIO) -> list[Path]:
    """Parameter files to copy: the combined file, or one file per persistable (legacy only)."""
    if params_filename:
        path = dirname / params_filename
        if not path.is_file():
            raise ConvertError(f"--params_filename {params_filename!r}: {path} does not exist")
        return [path]
    candidates = [dirname / "__params__"] if model_file.name == "__model__" else []
    candidates.append(model_file.with_suffix(".pdiparams"))
    for cand in candidates:
        if cand.is_file():
            return [cand]
    if io.is_pir:
        raise ConvertError(
            f"{dirname}: no parameter file for {model_file.name} (expected "
            f"{model_file.with_suffix('.pdiparams').name}); pass --params_filename"
        )
    if not io.persistables:
        return []
    missing = [n for n in io.persistables if not (dirname / n).is_file()]
    if missing:
        raise ConvertError(
            f"{dirname}: no combined parameter file and {len(missing)} separate parameter "
            f"file(s) missing ({', '.join(missing[:10])}); pass --params_filename"
        )
    return [dirname / n for n in io.persistables]


def _dtype_code(var: ProgramVar) -> int:
    return DTYPE_TO_CODE.get(var.dtype, -1) if var.dtype else -1


def to_var_info(var: ProgramVar, alias: str | None = None) -> VarInfo:
    """Serving fields of one variable: LoD -> shape [-1], else dims >= 0 only (no batch dim)."""
    is_lod = var.lod_level >= 1
    shape = (-1,) if is_lod else tuple(d for d in var.shape if d >= 0)
    return VarInfo(var.name, alias or var.name, _dtype_code(var), shape, is_lod)


def build_serving_vars(io: ProgramIO, feed_alias_names=None, fetch_alias_names=None
                       ) -> tuple[list[VarInfo], list[VarInfo]]:
    """FeedVar/FetchVar records: feeds in feed order, fetches sorted by variable name."""
    feed_aliases = _split_aliases(feed_alias_names)
    fetch_aliases = _split_aliases(fetch_alias_names)
    fetch_sorted = sorted(io.fetches, key=lambda v: v.name)
    if feed_aliases is not None and len(feed_aliases) != len(io.feeds):
        raise ConvertError(
            f"--feed_alias_names has {len(feed_aliases)} name(s) but the model has "
            f"{len(io.feeds)} feed var(s): {', '.join(v.name for v in io.feeds)}"
        )
    if fetch_aliases is not None and len(fetch_aliases) != len(fetch_sorted):
        raise ConvertError(
            f"--fetch_alias_names has {len(fetch_aliases)} name(s) but the model has "
            f"{len(fetch_sorted)} fetch var(s) (sorted by name): "
            f"{', '.join(v.name for v in fetch_sorted)}"
        )
    feeds = [to_var_info(v, feed_aliases[i] if feed_aliases else None)
             for i, v in enumerate(io.feeds)]
    fetches = [to_var_info(v, fetch_aliases[i] if fetch_aliases else None)
               for i, v in enumerate(fetch_sorted)]
    return feeds, fetches


def config_text(feeds: list[VarInfo], fetches: list[VarInfo]) -> str:
    """The text prototxt for these variables (what `--show_proto` prints)."""
    from google.protobuf import text_format

    from generator.serving_model.model_config import build_message

    return text_format.MessageToString(build_message(feeds, fetches))


def _replace_dir(tmp: Path, final: Path) -> None:
    if final.exists():
        old = final.with_name(f".{final.name}.old-{tmp.name[-8:]}")
        final.rename(old)
        tmp.rename(final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        tmp.rename(final)


def inference_model_to_serving(
    dirname: str | Path,
    serving_server: str | Path = "serving_server",
    serving_client: str | Path = "serving_client",
    model_filename: str | None = None,
    params_filename: str | None = None,
    feed_alias_names: str | Sequence[str] | None = None,
    fetch_alias_names: str | Sequence[str] | None = None,
    show_proto: bool = False,
) -> tuple[list[str], list[str]]:
    """Convert an inference model directory into Paddle Serving's server and client folders.

    Inputs: PIR `*.json` or legacy `*.pdmodel` / `__model__`, with a combined params file
    (`*.pdiparams`, `__params__`, or `params_filename`) or separate per-variable files (legacy).
    `serving_server/` gets the model and params (file names kept) plus
    `serving_server_conf.prototxt` and `.stream.prototxt`; `serving_client/` the client pair.
    Alias lists are comma strings or sequences and must match the number of vars.
    Returns (feed var names, fetch var names sorted by name). Raises ConvertError; on error
    nothing is left behind.
    """
    src = Path(dirname)
    if not src.is_dir():
        raise ConvertError(f"--dirname {src}: not a directory")
    model_file = find_model_file(src, model_filename)
    try:
        io = read_program(model_file)
    except ProgramReadError as exc:
        raise ConvertError(str(exc)) from None
    params = find_params(src, model_file, params_filename, io)
    feeds, fetches = build_serving_vars(io, feed_alias_names, fetch_alias_names)
    unknown = [v.name for v in feeds + fetches if v.dtype_code == -1]
    if unknown:
        print(f"[convert] warning: unknown dtype for {', '.join(unknown)} (type code -1)",
              file=sys.stderr)

    server, client = Path(serving_server), Path(serving_client)
    if server.resolve() == client.resolve():
        raise ConvertError("--serving_server and --serving_client must be different directories")
    if server.resolve() == src.resolve():
        raise ConvertError("--serving_server must differ from --dirname")
    made: list[Path] = []
    try:
        for target in (server, client):
            target.parent.mkdir(parents=True, exist_ok=True)
            made.append(Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent)))
        tmp_server, tmp_client = made
        shutil.copy2(model_file, tmp_server / model_file.name)
        for p in params:
            shutil.copy2(p, tmp_server / p.name)
        write_model_config(tmp_server, SERVER_PREFIX, feeds, fetches)
        write_model_config(tmp_client, CLIENT_PREFIX, feeds, fetches)
        _replace_dir(tmp_server, server)
        made.remove(tmp_server)
        _replace_dir(tmp_client, client)
        made.remove(tmp_client)
    finally:
        for tmp in made:
            shutil.rmtree(tmp, ignore_errors=True)
    if show_proto:
        print(config_text(feeds, fetches), end="")
    return [v.name for v in feeds], [v.name for v in fetches]
