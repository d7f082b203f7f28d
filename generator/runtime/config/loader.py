"""Load and validate a Paddle Serving 0.9 Pipeline `config.yml` (or the dict passed instead).

`load_pipeline_config()` returns a new plain nested dict holding every key of Paddle Serving's
schema with Paddle Serving's defaults and meanings (see `config_schema` for the tables and
`KEY_DOCS` for one-line meanings). Differences from Paddle Serving:

- Errors raise `PipelineConfigError` (never SystemExit). Each line names the source (file path or
  "<yml_dict>"), the dotted key path, what was expected and what was found; all problems are
  reported at once. Ints reject bools and strings ("8" gets a hint to drop the quotes), bools
  reject "true"/"false" strings.
- Unknown keys are ignored with a warning, as Paddle Serving ignores them, unless they look like
  a typo of a known key ("concurency"), which is an error with a suggestion. A known key in the
  wrong section (`thread_num` directly under an Op) gets a warning saying where it belongs.
- Op-level `retry` is honoured (Paddle Serving 0.9 ignores the YAML value).
- `local_service_conf.client_type` missing while `model_config` is set defaults to
  "local_predictor" with a warning (Paddle Serving crashes with UnboundLocalError); "brpc" runs
  as "local_predictor" (same model, same device, in-process) with a warning; "grpc" is an error
  (Paddle Serving rejects it too when the Op starts).
- An unknown `precision` is an error (Paddle Serving silently falls back to fp32).
- `device_type` 3..6 (ARM, Kunlun XPU, Ascend 310/910) are errors: this runtime runs CPU, GPU and
  TensorRT only. `use_trt` is accepted and ignored with a warning.
- `dag.enable_prometheus` does not need the tracer; `/metrics` is also always served on http_port.

Extensions (all optional; documented in `KEY_DOCS`):

- top level: `max_message_size_mb` (int 4..2047, 256: gRPC send/receive limit and HTTP body
  limit), `shutdown_timeout_s` (number > 0, 30: graceful drain limit on SIGINT/SIGTERM),
  `http_host` ("0.0.0.0") and `rpc_host` ("[::]"): bind addresses; `http_max_connections`
  (1000), `http_header_timeout_s` (15) and `http_body_timeout_s` (120): HTTP connection limits.
  `request_timeout_s` (30): every request's deadline (err_no 6000 past it);
  `max_concurrent_rpcs` (0: derived): gRPC calls in progress at most, one more gets 8001 at once;
  `max_image_pixels` (40,000,000) and `max_images_per_request` (64): per-request image limits
  (err_no 5000). `strict_device` (false): an Op asking for a GPU on a CPU-only Paddle build runs on CPU with
  one start-up warning (`device_fallback`); true makes that a start-up error.
- `local_service_conf`: `min_input_shape` / `max_input_shape` / `opt_input_shape` (TensorRT
  dynamic shapes: input name -> list of positive ints; all three or none, same inputs, same rank,
  min <= opt <= max); `use_static` (false: serialize TensorRT engines); `trt_cache_dir` (null
  means `<model_config>/_opt_cache`); `trt_workspace_size` (bytes, 1 << 30);
  `trt_max_batch_size` (32); `collect_shape_range_info` / `tuned_dynamic_shape_info` (paths, "";
  Paddle Serving develop-branch keys, one at a time, not with explicit dynamic shapes).

Relative paths (`model_config`, ...) are kept as written: like Paddle Serving, they are relative
to the working directory of the server, not to the config file.
"""

from __future__ import annotations

import difflib
import logging
import os
import socket
from collections.abc import Iterable, Mapping
from typing import Any

import yaml

from generator.runtime.config.schema import (
    DAG_KEYS,
    IGNORED_KEYS,
    KEY_DOCS,
    LOCAL_KEYS,
    OP_KEYS,
    SECTIONS,
    SUPPORTED_DEVICE_TYPES,
    TOP_KEYS,
    TRACER_KEYS,
    UNSUPPORTED_DEVICE_TYPES,
    Key,
)
from generator.runtime.errors import ConfigValidationError, PipelineConfigError

__all__ = [
    "KEY_DOCS",
    "YML_DICT_SOURCE",
    "ConfigValidationError",
    "check_dynamic_shape_info",
    "default_op_config",
    "dynamic_shape_info",
    "load_pipeline_config",
    "op_config",
    "pick_free_port",
    "resolve_devices",
    "validate_pipeline_config",
]

logger = logging.getLogger(__name__)

#: The source name used in messages when a dict is passed instead of a file.
YML_DICT_SOURCE = "<yml_dict>"

