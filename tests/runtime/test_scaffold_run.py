"""`scaffold run`: Paddle Serving's own simple_web_service (from the 0.9.0 server wheel) runs with
no edit at all; `paddle_serving_*` imports resolve to this runtime only inside the command;
NumPy 1's binary `np.fromstring` there only; clear errors for what is not provided."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import requests

from tests.helpers.services import REPO_ROOT, free_port, service_env, start_service, stop_service
from tests.helpers.uci import UCI_X, direct_price, numbers

X = UCI_X
SCAFFOLD = ["-c", "from generator.cli import main; main()", "run"]


def _scaffold_run(args: list[str], cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *SCAFFOLD, *args], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, env=service_env())


@pytest.fixture(scope="module")
def unchanged_uci(serving_wheel_dir, tmp_path_factory):
    src = serving_wheel_dir / "paddle_serving_server" / "env_check" / "simple_web_service"
    work = tmp_path_factory.mktemp("uci_run")
    shutil.copytree(src, work, dirs_exist_ok=True)
    # the service file is byte-for-byte the wheel's; only the ports of the config change
    assert (work / "web_service.py").read_bytes() == (src / "web_service.py").read_bytes()
    assert "from paddle_serving_server.web_service import WebService, Op" in (
        work / "web_service.py").read_text()
    rpc, http = free_port(), free_port()
    cfg = work / "config_cpu.yml"
    cfg.write_text(cfg.read_text().replace("9998", str(rpc)).replace("18082", str(http)))
    proc = start_service([*SCAFFOLD, "web_service.py", "config_cpu.yml"], work, http)
    yield {"proc": proc, "rpc": rpc, "http": http, "dir": work}
    stop_service(proc)


def test_unchanged_official_service_gives_the_direct_paddle_price(unchanged_uci, run_wheel_script):
    expected = direct_price(unchanged_uci["dir"] / "uci_housing_model").ravel()
    url = f"http://127.0.0.1:{unchanged_uci['http']}/uci/prediction"
    body = requests.post(url, data=json.dumps({"key": ["x"], "value": [X]}), timeout=10).json()
    assert body["err_no"] == 0 and body["key"] == ["price"]
    np.testing.assert_allclose(numbers(body["value"][0]), expected, rtol=1e-5)
    code = f"""
import json
client = PipelineClient()
client.connect(['127.0.0.1:{unchanged_uci["rpc"]}'])
ret = client.predict(feed_dict={{'x': {X!r}}}, fetch=['price'])
print(json.dumps({{'err_no': ret.err_no, 'value': list(ret.value)}}))
"""
    proc = run_wheel_script(code)
    assert proc.returncode == 0, proc.stderr
    reply = json.loads(proc.stdout.strip().splitlines()[-1])
    assert reply["err_no"] == 0
    np.testing.assert_allclose(numbers(reply["value"][0]), expected, rtol=1e-5)


def test_unchanged_official_service_drains_on_sigterm(unchanged_uci):
    assert stop_service(unchanged_uci["proc"]) == 0


def test_nothing_named_paddle_serving_is_installed():
    code = ("import importlib.util as u; print([n for n in ('paddle_serving_server', "
            "'paddle_serving_app', 'paddle_serving_client') if u.find_spec(n)])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=REPO_ROOT, env=service_env(), check=True).stdout
    assert out.strip() == "[]"


SCRIPT_NAMES = """\
import sys
import numpy as np
import generator.runtime as rt
from generator.runtime.proto import pipeline_service_pb2 as ours
from paddle_serving_server.web_service import WebService, Op
from paddle_serving_server.pipeline import Op as Op2, RequestOp, ResponseOp, PipelineServer
from paddle_serving_server.pipeline import PipelineClient
from paddle_serving_server.pipeline.proto import pipeline_service_pb2
from paddle_serving_server.pipeline.channel import ChannelDataErrcode
from paddle_serving_app.local_predict import LocalPredictor
from paddle_serving_app.reader import Sequential, Base64ToImage, OCRReader
import paddle_serving_server
assert WebService is rt.WebService and Op is rt.Op is Op2
assert (RequestOp, ResponseOp, PipelineServer) == (rt.RequestOp, rt.ResponseOp, rt.PipelineServer)
assert PipelineClient is rt.PipelineClient and LocalPredictor is rt.LocalPredictor
assert pipeline_service_pb2.Response is ours.Response
assert ChannelDataErrcode.OK.value == 0
assert __name__ == "__main__" and sys.argv[1:] == ["a", "--flag"]
print("fromstring", np.fromstring(b"\\x01\\x02\\xff", np.uint8).tolist(), paddle_serving_server.__version__)
"""


def test_legacy_names_resolve_to_the_runtime_and_fromstring_works_as_numpy_1(tmp_path):
    (tmp_path / "names.py").write_text(SCRIPT_NAMES)
    proc = _scaffold_run(["names.py", "a", "--flag"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "fromstring [1, 2, 255] 0.9.0"


def test_outside_scaffold_run_nothing_is_patched(tmp_path):
    (tmp_path / "plain.py").write_text(
        "import numpy as np\n"
        "try:\n    np.fromstring(b'ab', np.uint8)\nexcept ValueError:\n    print('removed')\n"
        "try:\n    import paddle_serving_server\nexcept ImportError:\n    print('no import')\n")
    proc = subprocess.run([sys.executable, "plain.py"], cwd=tmp_path, capture_output=True,
                          text=True, env=service_env(), timeout=60)
    assert proc.stdout.split() == ["removed", "no", "import"]


@pytest.mark.parametrize(("source", "expected"), [
    ("import os\nfrom paddle_serving_client import Client\n",
     r"^error: bad\.py line 2: paddle_serving_client\.Client is not available here: the C\+\+ brpc"),
    ("from paddle_serving_server.serve import format_gpu_to_strlist\n",
     r"^error: bad\.py line 1: paddle_serving_server\.serve is not provided by this runtime"),
    ("from paddle_serving_app.models import ServingModels\n",
     r"^error: bad\.py line 1: paddle_serving_app\.models is not provided"),
    ("from paddle_serving_app.reader import ChineseBertReader\nreader = ChineseBertReader()\n",
     r"^error: bad\.py line 2: ChineseBertReader needs args=\{'vocab_file'"),
])
def test_what_is_not_provided_is_one_clear_error_line(tmp_path, source, expected):
    (tmp_path / "bad.py").write_text(source)
    proc = _scaffold_run(["bad.py"], tmp_path)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert re.search(expected, proc.stderr.strip()), proc.stderr


def test_missing_script_is_a_usage_error(tmp_path):
    proc = _scaffold_run(["nowhere.py"], tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "nowhere.py" in proc.stderr


def test_script_exit_status_is_kept(tmp_path):
    (tmp_path / "exit3.py").write_text("import sys\nsys.exit(3)\n")
    assert _scaffold_run(["exit3.py"], tmp_path).returncode == 3
