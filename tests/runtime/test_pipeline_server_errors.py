"""`PipelineServer` used directly (as Paddle Serving's imdb ensemble example does) reports
configuration, graph and start-up errors like `WebService`: one `error:` line on stderr, exit
status 1, no traceback."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.services import free_port, service_env

SERVER_SCRIPT = """\
import sys
from generator.runtime import Op, PipelineServer, RequestOp, ResponseOp

read_op = RequestOp()
op = Op(name="echo", input_ops=[read_op])
server = PipelineServer("echo")
server.set_response_op({response})
server.prepare_server(sys.argv[1])
server.run_server()
"""

WEB_SCRIPT = """\
import sys
from generator.runtime import Op, WebService

class Echo(WebService):
    def get_pipeline_response(self, read_op):
        return Op(name="echo", input_ops=[read_op])

service = Echo(name="echo")
service.prepare_pipeline_config(sys.argv[1])
service.run_service()
"""


def _run(tmp_path: Path, script: str, config: str) -> subprocess.CompletedProcess:
    (tmp_path / "server.py").write_text(script)
    (tmp_path / "config.yml").write_text(config)
    return subprocess.run([sys.executable, "server.py", "config.yml"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60, env=service_env())


def _error_line(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("error: ")]
    assert len(lines) == 1, proc.stderr
    return lines[0]


BAD_CONFIG = "rpc_port: {rpc}\nworker_num: two\n"


def test_config_error_is_one_line_as_with_web_service(tmp_path):
    config = BAD_CONFIG.format(rpc=free_port())
    line = _error_line(_run(tmp_path, SERVER_SCRIPT.format(response="ResponseOp(input_ops=[op])"),
                            config))
    assert line.startswith("error: invalid service configuration: config.yml: worker_num:")
    web = _error_line(_run(tmp_path, WEB_SCRIPT, config))
    assert web == line


def test_graph_error_is_one_line(tmp_path):
    proc = _run(tmp_path, SERVER_SCRIPT.format(response="op"), f"rpc_port: {free_port()}\n")
    assert _error_line(proc) == ("error: invalid service configuration: set_response_op needs a "
                                 "ResponseOp, found Op")


def test_dag_error_at_prepare_is_one_line(tmp_path):
    # two Ops named "echo" in one graph: a DagError from the graph check in prepare_server
    script = SERVER_SCRIPT.format(response="ResponseOp(input_ops=[Op(name='echo', "
                                           "input_ops=[op])])")
    proc = _run(tmp_path, script, f"rpc_port: {free_port()}\n")
    assert _error_line(proc).startswith("error: invalid service configuration: ")
    assert "echo" in _error_line(proc)


def test_start_error_is_one_line(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        config = f"rpc_port: {port}\nrpc_host: 127.0.0.1\n"
        proc = _run(tmp_path, SERVER_SCRIPT.format(response="ResponseOp(input_ops=[op])"),
                    config)
    line = _error_line(proc)
    assert line.startswith("error: the service could not start: cannot listen for gRPC on "
                           f"127.0.0.1:{port}")


@pytest.mark.parametrize("legacy", [True])
def test_same_through_scaffold_run_with_the_original_imports(tmp_path, legacy):
    script = SERVER_SCRIPT.replace(
        "from generator.runtime import Op, PipelineServer, RequestOp, ResponseOp",
        "from paddle_serving_server.pipeline import Op, RequestOp, ResponseOp, PipelineServer")
    (tmp_path / "server.py").write_text(script.format(response="ResponseOp(input_ops=[op])"))
    (tmp_path / "config.yml").write_text(BAD_CONFIG.format(rpc=free_port()))
    proc = subprocess.run([sys.executable, "-c", "from generator.cli import main; main()", "run",
                           "server.py", "config.yml"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120, env=service_env())
    assert _error_line(proc).startswith("error: invalid service configuration: config.yml:")