_SHAPE_KEYS = ("min_input_shape", "max_input_shape", "opt_input_shape")
_SIMILARITY_CUTOFF = 0.8


# --------------------------------------------------------------------------- helpers


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
    matches = difflib.get_close_matches(name, list(candidates), n=1, cutoff=_SIMILARITY_CUTOFF)
    return matches[0] if matches else None


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


# --------------------------------------------------------------------------- devices


def _parse_devices(devices: str) -> list[int]:
    """'0,1' -> [0, 1]; '' -> []. Raises ValueError for anything else."""
    if not devices.strip():
        return []
    ids: list[int] = []
    for part in devices.split(","):
        part = part.strip()
        if not part.isdigit():
            raise ValueError(part)
        ids.append(int(part))
    return ids


_DEVICES_EXPECTED = 'comma-separated GPU ids such as "0" or "0,1" (or "" for CPU)'


def resolve_devices(
    local_conf: Mapping[str, Any], *, where: str = "local_service_conf"
) -> tuple[str, list[int]]:
    """Map `device_type`/`devices` of a local_service_conf to ("cpu", [-1]) or
    ("gpu" | "trt", [gpu ids]), following Paddle Serving's device_type table:
    -1: "" is CPU, "0,1" is GPU; 0: CPU (devices ignored); 1: GPU ("" means [0]);
    2: TensorRT ("" means [0]). Raises PipelineConfigError for invalid values."""
    device_type = local_conf.get("device_type", -1)
    devices = local_conf.get("devices", "")
    if devices is None:
        devices = ""
    if not _is_int(device_type) or device_type not in SUPPORTED_DEVICE_TYPES:
        if _is_int(device_type) and device_type in UNSUPPORTED_DEVICE_TYPES:
            raise PipelineConfigError(
                f"{where}.device_type: device_type {device_type} "
                f"({UNSUPPORTED_DEVICE_TYPES[device_type]}) is not supported by this runtime; "
                "use -1/0 (CPU), 1 (GPU) or 2 (TensorRT)"
            )
        raise PipelineConfigError(
            f"{where}.device_type: expected one of -1, 0, 1, 2, found {_found(device_type)}"
        )
    if not isinstance(devices, str):
        raise PipelineConfigError(
            f"{where}.devices: expected {_DEVICES_EXPECTED}, found {_found(devices)}"
        )
    try:
        ids = _parse_devices(devices)
    except ValueError:
        raise PipelineConfigError(
            f"{where}.devices: expected {_DEVICES_EXPECTED}, found {_found(devices)}"
        ) from None
    if device_type == 0 or (device_type == -1 and not ids):
        return "cpu", [-1]
    if device_type == 2:
        return "trt", ids or [0]
    return "gpu", ids or [0]


# --------------------------------------------------------------------------- dynamic shapes


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


# --------------------------------------------------------------------------- ops


def _check_local_conf(ctx: _Checker, raw: Mapping[str, Any], path: str) -> dict[str, Any]:
    conf = _check_section(ctx, raw, LOCAL_KEYS, path, "op.*.local_service_conf")
    p = lambda name: _join(path, name)  # noqa: E731

    if "use_trt" in raw:
        ctx.warn(
            p("use_trt"),
            "use_trt is ignored (as in Paddle Serving); set device_type: 2 to run with TensorRT",
        )

    client_type = conf["client_type"]
    if client_type is None and conf["model_config"] is not None:
        ctx.warn(
            p("client_type"),
            "not set; using 'local_predictor' (Paddle Serving requires "
            "it; add client_type: local_predictor)",
        )
        conf["client_type"] = "local_predictor"
    elif client_type == "grpc":
        ctx.error(
            p("client_type"),
            "client_type 'grpc' cannot run a local model (Paddle "
            "Serving rejects it too); use 'local_predictor'",
        )
    elif client_type == "brpc":
        ctx.warn(
            p("client_type"),
            "'brpc' (C++ Serving) is run as 'local_predictor' "
            "(in-process Paddle Inference) by this runtime",
        )
        conf["client_type"] = "local_predictor"

    if ctx.ok(p("devices")):
        try:
            ids = _parse_devices(conf["devices"])
        except ValueError:
            ctx.expected(p("devices"), _DEVICES_EXPECTED, conf["devices"])
        else:
            if conf["device_type"] == 0 and ids and ctx.ok(p("device_type")):
                ctx.warn(
                    p("devices"),
                    f"devices {conf['devices']!r} is ignored because device_type is 0 (CPU)",
                )

    shape_paths = [p(k) for k in _SHAPE_KEYS]
    if ctx.ok(*shape_paths):
        _check_shape_triplet(ctx, {k: conf[k] for k in _SHAPE_KEYS}, path)
    if conf["min_input_shape"] and conf["tuned_dynamic_shape_info"]:
        ctx.error(
            p("tuned_dynamic_shape_info"),
            "set either tuned_dynamic_shape_info or min/max/opt_input_shape, not both",
        )
    if conf["collect_shape_range_info"] and conf["tuned_dynamic_shape_info"]:
        ctx.error(
            p("collect_shape_range_info"),
            "set either collect_shape_range_info (first "
            "run: record shapes) or tuned_dynamic_shape_info (later runs: use them), not "
            "both",
        )
    if conf["min_input_shape"] and conf["device_type"] != 2:
        ctx.warn(
            p("min_input_shape"),
            "dynamic shapes only apply with device_type: 2 (TensorRT); ignored",
        )
    return conf


