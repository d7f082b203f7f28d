"""Safe defaults of generated services: `python web_service.py` listens on 127.0.0.1 unless
configured (`scaffold new --host`, `web_service.py --host`); the image runs as a numeric non-root
user and listens on 0.0.0.0 explicitly; the Deployment has a restrictive securityContext;
`scaffold new --image` names the image."""

from __future__ import annotations

import ipaddress
import shutil
import socket
import subprocess
import sys
import time

import pytest
import requests
import yaml
from scaffold_helpers import scaffold

from generator.runtime.config import load_pipeline_config
from tests.helpers.services import service_env, start_service, stop_service

pytestmark = pytest.mark.slow


def _listening(port: int) -> set[str]:
    """Local addresses with a LISTEN socket on `port` (Linux /proc/net/tcp and tcp6)."""
    found = set()
    for table, family in (("/proc/net/tcp", socket.AF_INET), ("/proc/net/tcp6", socket.AF_INET6)):
        try:
            lines = open(table).read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            addr, hexport = fields[1].split(":")
            if fields[3] != "0A" or int(hexport, 16) != port:
                continue
            raw = bytes.fromhex(addr)
            # /proc stores each 32-bit word in host (little-endian) order
            raw = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
            ip = ipaddress.ip_address(socket.inet_ntop(family, raw))
            found.add(str(getattr(ip, "ipv4_mapped", None) or ip))  # ::ffff:a.b.c.d: IPv4
    return found


@pytest.fixture
def linux_proc():
    try:
        open("/proc/net/tcp").close()
    except OSError:
        pytest.skip("needs Linux /proc/net/tcp")


def test_service_listens_on_loopback_unless_told(generated, linux_proc):
    folder, http_port, rpc_port = generated("segmentation")
    conf = load_pipeline_config(str(folder / "config.yml"))
    assert (conf["http_host"], conf["rpc_host"]) == ("127.0.0.1", "127.0.0.1")
    proc = start_service(["web_service.py"], folder, http_port)
    try:
        assert _listening(http_port) == {"127.0.0.1"}
        assert _listening(rpc_port) == {"127.0.0.1"}
    finally:
        assert stop_service(proc) == 0
    # --host overrides config.yml (another loopback address: tests never listen on every
    # interface; the Dockerfile and k8s/ pass 0.0.0.0 the same way)
    proc = subprocess.Popen([sys.executable, "web_service.py", "--host", "127.0.0.2"],
                            cwd=folder, env=service_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        while _listening(http_port) != {"127.0.0.2"} or _listening(rpc_port) != {"127.0.0.2"}:
            assert proc.poll() is None and time.monotonic() < deadline, \
                (_listening(http_port), _listening(rpc_port))
            time.sleep(0.2)
        assert requests.get(f"http://127.0.0.2:{http_port}/health/live", timeout=5).ok
    finally:
        assert stop_service(proc) == 0


def test_host_and_image_options(generated, tmp_path):
    source, _, _ = generated("segmentation")
    out = tmp_path / "svc"
    res = scaffold("new", "--model-dir", str(source), "--output", str(out), "--no-vendor",
                   "--host", "::", "--image", "registry.example.com/team/seg:1.2")
    assert res.exit_code == 0, res.output
    conf = load_pipeline_config(str(out / "config.yml"))
    assert (conf["http_host"], conf["rpc_host"]) == ("::", "[::]")
    dep = yaml.safe_load((out / "k8s" / "deployment.yaml").read_text())
    assert dep["spec"]["template"]["spec"]["containers"][0]["image"] == \
        "registry.example.com/team/seg:1.2"
    assert "docker build -t registry.example.com/team/seg:1.2 ." in (out / "Dockerfile").read_text()
    for option, value, message in (
            ("--host", "bad host", "expected an IP address or host name"),
            ("--host", "1.2.3.4.5", "expected an IP address or host name"),
            ("--image", "Not An/Image", "expected a container image reference")):
        res = scaffold("new", "--model-dir", str(source), "--output", str(tmp_path / "x"),
                       option, value)
        assert res.exit_code == 2 and message in res.output, res.output
        assert not (tmp_path / "x").exists()
    # a config without host keys (Paddle Serving's) keeps listening everywhere
    legacy = yaml.safe_load((out / "config.yml").read_text())
    del legacy["http_host"], legacy["rpc_host"]
    shutil.rmtree(out)
    conf = load_pipeline_config(yml_dict=legacy)
    assert (conf["http_host"], conf["rpc_host"]) == ("0.0.0.0", "[::]")


def test_image_and_deployment_run_as_non_root(generated):
    folder, _, _ = generated("segmentation")
    docker = (folder / "Dockerfile").read_text().splitlines()
    user = [line for line in docker if line.startswith("USER ")]
    assert user == ["USER 10001:10001"]
    last_install = max(i for i, line in enumerate(docker) if "pip install" in line)
    assert docker.index(user[0]) > last_install
    assert "ENV HOME=/tmp SERVING_LOG_PATH=/tmp PYTHONDONTWRITEBYTECODE=1" in docker
    assert not any("_opt_cache" in line for line in docker)  # CPU: no TensorRT cache
    assert docker[-1] == 'CMD ["python", "web_service.py", "--host", "0.0.0.0"]'
    dep = yaml.safe_load((folder / "k8s" / "deployment.yaml").read_text())
    pod = dep["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001
    container = pod["containers"][0]
    assert container["command"][-2:] == ["--host", "0.0.0.0"]
    ctx = container["securityContext"]
    assert ctx["allowPrivilegeEscalation"] is False and ctx["readOnlyRootFilesystem"] is True
    assert ctx["capabilities"]["drop"] == ["ALL"]
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["SERVING_LOG_PATH"] == mounts["scratch"] == env["HOME"] == "/tmp"
    assert {v["name"] for v in pod["volumes"]} == {"scratch"}
