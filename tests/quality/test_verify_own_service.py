"""verify and bench measure their own service: a busy port is refused before starting, the
answering process must be the one started; a comparison with nothing in it is not a pass;
skipped checks are shown as skipped; --baseline-seconds bounds the baseline."""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from generator.cli import main
from generator.quality.service_dir import listens_on, port_in_use
from tests.helpers.services import free_port

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    out = tmp_path_factory.mktemp("own") / "det_serving"
    result = CliRunner().invoke(main, [
        "new", "--config", str(REPO / "serving_configs" / "yolov3.yml"), "--no-vendor",
        "-o", "model.args.image_shape=[3,64,64]", "-o", "service.draw_threshold=0.05",
        "--output", str(out), "--http-port", str(free_port()), "--rpc-port", str(free_port())])
    assert result.exit_code == 0, result.output
    return out


def _run(args):
    return CliRunner().invoke(main, args, catch_exceptions=False)


def _port(folder: Path, key: str) -> int:
    return int(re.search(rf"^{key}: (\d+)$", (folder / "config.yml").read_text(), re.M)[1])


def test_a_busy_port_is_refused_before_starting(service):
    port = _port(service, "http_port")
    # another "service" already answering /health/ready on that port
    other = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind",
                              "127.0.0.1"], cwd=service, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while not port_in_use(port):
            assert time.monotonic() < deadline and other.poll() is None
            time.sleep(0.1)
        assert listens_on(other.pid, port) in (True, None)
        for command in (["verify", str(service), "--count", "1", "--no-dynamic"],
                        ["bench", str(service), "--concurrency", "1", "--duration", "0.5",
                         "--baseline-seconds", "0.2"]):
            result = _run(command)
            assert result.exit_code == 2, result.output
            assert f"port {port} (http_port of" in result.output
            assert "already in use by another process" in result.output
            assert "verify PASS" not in result.output and "QPS" not in result.output
    finally:
        other.terminate()
        other.wait(10)


def test_listens_on_tells_whose_socket_it_is():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        if listens_on(subprocess.os.getpid(), port) is None:
            pytest.skip("needs Linux /proc")
        assert listens_on(subprocess.os.getpid(), port) is True
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
        try:
            assert listens_on(child.pid, port) is False
        finally:
            child.kill()
            child.wait()


def test_zero_boxes_are_compared_at_a_lower_threshold(service, tmp_path):
    high = tmp_path / "high"
    shutil.copytree(service, high)
    web = high / "web_service.py"
    web.write_text(re.sub(r"draw_threshold=[0-9.]+", "draw_threshold=1.0", web.read_text()))
    result = _run(["verify", str(high), "--count", "2", "--protocol", "grpc", "--no-dynamic"])
    assert result.exit_code == 0, result.output
    assert "no box reaches draw_threshold 1.0 in any image" in result.output
    assert "comparing at draw_threshold 0.0" in result.output
    rows = [line for line in result.output.splitlines() if line.startswith("grpc ")]
    assert rows and all(re.search(r" pass +[1-9]\d* boxes", r) for r in rows), rows
    assert re.search(r"dynamic vs exported .*SKIP +skipped: --no-dynamic", result.output)
    assert "1 skipped" in result.output
    # a running service (--endpoint) cannot be lowered: nothing compared is a failure
    result = _run(["verify", str(high), "--count", "1", "--protocol", "grpc", "--no-dynamic",
                   "--endpoint", "127.0.0.1", "--rpc-port", str(free_port())])
    assert result.exit_code == 1, result.output
    assert "nothing to compare" in result.output and "verify FAIL" in result.output


def test_model_dir_service_shows_the_dynamic_check_as_skipped(service, tmp_path):
    out = tmp_path / "from_model"
    result = _run(["new", "--model-dir", str(service), "--output", str(out), "--no-vendor",
                   "--http-port", str(free_port()), "--rpc-port", str(free_port())])
    assert result.exit_code == 0, result.output
    result = _run(["verify", str(out), "--count", "1", "--protocol", "http"])
    assert result.exit_code == 0, result.output
    assert re.search(r"dynamic vs exported .*SKIP +skipped: the service was generated from an "
                     r"exported model \(--model-dir", result.output)


def test_open_service_dir_leaves_the_working_directory_alone(service, monkeypatch):
    """The serving sweep opens candidate folders from several threads at once: a chdir there
    (process-wide) left the process in a deleted folder."""
    import os

    from generator.quality.service_dir import open_service_dir

    def no_chdir(path):
        raise AssertionError(f"open_service_dir changed the working directory to {path}")

    monkeypatch.setattr(os, "chdir", no_chdir)
    sd = open_service_dir(service)
    assert sd.model_dir.is_dir() and sd.rpc_port


def test_baseline_seconds_bounds_the_baseline(service):
    from generator.quality.bench import inprocess_throughput
    from generator.quality.service_dir import open_service_dir

    sd = open_service_dir(service)
    image = (REPO / "tests" / "data" / "shapes_320x240.jpg").read_bytes()
    start = time.perf_counter()
    ips = inprocess_throughput(sd.served_op(), sd.model_dir, image, 3.0, progress=False)
    elapsed = time.perf_counter() - start
    assert 1 in ips and ips[1] > 0
    # 3 s + loading the model (slower on a busy machine); 5 x 3 s when each batch size had it
    assert elapsed < 12.0, f"the 3 s baseline took {elapsed:.1f} s"


def test_the_started_service_echoes_its_start_token(service):
    import json
    import urllib.request

    from generator.quality.service_dir import (
        ServiceDirError,
        _check_ours,
        open_service_dir,
        start_service,
        stop_service,
    )

    sd = open_service_dir(service)
    proc = start_service(sd)
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{sd.http_port}/health/ready") as r:
            body = r.read()
        token = json.loads(body)["start_token"]
        assert len(token) == 32
        _check_ours(proc, sd.http_port, token, body)  # ours: no error
        with pytest.raises(ServiceDirError, match="another service answers on port"):
            _check_ours(proc, sd.http_port, "someone-else", body)
    finally:
        stop_service(proc)
