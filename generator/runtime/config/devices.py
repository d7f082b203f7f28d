"""Devices of an Op: `local_service_conf.device_type` and `devices` resolved to a device kind and
its GPU ids, once."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from generator.runtime.config.checker import _found, _is_int
from generator.runtime.config.schema import (
    LOCAL_KEYS,
    SUPPORTED_DEVICE_TYPES,
    UNSUPPORTED_DEVICE_TYPES,
)
from generator.runtime.errors import PipelineConfigError


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


_DEFAULTS = {key.name: key.default for key in LOCAL_KEYS if key.name in ("device_type", "devices")}
_DEVICES_EXPECTED = 'comma-separated GPU ids such as "0" or "0,1" (or "" for CPU)'


def resolve_devices(
    local_conf: Mapping[str, Any], *, where: str = "local_service_conf"
) -> tuple[str, list[int]]:
    """Map `device_type`/`devices` of a local_service_conf to ("cpu", [-1]) or
    ("gpu" | "trt", [gpu ids]), following Paddle Serving's device_type table:
    -1: "" is CPU, "0,1" is GPU; 0: CPU (devices ignored); 1: GPU ("" means [0]);
    2: TensorRT ("" means [0]). Raises PipelineConfigError for invalid values."""
    device_type = local_conf.get("device_type", _DEFAULTS["device_type"])
    devices = local_conf.get("devices", _DEFAULTS["devices"])
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