def _check_endpoint(ctx: _Checker, endpoint: str, path: str) -> None:
    host, sep, port = endpoint.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) <= 65535:
        ctx.expected(path, "'host:port'", endpoint)


def _check_op(ctx: _Checker, name: str, raw: Any, path: str) -> dict[str, Any]:
    if raw is not None and not isinstance(raw, Mapping):
        ctx.expected(path, "a mapping of Op settings", raw)
        raw = None
    conf = _check_section(ctx, raw, OP_KEYS, path, "op.*")
    local_path = _join(path, "local_service_conf")
    conf["local_service_conf"] = _check_local_conf(ctx, conf["local_service_conf"], local_path)

    endpoints = conf["server_endpoints"]
    if endpoints and ctx.ok(_join(path, "server_endpoints")):
        for i, endpoint in enumerate(endpoints):
            _check_endpoint(ctx, endpoint, f"{_join(path, 'server_endpoints')}[{i}]")
        client_type = conf["client_type"]
        if client_type not in ("brpc", "pipeline_grpc"):
            ctx.expected(
                _join(path, "client_type"),
                "'brpc' or 'pipeline_grpc' (required with server_endpoints)",
                client_type,
            )
        elif client_type == "brpc" and not conf["client_config"]:
            ctx.error(
                _join(path, "client_config"),
                "required with server_endpoints and "
                "client_type 'brpc': the path of serving_client_conf.prototxt",
            )
        if conf["local_service_conf"]["model_config"] is not None:
            ctx.warn(
                local_path, "ignored: server_endpoints is set, so the Op calls a remote service"
            )
    return conf


def default_op_config() -> dict[str, Any]:
    """The settings of an Op that config.yml does not mention."""
    return op_config("<default>", None, "<defaults>")


def op_config(name: str, conf: Mapping[str, Any] | None, source: str) -> dict[str, Any]:
    """Validate one Op's settings (`op.<name>` of config.yml; None means all defaults) and
    return a new dict with every key filled. Raises PipelineConfigError naming `source` and
    `op.<name>.<key>`."""
    ctx = _Checker(source)
    result = _check_op(ctx, name, conf, _join("op", name))
    ctx.raise_if_errors()
    return result


# --------------------------------------------------------------------------- ports


def _port_is_free(port: int) -> bool:
    """Whether a listening TCP socket could bind `port` on all IPv4 (and IPv6) addresses."""
    families = [(socket.AF_INET, "0.0.0.0")]
    if socket.has_ipv6:
        families.append((socket.AF_INET6, "::"))
    for family, host in families:
        try:
            sock = socket.socket(family, socket.SOCK_STREAM)
        except OSError:
            continue  # this address family is not available on the host
        with sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gRPC does
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                sock.bind((host, port))
            except OSError:
                if family == socket.AF_INET6:
                    continue  # IPv6 exists but is unusable; IPv4 decided
                return False
    return True


def pick_free_port(start: int = 12000, exclude: Iterable[int] = ()) -> int:
    """The first port >= `start` that can be bound and is not in `exclude`, as Paddle Serving's
    AvailablePortGenerator picks the gRPC port when only http_port is configured."""
    excluded = set(exclude)
    for port in range(start, 65536):
        if port not in excluded and _port_is_free(port):
            return port
    raise PipelineConfigError(f"no free TCP port between {start} and 65535")


