"""A generated service folder, as verify and bench see it: its settings, its Op, its process."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


class ServiceDirError(RuntimeError):
    """The folder is not a usable service folder, or the service does not start."""


@dataclass
class ServiceDir:
    path: Path
    name: str
    http_port: int | None
    rpc_port: int | None
    model_dir: Path
    record: dict[str, Any] = field(default_factory=dict)
    #: the model Op's inference options (backend, use_mkldnn, ...): in-process references run
    #: the model the way the service does
    backend_conf: dict[str, Any] = field(default_factory=dict)
    instances: int = 1  # the model Op's concurrency (its model instances)
    _module: Any = None

    def module(self) -> Any:
        """The folder's `web_service.py`, imported (its `__main__` block does not run)."""
        if self._module is None:
            file = self.path / "web_service.py"
            spec = importlib.util.spec_from_file_location(f"_scaffold_service_{id(self)}", file)
            module = importlib.util.module_from_spec(spec)
            sys.path.insert(0, str(self.path))
            try:
                spec.loader.exec_module(module)
            except Exception as exc:
                raise ServiceDirError(f"{file}: cannot import it: {type(exc).__name__}: {exc}") \
                    from exc
            finally:
                sys.path.remove(str(self.path))
            self._module = module
        return self._module

    def served_op(self) -> Any:
        """The last Op of the service's graph, as `web_service.py` builds it."""
        from generator.runtime import RequestOp, WebService

        module = self.module()
        services = [v for v in vars(module).values() if isinstance(v, type)
                    and issubclass(v, WebService) and v is not WebService]
        if not services:
            raise ServiceDirError(f"{self.path}/web_service.py defines no WebService subclass")
        return services[0](name=self.name).get_pipeline_response(RequestOp())


def open_service_dir(path: str | Path) -> ServiceDir:
    """Read `config.yml`, `web_service.py` and `.scaffold.yml` of a service folder."""
    from generator.runtime.config import load_pipeline_config
    from generator.runtime.errors import PipelineConfigError

    p = Path(path).resolve()
    if not (p / "web_service.py").is_file() or not (p / "config.yml").is_file():
        raise ServiceDirError(f"{p}: not a service folder (needs web_service.py and config.yml; "
                              "create one with `scaffold new`)")
    # the loader keeps relative paths as written (no chdir: the serving sweep opens candidate
    # folders from several threads, and the working directory is the whole process's)
    try:
        conf = load_pipeline_config(str(p / "config.yml"))
    except PipelineConfigError as exc:
        raise ServiceDirError(str(exc)) from exc
    models = [op["local_service_conf"].get("model_config") for op in conf["op"].values()
              if op.get("local_service_conf", {}).get("model_config")]
    if not models:
        raise ServiceDirError(f"{p}/config.yml: no op has local_service_conf.model_config")
    model_dir = Path(models[0]) if Path(models[0]).is_absolute() else p / models[0]
    record_file = p / ".scaffold.yml"
    record = yaml.safe_load(record_file.read_text()) if record_file.is_file() else {}
    model_op = next(op for op in conf["op"].values()
                    if op.get("local_service_conf", {}).get("model_config"))
    local = model_op["local_service_conf"]
    backend_conf = {k: local[k] for k in BACKEND_KEYS if local.get(k) is not None}
    sd = ServiceDir(p, "", conf.get("http_port"), conf.get("rpc_port"), model_dir, record or {},
                    backend_conf, int(model_op.get("concurrency") or 1))
    sd.name = str(getattr(sd.module(), "NAME", "") or (record or {}).get("inputs", {}).get("name")
                  or p.name)
    return sd


START_TOKEN_ENV = "SCAFFOLD_START_TOKEN"
#: local_service_conf keys that decide how the model runs (see ServiceDir.backend_conf)
BACKEND_KEYS = ("backend", "use_mkldnn", "thread_num", "ir_optim", "precision")


def port_in_use(port: int) -> bool:
    """Whether something listens on (or holds) TCP `port` on this machine."""
    with socket.socket() as s:
        s.settimeout(0.5)
        if s.connect_ex(("127.0.0.1", port)) == 0:
            return True
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def _listening_inodes(port: int) -> set[str]:
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 9 and fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) \
                    == port:
                inodes.add(fields[9])
    return inodes


