"""Fixtures giving tests access to the real Paddle Serving 0.9.0 server wheel.

`serving_wheel_dir` (session): `pip download --no-deps paddle-serving-server==0.9.0` and unzip it
once into `<repo>/.cache/paddle_serving_server-0.9.0` (gitignored); later runs reuse that
directory. The fixture returns the unpacked directory (it holds `paddle_serving_server/...`).
If the download fails (no network), dependent tests are skipped with the pip error as reason.

`wheel_pipeline_client_code` (session): a Python source prefix for a *subprocess* that makes the
wheel's `PipelineClient` and protobuf modules importable without running
`paddle_serving_server/pipeline/__init__.py` (that init imports the whole server: operator,
Paddle, Flask...). How it works:

1. it sets `PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION=python` before protobuf is imported, because
   the wheel's `pipeline_service_pb2.py` is old-style protoc output that protobuf >= 4 only
   accepts with the pure-Python implementation (so never import it in the pytest process);
2. it registers synthetic package modules `paddle_serving_server` and
   `paddle_serving_server.pipeline` in `sys.modules` whose `__path__` points into the unpacked
   wheel, so submodules (`proto.pipeline_service_pb2`, `pipeline_client`...) load from the wheel
   while the packages' own `__init__.py` files never run;
3. it registers a small stand-in `paddle_serving_server.pipeline.channel` providing
   `ChannelDataErrcode`, the only name `pipeline_client.py` takes from the heavy channel module;
4. it imports and binds `PipelineClient`, `pipeline_service_pb2` and `pipeline_service_pb2_grpc`.

Append your own code after the prefix and run it with `run_wheel_script(code)` (a fixture that
returns a function running `sys.executable -c prefix + code` with that environment and returning
the `CompletedProcess`), or with your own subprocess call. The wheel's client needs `six` and
`grpcio`; it prints timing lines to stdout, so have your code print its result last (e.g. one
JSON line) and read the last stdout line.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
WHEEL_SPEC = "paddle-serving-server==0.9.0"
WHEEL_CACHE_DIR = REPO_ROOT / ".cache" / "paddle_serving_server-0.9.0"
_MARKER = Path("paddle_serving_server", "pipeline", "pipeline_client.py")

_PREFIX_TEMPLATE = """\
import enum as _enum
import os as _os
import sys as _sys
import types as _types

_os.environ["PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION"] = "python"
_WHEEL_DIR = {wheel_dir!r}


def _synthetic_package(name, *parts):
    module = _types.ModuleType(name)
    module.__path__ = [_os.path.join(_WHEEL_DIR, *parts)]
    module.__package__ = name
    _sys.modules[name] = module
    return module


_synthetic_package("paddle_serving_server", "paddle_serving_server")
_synthetic_package("paddle_serving_server.pipeline", "paddle_serving_server", "pipeline")
_channel = _types.ModuleType("paddle_serving_server.pipeline.channel")


class ChannelDataErrcode(_enum.Enum):
    OK = 0
    PRODUCT_ERROR = 50
    NOT_IMPLEMENTED = 3000
    CLOSED_ERROR = 3001
    NO_SERVICE = 3002
    INIT_ERROR = 3003
    CONF_ERROR = 4000
    INPUT_PARAMS_ERROR = 5000
    TIMEOUT = 6000
    TYPE_ERROR = 7000
    RPC_PACKAGE_ERROR = 8000
    CLIENT_ERROR = 9000
    UNKNOW = 10000


_channel.ChannelDataErrcode = ChannelDataErrcode
_sys.modules[_channel.__name__] = _channel

from paddle_serving_server.pipeline.proto import pipeline_service_pb2  # noqa: E402
from paddle_serving_server.pipeline.proto import pipeline_service_pb2_grpc  # noqa: E402
from paddle_serving_server.pipeline.pipeline_client import PipelineClient  # noqa: E402
"""


def _download_and_unpack(target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".wheel-download-") as tmp:
        command = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "--disable-pip-version-check",
            "--quiet",
            WHEEL_SPEC,
            "-d",
            tmp,
        ]
        try:
            proc = subprocess.run(command, capture_output=True, text=True, timeout=300)
        except (OSError, subprocess.TimeoutExpired) as exc:
            pytest.skip(f"cannot download {WHEEL_SPEC} from PyPI: {exc}")
        wheels = sorted(Path(tmp).glob("*.whl"))
        if proc.returncode != 0 or not wheels:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
            pytest.skip(f"cannot download {WHEEL_SPEC} from PyPI: {' | '.join(tail)}")
        unpacked = Path(tmp, "unpacked")
        with zipfile.ZipFile(wheels[0]) as archive:
            archive.extractall(unpacked)
        if not (unpacked / _MARKER).is_file():
            pytest.fail(f"{wheels[0].name} has no {_MARKER}; unexpected wheel layout")
        if target.exists():  # a half-written cache from an interrupted run
            shutil.rmtree(target)
        try:
            unpacked.rename(target)
        except OSError:
            if not (target / _MARKER).is_file():  # lost a race with a parallel run: fine if done
                raise


@pytest.fixture(scope="session")
def serving_wheel_dir() -> Path:
    """Directory of the unpacked paddle-serving-server 0.9.0 wheel (downloaded once, cached)."""
    if not (WHEEL_CACHE_DIR / _MARKER).is_file():
        _download_and_unpack(WHEEL_CACHE_DIR)
    return WHEEL_CACHE_DIR


@pytest.fixture(scope="session")
def wheel_pipeline_client_code(serving_wheel_dir: Path) -> str:
    """Subprocess source prefix binding the wheel's `PipelineClient`, `pipeline_service_pb2`
    and `pipeline_service_pb2_grpc` (see the module docstring)."""
    return _PREFIX_TEMPLATE.format(wheel_dir=str(serving_wheel_dir))


@pytest.fixture(scope="session")
def run_wheel_script(
    wheel_pipeline_client_code: str,
) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Return `run(code, input=None, timeout=60)`: run prefix + `code` in a fresh interpreter."""

    def run(
        code: str, input: str | None = None, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        env = dict(os.environ, PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION="python")
        return subprocess.run(
            [sys.executable, "-c", wheel_pipeline_client_code + "\n" + code],
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            cwd=REPO_ROOT,
        )

    return run
