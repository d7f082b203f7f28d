"""GPU configs on a CPU-only Paddle build: run on CPU with one warning, or fail if strict.

20 of Paddle Serving's 24 example configs say `device_type: 1` or `2` (or `devices: "0"`).
On a machine whose Paddle is a CPU build, `DevicePolicy` maps such an Op to CPU and
`DevicePolicy.check` returns one warning per Op saying what was asked, what runs, and how to
make it strict (`strict_device: true` in config.yml, which turns the same finding into a
`PipelineConfigError` at start-up). On a CUDA build nothing changes.

Whether Paddle is a CUDA build is read from `paddle/version/__init__.py` (`cuda_version`),
so the server's parent process does not import Paddle for this check.
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from generator.runtime.config import resolve_devices
from generator.runtime.errors import PipelineConfigError

__all__ = ["DevicePolicy", "paddle_has_cuda", "paddle_version"]

_CUDA_VERSION = re.compile(r"""^cuda_version\s*=\s*['"]([^'"]*)['"]""", re.MULTILINE)
_FULL_VERSION = re.compile(r"""^full_version\s*=\s*['"]([^'"]*)['"]""", re.MULTILINE)
_DEVICE_NAMES = {"gpu": "GPU", "trt": "GPU with TensorRT"}


def _version_file() -> str | None:
    spec = importlib.util.find_spec("paddle")
    for location in (spec.submodule_search_locations or []) if spec else []:
        path = Path(location, "version", "__init__.py")
        if path.is_file():
            return path.read_text(errors="replace")
    return None


def paddle_has_cuda() -> bool:
    """Whether the installed Paddle is a CUDA build (False when Paddle is not installed)."""
    text = _version_file()
    if text is not None:
        match = _CUDA_VERSION.search(text)
        if match:
            return match.group(1) not in ("", "False", "None")
    try:
        import paddle
    except ImportError:
        return False
    return bool(paddle.device.is_compiled_with_cuda())


def paddle_version() -> str:
    """The installed Paddle's version string, or "?"."""
    text = _version_file()
    match = _FULL_VERSION.search(text) if text else None
    return match.group(1) if match else "?"


def _asked(local_conf: Mapping[str, Any], device: str, ids: list[int]) -> str:
    device_type = local_conf.get("device_type", -1)
    devices = local_conf.get("devices", "") or ""
    return (f"device_type {device_type}, devices {devices!r} asks for the "
            f"{_DEVICE_NAMES[device]} (card {', '.join(map(str, ids))})")


@dataclass(frozen=True)
class _Plan:
    """What an Op's `device_type`/`devices` ask for, and whether it runs on CPU instead."""

    device: str
    ids: tuple[int, ...]
    cpu_instead: bool


class DevicePolicy:
    """Decides the device each Op runs on; `resolve` is what the worker pools call. Each
    distinct `device_type`/`devices` pair is resolved once (`check` at prepare time, then the
    pools reuse it)."""

    def __init__(self, strict: bool = False,
                 has_cuda: Callable[[], bool] = paddle_has_cuda) -> None:
        self.strict = strict
        self._has_cuda = has_cuda
        self._cuda: bool | None = None
        self._plans: dict[tuple[Any, Any], _Plan] = {}

    def _cuda_build(self) -> bool:
        if self._cuda is None:
            self._cuda = self._has_cuda()
        return self._cuda

    def _plan(self, local_conf: Mapping[str, Any]) -> _Plan:
        key = (local_conf.get("device_type"), local_conf.get("devices"))
        plan = self._plans.get(key)
        if plan is None:
            device, ids = resolve_devices(local_conf)
            plan = _Plan(device, tuple(ids), device != "cpu" and not self._cuda_build())
            self._plans[key] = plan
        return plan

    def resolve(self, local_conf: Mapping[str, Any]) -> tuple[str, list[int]]:
        """("cpu", [-1]) or ("gpu" | "trt", ids) as in `config.resolve_devices`, with a GPU
        request mapped to CPU on a CPU-only build (an error when strict)."""
        plan = self._plan(local_conf)
        if not plan.cpu_instead:
            return plan.device, list(plan.ids)
        if self.strict:
            raise PipelineConfigError(
                f"{_asked(local_conf, plan.device, list(plan.ids))}, but paddlepaddle "
                f"{paddle_version()} is a CPU-only build (strict_device: true); install "
                'paddlepaddle-gpu, or set device_type: 0 / devices: "" to run on CPU')
        return "cpu", [-1]

    def check(self, local_confs: Mapping[str, Mapping[str, Any]], source: str) -> list[str]:
        """One warning per Op (name -> local_service_conf) that will run on CPU instead of the
        GPU it asks for; raises PipelineConfigError for the first such Op when strict."""
        warnings = []
        for name, conf in local_confs.items():
            plan = self._plan(conf)
            if not plan.cpu_instead:
                continue
            try:
                self.resolve(conf)
            except PipelineConfigError as exc:
                raise PipelineConfigError(f"{source}: op.{name}.local_service_conf: {exc}") from None
            warnings.append(
                f"{source}: op.{name}: {_asked(conf, plan.device, list(plan.ids))}, but "
                f"paddlepaddle {paddle_version()} is a CPU-only build: running on CPU. Install "
                "paddlepaddle-gpu to use the GPU, or set strict_device: true in config.yml to "
                "make this an error.")
        return warnings
