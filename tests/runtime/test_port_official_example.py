"""Porting: Paddle Serving's own simple_web_service (uci housing, process-mode Op, legacy model
with separate parameter files) runs on our runtime after changing only its import line, and
answers the wheel's own PipelineClient and the HTTP request of its test_uci_pipeline.py."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import requests

from tests.helpers.services import free_port, start_service, stop_service
from tests.helpers.uci import UCI_X, direct_price, numbers

X = UCI_X
OLD_IMPORT = "from paddle_serving_server.web_service import WebService, Op"
NEW_IMPORT = "from generator.runtime import WebService, Op"


@pytest.fixture(scope="module")
def uci_service(serving_wheel_dir, tmp_path_factory):
    src = serving_wheel_dir / "paddle_serving_server" / "env_check" / "simple_web_service"
    work = tmp_path_factory.mktemp("uci")
    shutil.copytree(src, work, dirs_exist_ok=True)
    script = work / "web_service.py"
    original = script.read_text()
    ported = original.replace(OLD_IMPORT, NEW_IMPORT)
    # exactly one line differs: the import
    diff = [(a, b) for a, b in zip(original.splitlines(), ported.splitlines(), strict=True) if a != b]
    assert diff == [(OLD_IMPORT, NEW_IMPORT)]
    script.write_text(ported)
    rpc, http = free_port(), free_port()
    cfg = work / "config_cpu.yml"
    cfg.write_text(cfg.read_text().replace("9998", str(rpc)).replace("18082", str(http)))
    proc = start_service(["web_service.py", "config_cpu.yml"], work, http)
    yield {"proc": proc, "rpc": rpc, "http": http, "dir": work}
    stop_service(proc)


def test_wheel_pipeline_client_gets_the_direct_paddle_price(uci_service, run_wheel_script):
    code = f"""
import json
client = PipelineClient()
client.connect(['127.0.0.1:{uci_service["rpc"]}'])
ret = client.predict(feed_dict={{'x': {X!r}}}, fetch=['price'])
print(json.dumps({{'err_no': ret.err_no, 'key': list(ret.key), 'value': list(ret.value)}}))
"""
    proc = run_wheel_script(code)
    assert proc.returncode == 0, proc.stderr
    reply = json.loads(proc.stdout.strip().splitlines()[-1])
    assert reply["err_no"] == 0 and reply["key"] == ["price"]
    expected = direct_price(uci_service["dir"] / "uci_housing_model")
    np.testing.assert_allclose(numbers(reply["value"][0]), expected.ravel(), rtol=1e-5)


def test_http_request_as_in_test_uci_pipeline(uci_service):
    url = f"http://127.0.0.1:{uci_service['http']}/uci/prediction"
    r = requests.post(url=url, data=json.dumps({"key": ["x"], "value": [X]}), timeout=10)
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"err_no", "err_msg", "key", "value", "tensors"}
    assert body["err_no"] == 0
    expected = direct_price(uci_service["dir"] / "uci_housing_model")
    np.testing.assert_allclose(numbers(body["value"][0]), expected.ravel(), rtol=1e-5)


def test_two_rows_in_one_request_and_bad_input_keeps_serving(uci_service):
    url = f"http://127.0.0.1:{uci_service['http']}/uci/prediction"
    bad = requests.post(url, data=json.dumps({"key": ["x"], "value": ["1,2,oops"]}), timeout=10)
    assert bad.status_code == 200
    err = bad.json()
    assert err["err_no"] == 10000
    assert "UciOp.preprocess" in err["err_msg"] and "oops" in err["err_msg"]
    both = requests.post(url, data=json.dumps({"key": ["x"], "value": [X + ";" + X]}), timeout=10)
    assert both.json()["err_no"] == 0
    assert len(numbers(both.json()["value"][0])) == 2


def test_sigterm_drains_and_exits_zero(uci_service):
    assert stop_service(uci_service["proc"]) == 0
