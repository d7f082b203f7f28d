"""Load and validate a Paddle Serving 0.9 Pipeline `config.yml` (or the dict passed instead).

`load_pipeline_config()` returns a new plain nested dict holding every key of Paddle Serving's
schema with Paddle Serving's defaults and meanings (see `schema` for the tables and
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
  one start-up warning (`inference.devices`); true makes that a start-up error.
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

import logging
import os
import socket
from collections.abc import Iterable, Mapping
from typing import Any

import yaml

from generator.runtime.config.checker import _check_section, _Checker, _found, _join
from generator.runtime.config.devices import _DEVICES_EXPECTED, _parse_devices
from generator.runtime.config.schema import (
    DAG_KEYS,
    LOCAL_KEYS,
    OP_KEYS,
    TOP_KEYS,
    TRACER_KEYS,
)
from generator.runtime.config.shapes import (
    _SHAPE_KEYS,
    _check_shape_triplet,
)
from generator.runtime.errors import PipelineConfigError

__all__ = [
    "YML_DICT_SOURCE",
    "default_op_config",
    "load_pipeline_config",
    "op_config",
    "pick_free_port",
    "validate_pipeline_config",
]

logger = logging.getLogger(__name__)

#: The source name used in messages when a dict is passed instead of a file.
YML_DICT_SOURCE = "<yml_dict>"


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