# --------------------------------------------------------------------------- pipeline


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that rejects duplicate mapping keys (PyYAML keeps the last silently)."""


def _construct_unique_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> Any:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue
        key = loader.construct_object(key_node)
        try:
            first = seen.get(key)
        except TypeError:  # unhashable: the base constructor reports it
            continue
        if first is not None:
            raise yaml.constructor.ConstructorError(
                "while constructing a mapping",
                node.start_mark,
                f"found duplicate key {key!r} (first at line {first + 1})",
                key_node.start_mark,
            )
        seen[key] = key_node.start_mark.line
    return loader.construct_mapping(node)


_UniqueKeyLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_unique_mapping
)


def _read_yaml(source: str) -> Any:
    try:
        with open(source, "rb") as stream:
            data = stream.read()
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise PipelineConfigError(f"{source}: cannot read the pipeline config: {reason}") from exc
    try:
        return yaml.load(data, Loader=_UniqueKeyLoader)  # a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = exc.problem or exc.context or "syntax error"
        raise PipelineConfigError(f"{source}: invalid YAML{where}: {problem}") from exc
    except yaml.YAMLError as exc:
        raise PipelineConfigError(f"{source}: invalid YAML: {exc}") from exc


def load_pipeline_config(
    yml_file: str | os.PathLike[str] | None = None, yml_dict: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Read a pipeline config from `yml_file` or take `yml_dict` (exactly one), validate it and
    return a new nested dict with every key filled with Paddle Serving's defaults. When only
    http_port is set, rpc_port is a free port picked from 12000 up.

    Raises PipelineConfigError naming the file (or "<yml_dict>"), listing every problem."""
    if yml_file is not None and yml_dict is not None:
        raise PipelineConfigError(
            "load_pipeline_config: pass either yml_file or yml_dict, not both"
        )
    if yml_file is None and yml_dict is None:
        raise PipelineConfigError(
            "load_pipeline_config: pass yml_file (path of config.yml) or yml_dict"
        )
    if yml_file is not None:
        source = os.fsdecode(yml_file)
        raw = _read_yaml(source)
    else:
        source = YML_DICT_SOURCE
        raw = yml_dict
    return validate_pipeline_config(raw, source)


def validate_pipeline_config(raw: Any, source: str = YML_DICT_SOURCE) -> dict[str, Any]:
    """Validate an already-parsed config (see `load_pipeline_config`)."""
    ctx = _Checker(source)
    if not isinstance(raw, Mapping):
        what = "an empty document" if raw is None else _found(raw)
        raise PipelineConfigError(
            f"{source}: the top level must be a mapping of settings (rpc_port, http_port, dag, "
            f"op, ...), found {what}"
        )
    config = _check_section(ctx, raw, TOP_KEYS, "", "")

    dag = _check_section(ctx, config["dag"], DAG_KEYS, "dag", "dag")
    dag["tracer"] = _check_section(ctx, dag["tracer"], TRACER_KEYS, "dag.tracer", "dag.tracer")
    config["dag"] = dag

    ops: dict[str, Any] = {}
    for name, op_raw in config["op"].items():
        if not isinstance(name, str) or not name:
            ctx.expected("op", "Op names that are non-empty strings", name)
            continue
        ops[name] = _check_op(ctx, name, op_raw, _join("op", name))
    config["op"] = ops

    _check_ports(ctx, config)
    if config["build_dag_each_worker"]:
        for name, op in ops.items():
            if op["batch_size"] > 1:
                ctx.warn(
                    f"op.{name}.batch_size",
                    "ignored: build_dag_each_worker is true, "
                    "which forces batch_size 1 (as in Paddle Serving)",
                )
    ctx.raise_if_errors()

    if config["rpc_port"] is None:
        taken = {config["http_port"], dag["prometheus_port"]} - {None}
        config["rpc_port"] = pick_free_port(12000, exclude=taken)
        logger.info("%s: rpc_port not set; using free port %d for gRPC", source, config["rpc_port"])
    return config


def _check_ports(ctx: _Checker, config: dict[str, Any]) -> None:
    rpc, http = config["rpc_port"], config["http_port"]
    dag = config["dag"]
    if rpc is None and http is None and ctx.ok("rpc_port", "http_port"):
        ctx.error(
            "rpc_port",
            "at least one of rpc_port and http_port is required; add e.g. "
            "'rpc_port: 9998' and 'http_port: 18082'",
        )
    if rpc is not None and rpc == http:
        ctx.error("http_port", f"expected a port different from rpc_port, found {http} for both")
    prom = dag["prometheus_port"]
    if prom is not None and prom in (rpc, http):
        ctx.error(
            "dag.prometheus_port",
            f"expected a port different from rpc_port and http_port, found {prom}",
        )
    if dag["enable_prometheus"] and prom is None and ctx.ok("dag.prometheus_port"):
        ctx.warn(
            "dag.prometheus_port",
            "enable_prometheus is true but prometheus_port is not "
            "set; /metrics is served on http_port only",
        )
    elif prom is not None and not dag["enable_prometheus"]:
        ctx.warn("dag.prometheus_port", "ignored because dag.enable_prometheus is false")