def _family(pid: int) -> list[int]:
    """`pid` and its descendants (worker processes hold sockets too)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:  # a process or thread may end while it is listed
            tasks = list(Path(f"/proc/{p}/task").glob("*/children"))
        except OSError:
            continue
        for children in tasks:
            try:
                todo += [int(c) for c in children.read_text().split()]
            except (OSError, ValueError):
                pass
    return out


def listens_on(pid: int, port: int) -> bool | None:
    """Whether process `pid` (or a descendant) holds the listening socket of `port` (Linux
    /proc); None when this cannot be told here."""
    inodes = _listening_inodes(port)
    if not inodes or not Path(f"/proc/{pid}/fd").is_dir():
        return None
    links = set()
    for p in _family(pid):
        try:
            fds = list(Path(f"/proc/{p}/fd").iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                links.add(os.readlink(fd))
            except OSError:  # closed meanwhile (the listing's own descriptor, for one)
                continue
    return any(f"socket:[{inode}]" in links for inode in inodes)


def _check_ours(proc: subprocess.Popen, port: int, token: str, body: bytes) -> None:
    """The answer on `port` came from `proc`: its start token, or its listening socket."""
    try:
        answered = json.loads(body or b"{}").get("start_token")
    except (ValueError, AttributeError):
        answered = None
    if answered is not None and answered != token:
        raise ServiceDirError(f"another service answers on port {port} (its start token is not "
                              "the one given to the service started here); stop it first")
    if answered is None and listens_on(proc.pid, port) is False:
        raise ServiceDirError(f"another process listens on port {port}, not the service started "
                              "here; stop it first")


def start_service(sd: ServiceDir, timeout: float = 180.0) -> subprocess.Popen:
    """`python web_service.py` in the folder; returns once GET /health/ready answers 200 from
    that very process (a busy port is refused before starting)."""
    if not sd.http_port:
        raise ServiceDirError("config.yml has no http_port: start the service yourself and pass "
                              "--endpoint")
    for key, port in (("http_port", sd.http_port), ("rpc_port", sd.rpc_port)):
        if port and port_in_use(port):
            raise ServiceDirError(
                f"port {port} ({key} of {sd.path / 'config.yml'}) is already in use by another "
                "process, so the service started here could not listen and the measurements "
                "would be of that process. Stop it, change the port in config.yml, or measure "
                "the running service with --endpoint 127.0.0.1")
    token = uuid.uuid4().hex
    env = {**os.environ, START_TOKEN_ENV: token}
    log = open(sd.path / "scaffold-service.log", "wb")  # noqa: SIM115 - closed in stop_service
    proc = subprocess.Popen([sys.executable, "web_service.py"], cwd=sd.path, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True, env=env)
    proc._log = log  # type: ignore[attr-defined]
    deadline = time.monotonic() + timeout
    url = f"http://127.0.0.1:{sd.http_port}/health/ready"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            log.close()
            tail = (sd.path / "scaffold-service.log").read_text(errors="replace")[-2000:]
            raise ServiceDirError(f"the service exited with {proc.returncode}:\n{tail}")
        try:
            with urllib.request.urlopen(url, timeout=1) as resp:
                if resp.status == 200:
                    body = resp.read()
                    try:
                        _check_ours(proc, sd.http_port, token, body)
                        if sd.rpc_port and listens_on(proc.pid, sd.rpc_port) is False:
                            raise ServiceDirError(f"another process listens on port "
                                                  f"{sd.rpc_port} (rpc_port), not the service "
                                                  "started here; stop it first")
                    except ServiceDirError:
                        stop_service(proc)
                        raise
                    return proc
        except OSError:
            pass
        time.sleep(0.25)
    stop_service(proc)
    raise ServiceDirError(f"the service was not ready after {timeout:.0f}s "
                          f"(log: {sd.path / 'scaffold-service.log'})")


def stop_service(proc: subprocess.Popen) -> None:
    """SIGTERM (graceful drain), then SIGKILL after 30 s."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
    log = getattr(proc, "_log", None)
    if log is not None:
        log.close()
