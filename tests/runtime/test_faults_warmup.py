"""Warm-up that can fail: a model whose weights file was cut short loads, but its warm-up
outputs are malformed, so start-up stops with one clear message (thread and process mode)."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from tests.helpers.services import free_port, service_env
from tests.helpers.tiny_models import save_linear_model, write_serving_server

SERVICE = '''
import sys

from generator.runtime import Op, WebService


class Svc(WebService):
    def get_pipeline_response(self, read_op):
        return Op(name="lin", input_ops=[read_op])


if __name__ == "__main__":
    svc = Svc(name="lin")
    svc.prepare_pipeline_config(sys.argv[1])
    svc.run_service()
'''


@pytest.fixture(scope="module")
def truncated_model(tmp_path_factory):
    m = save_linear_model(tmp_path_factory.mktemp("m") / "linear", fmt="pir", seed=1)
    write_serving_server(m, fetch_alias_names=["price"])
    params = next(m.model_dir.glob("*.pdiparams"))
    data = params.read_bytes()
    params.write_bytes(data[: len(data) // 2])
    return m.model_dir


@pytest.mark.parametrize("thread_op", [True, False], ids=["thread", "process"])
def test_truncated_weights_stop_start_up_with_a_clear_message(tmp_path, truncated_model,
                                                              thread_op):
    conf = {"rpc_port": free_port(), "http_port": free_port(),
            "dag": {"is_thread_op": thread_op},
            "op": {"lin": {"local_service_conf": {"model_config": str(truncated_model),
                                                  "client_type": "local_predictor"}}}}
    (tmp_path / "web_service.py").write_text(SERVICE)
    (tmp_path / "config.yml").write_text(yaml.safe_dump(conf))
    proc = subprocess.run([sys.executable, "web_service.py", "config.yml"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=90, env=service_env())
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert "could not start" in proc.stderr, proc.stderr[-2000:]
    assert "warm-up" in proc.stderr and "truncated" in proc.stderr
    assert "price" in proc.stderr and str(truncated_model) in proc.stderr
    assert "Traceback" not in proc.stderr
