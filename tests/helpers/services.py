"""Start and stop real service processes on loopback for tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

REPO_ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    """A TCP port that is free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def service_env() -> dict[str, str]:
    """The environment for a service subprocess: the repo importable, quiet glog."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    env.setdefault("GLOG_minloglevel", "2")
    return env


def start_service(args: list[str], cwd: Path, http_port: int, timeout: float = 90.0,
                  log_name: str = "service.log") -> subprocess.Popen:
    """Start `python *args` in `cwd` and wait until GET /health/ready answers 200.

    stdout and stderr go to `cwd/log_name`; on failure the log tail is in the error.
    """
    log = open(cwd / log_name, "wb")  # noqa: SIM115 - closed by stop_service
    proc = subprocess.Popen([sys.executable, *args], cwd=cwd, stdout=log, stderr=subprocess.STDOUT,
                            env=service_env(), start_new_session=True)
    proc._log_file = log  # type: ignore[attr-defined]
    proc._log_path = cwd / log_name  # type: ignore[attr-defined]
    deadline = time.monotonic() + timeout
    url = f"http://127.0.0.1:{http_port}/health/ready"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"service exited with {proc.returncode}:\n{read_log(proc)}")
        try:
            if requests.get(url, timeout=1).status_code == 200:
                return proc
        except requests.RequestException:
            pass
        time.sleep(0.2)
    stop_service(proc, sig=signal.SIGKILL)
    raise RuntimeError(f"service not ready after {timeout}s:\n{read_log(proc)}")


def read_log(proc: subprocess.Popen) -> str:
    path = getattr(proc, "_log_path", None)
    return path.read_text(errors="replace")[-4000:] if path and path.exists() else ""


def stop_service(proc: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
    """Send `sig` and wait for the exit code (SIGKILL the group if it does not exit)."""
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
    log = getattr(proc, "_log_file", None)
    if log is not None:
        log.close()
    return proc.returncode


def child_pids(pid: int) -> list[int]:
    """Direct children of `pid`, from /proc/<pid>/task/*/children. Threads and processes that
    end while they are listed are skipped ([] once `pid` itself is gone)."""
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except (FileNotFoundError, ProcessLookupError):
        return []
    kids: list[int] = []
    for task in tasks:
        try:
            kids += [int(k) for k in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue  # the thread ended meanwhile
    return sorted(kids)


def alive(pid: int) -> bool:
    """Whether `pid` runs (exists and is not a zombie)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"
