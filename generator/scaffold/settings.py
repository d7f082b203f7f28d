"""The `service:` section of a native config: how the generated service runs and deploys.

Every key is optional; `scaffold new` flags (`--device`, `--trt`, `--http-port`, `--rpc-port`)
override the config. Validated before anything is written; unknown keys are errors with a
did-you-mean hint.

    service:
      http_port: 18080            # HTTP/JSON port (POST /<name>/prediction, /health/*, /metrics)
      rpc_port: 9998              # gRPC port (PipelineClient)
      host: 127.0.0.1             # listen address of both (0.0.0.0: all interfaces; the
                                  # Dockerfile and k8s/ pass --host 0.0.0.0 themselves)
      worker_num: 4               # gRPC server threads
      is_thread_op: true          # Ops as threads (false: processes)
      concurrency: null           # threads/processes running the model Op (null: 1, or 2 for a
                                  # backend that releases the GIL)
      batch_size: 1               # auto-batching: merge up to this many requests
      auto_batching_timeout: 10   # ms to wait to fill a batch (> 0 when batch_size > 1)
      timeout: -1                 # inference timeout, ms (<= 0: none)
      retry: 1                    # attempts of a timed-out inference
      channel_size: 0             # queued requests bound (0: unbounded); full -> err_no 8001
      shutdown_timeout_s: 30      # graceful drain on SIGTERM
      max_message_size_mb: 256    # largest request/response
      device: cpu                 # cpu | gpu
      devices: "0"                # GPU ids (device: gpu)
      trt: null                   # null | fp32 | fp16 | int8 (TensorRT; implies gpu)
      max_batch: 8                # largest batch TensorRT shapes are built for
      thread_num: 2               # CPU math threads per predictor
      use_mkldnn: null            # oneDNN on CPU (null: on where it gives the same outputs)
      ir_optim: true              # Paddle Inference IR passes
      draw_threshold: null        # detection: score threshold (null: infer_cfg.yml's)
      top_k: 5                    # classification: classes returned
      normalize: false            # embedding: L2-normalise the vector
      title: null                 # display title (README, clients); default: the config name
      image: null                 # container image (REGISTRY/NAME:TAG); default
                                  # <name>-serving:latest
      replicas: 1                 # Kubernetes Deployment replicas (HPA minimum)
      max_replicas: 4             # HPA maximum
      target_cpu_percent: 70      # HPA target average CPU utilisation
      cpu: "2"                    # container CPU request and limit
      memory: 2Gi                 # container memory request and limit
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from generator.scaffold.errors import ScaffoldConfigError
from generator.suggest import did_you_mean

DEVICES = ("cpu", "gpu")
TRT_PRECISIONS = ("fp32", "fp16", "int8")
_QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(m|k|M|G|T|Ki|Mi|Gi|Ti)?$")
_DEVICE_IDS = re.compile(r"^[0-9]+(,[0-9]+)*$")
_HOSTNAME = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                       r"(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$")
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_IMAGE = re.compile(rf"^(?:[A-Za-z0-9.-]+(?::[0-9]+)?/)?{_COMPONENT}(?:/{_COMPONENT})*"
                    r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[0-9a-f]{64})?$")


def bind_hosts(host: str) -> tuple[str, str]:
    """(http_host, rpc_host) of config.yml for one listen address (gRPC wants `[v6]`)."""
    bare = host.strip("[]")
    return bare, f"[{bare}]" if ":" in bare else bare


def check_host(host: object) -> str | None:
    """An error message for a listen address, or None when valid (an IP or a host name)."""
    import ipaddress

    if isinstance(host, str):
        try:
            ipaddress.ip_address(host.strip("[]"))
            return None
        except ValueError:
            if _HOSTNAME.match(host) and not host.replace(".", "").isdigit():  # not 1.2.3.4.5
                return None
    return ("expected an IP address or host name to listen on, e.g. 127.0.0.1 (this machine "
            f"only) or 0.0.0.0 (all interfaces), found {host!r}")


@dataclass(frozen=True)
class ServiceSettings:
    """The validated `service:` section (see the module docstring for meanings)."""

    http_port: int = 18080
    rpc_port: int = 9998
    host: str = "127.0.0.1"
    worker_num: int = 4
    is_thread_op: bool = True
    #: None: 1 with Paddle (its Predictor.run holds the GIL), 2 with a backend that releases
    #: it (OpenVINO, ONNX Runtime: one request's decoding overlaps another's inference)
    concurrency: int | None = None
    batch_size: int = 1
    auto_batching_timeout: int = 10
    timeout: int = -1
    retry: int = 1
    channel_size: int = 0
    shutdown_timeout_s: int = 30
    max_message_size_mb: int = 256
    device: str = "cpu"
    devices: str = "0"
    trt: str | None = None
    max_batch: int = 8
    thread_num: int = 2
    #: None: decided by the backend probe of `scaffold new` (oneDNN where it gives the same
    #: outputs); false keeps oneDNN off, true keeps it on.
    use_mkldnn: bool | None = None
    ir_optim: bool = True
    draw_threshold: float | None = None
    top_k: int = 5
    normalize: bool = False
    title: str | None = None
    image: str | None = None
    replicas: int = 1
    max_replicas: int = 4
    target_cpu_percent: int = 70
    cpu: str = "2"
    memory: str = "2Gi"

    @property
    def device_type(self) -> int:
        """config.yml `device_type`: 0 CPU, 1 GPU, 2 GPU + TensorRT."""
        return 2 if self.trt else 1 if self.device == "gpu" else 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


KEYS = tuple(f.name for f in fields(ServiceSettings))


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _check(key: str, v: Any) -> str | None:
    """An error message for `service.<key>: v`, or None when valid."""
    def rng(lo: int, hi: int | None = None) -> str | None:
        if not _is_int(v) or v < lo or (hi is not None and v > hi):
            bound = f"{lo}..{hi}" if hi is not None else f">= {lo}"
            return f"expected an integer {bound}, found {v!r}"
        return None

    if key in ("http_port", "rpc_port"):
        return rng(1, 65535)
    if key == "concurrency" and v is None:
        return None
    if key in ("worker_num", "concurrency", "batch_size", "retry", "max_batch", "thread_num",
               "top_k", "replicas", "max_replicas", "shutdown_timeout_s"):
        return rng(1)
    if key == "max_message_size_mb":
        return rng(4, 2047)
    if key == "target_cpu_percent":
        return rng(1, 100)
    if key == "channel_size":
        return rng(0)
    if key in ("auto_batching_timeout", "timeout"):
        return None if _is_int(v) else f"expected an integer (ms), found {v!r}"
    if key == "use_mkldnn" and v is None:
        return None
    if key in ("is_thread_op", "use_mkldnn", "ir_optim", "normalize"):
        return None if isinstance(v, bool) else f"expected true or false, found {v!r}"
    if key == "device":
        return None if v in DEVICES else f"expected one of {', '.join(DEVICES)}, found {v!r}"
    if key == "trt":
        return None if v is None or v in TRT_PRECISIONS else \
            f"expected null or one of {', '.join(TRT_PRECISIONS)}, found {v!r}"
    if key == "devices":
        return None if isinstance(v, str) and _DEVICE_IDS.match(v) else \
            f'expected comma-separated GPU ids as a string, e.g. "0" or "0,1", found {v!r}'
    if key == "draw_threshold":
        ok = v is None or (isinstance(v, int | float) and not isinstance(v, bool) and 0 <= v <= 1)
        return None if ok else f"expected null or a number in [0, 1], found {v!r}"
    if key == "host":
        return check_host(v)
    if key == "image" and v is not None and isinstance(v, str) and not _IMAGE.match(v):
        return ("expected a container image reference REGISTRY/NAME:TAG (lower-case name), "
                f"e.g. registry.example.com/team/detector:1.0, found {v!r}")
    if key in ("title", "image"):
        ok = v is None or (isinstance(v, str) and v.strip() and "\n" not in v)
        return None if ok else f"expected null or a one-line non-empty string, found {v!r}"
    if key in ("cpu", "memory"):
        return None if isinstance(v, str) and _QUANTITY.match(v) else \
            f'expected a Kubernetes quantity string such as "2", "500m" or "2Gi", found {v!r}'
    raise AssertionError(key)  # pragma: no cover


def parse_service_section(section: Any, where: str = "config",
                          **overrides: Any) -> ServiceSettings:
    """Validate `service:` (a mapping or None) plus CLI `overrides` (None values are skipped).

    All problems are reported at once in one ScaffoldConfigError.
    """
    if section is None:
        section = {}
    if not isinstance(section, dict):
        raise ScaffoldConfigError(f"{where}: `service:` must be a mapping, found {section!r}")
    values = dict(section)
    values.update({k: v for k, v in overrides.items() if v is not None})
    errors = []
    for key, value in values.items():
        if key not in KEYS:
            errors.append(f"service.{key}: unknown key{did_you_mean(key, KEYS)}")
            continue
        problem = _check(key, value)
        if problem:
            errors.append(f"service.{key}: {problem}")
    if not errors:
        settings = replace(ServiceSettings(), **values)
        if settings.trt and settings.device != "gpu":
            settings = replace(settings, device="gpu")  # TensorRT runs on the GPU
        if settings.http_port == settings.rpc_port:
            errors.append(f"service.http_port and service.rpc_port are both {settings.http_port};"
                          " use two different ports")
        if settings.batch_size > 1 and settings.auto_batching_timeout <= 0:
            errors.append("service.auto_batching_timeout must be > 0 ms when batch_size > 1 "
                          "(otherwise a request waits until a full batch arrives)")
        if settings.max_replicas < settings.replicas:
            errors.append(f"service.max_replicas ({settings.max_replicas}) must be >= replicas "
                          f"({settings.replicas})")
    if errors:
        lines = "\n".join(f"  {e}" for e in errors)
        raise ScaffoldConfigError(f"{where}: invalid service settings:\n{lines}\n"
                                  "Allowed service keys: " + ", ".join(KEYS))
    return settings
