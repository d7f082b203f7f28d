"""GPU configs on a CPU-only Paddle: the official simple_web_service's own `config_gpu.yml`
(`device_type: 1`, `devices: "0"`) starts on CPU with one warning, shown in /health/ready;
`strict_device: true` makes it a start-up error. The served checks run where Paddle is a CPU
build (they are skipped on a CUDA build, where the config runs on the GPU as written)."""

from __future__ import annotations

import json
import re
import shutil

import numpy as np
import pytest
import requests

from generator.runtime.errors import PipelineConfigError
from generator.runtime.inference.devices import DevicePolicy, paddle_has_cuda, paddle_version
from tests.helpers.services import free_port, read_log, start_service, stop_service
from tests.helpers.uci import direct_price, numbers
from tests.runtime.test_scaffold_run import SCAFFOLD, X, _scaffold_run

cpu_only = pytest.mark.skipif(paddle_has_cuda(), reason="Paddle here is a CUDA build")


def test_cuda_build_detection_agrees_with_paddle():
    import paddle

    assert paddle_has_cuda() is bool(paddle.device.is_compiled_with_cuda())
    assert paddle_version() == paddle.__version__


@pytest.mark.parametrize(("conf", "device"), [
    ({"device_type": 1, "devices": "0"}, "GPU (card 0)"),
    ({"device_type": 2, "devices": ""}, "GPU with TensorRT (card 0)"),
    ({"device_type": -1, "devices": "1,2"}, "GPU (card 1, 2)"),
])
def test_policy_on_a_cpu_build(conf, device):
    policy = DevicePolicy(has_cuda=lambda: False)
    assert policy.resolve(conf) == ("cpu", [-1])
    [warning] = policy.check({"det": conf, "cpu_op": {"device_type": 0}}, "config.yml")
    assert warning.startswith(f"config.yml: op.det: device_type {conf['device_type']}, devices "
                              f"{conf['devices']!r} asks for the {device}, but paddlepaddle ")
    assert "running on CPU" in warning and "strict_device: true" in warning
    strict = DevicePolicy(strict=True, has_cuda=lambda: False)
    with pytest.raises(PipelineConfigError, match=r"^config.yml: op.det.local_service_conf: "
                                                  r"device_type .* CPU-only build"):
        strict.check({"det": conf}, "config.yml")


def test_policy_on_a_cuda_build_keeps_the_device():
    policy = DevicePolicy(strict=True, has_cuda=lambda: True)
    assert policy.resolve({"device_type": 1, "devices": "0,1"}) == ("gpu", [0, 1])
    assert policy.resolve({"device_type": 2}) == ("trt", [0])
    assert policy.check({"op": {"device_type": 1}}, "c.yml") == []


def _gpu_config_copy(serving_wheel_dir, tmp_path, extra: str = ""):
    src = serving_wheel_dir / "paddle_serving_server" / "env_check" / "simple_web_service"
    shutil.copytree(src, tmp_path, dirs_exist_ok=True)
    rpc, http = free_port(), free_port()
    cfg = tmp_path / "config_gpu.yml"
    text = cfg.read_text()
    assert re.search(r"device_type: 1\s", text) and 'devices: "0"' in text
    cfg.write_text(text.replace("9998", str(rpc)).replace("18082", str(http)) + extra)
    return rpc, http


@cpu_only
def test_official_gpu_config_runs_on_cpu_with_one_warning(serving_wheel_dir, tmp_path):
    _rpc, http = _gpu_config_copy(serving_wheel_dir, tmp_path)
    proc = start_service([*SCAFFOLD, "web_service.py", "config_gpu.yml"], tmp_path, http)
    try:
        ready = requests.get(f"http://127.0.0.1:{http}/health/ready", timeout=5).json()
        assert ready["status"] == "ready"
        [warning] = ready["warnings"]
        assert warning.startswith("config_gpu.yml: op.uci: device_type 1, devices '0' asks for "
                                  "the GPU (card 0), but paddlepaddle ")
        body = requests.post(f"http://127.0.0.1:{http}/uci/prediction",
                             data=json.dumps({"key": ["x"], "value": [X]}), timeout=10).json()
        assert body["err_no"] == 0
        expected = direct_price(tmp_path / "uci_housing_model").ravel()
        np.testing.assert_allclose(numbers(body["value"][0]), expected, rtol=1e-5)
    finally:
        assert stop_service(proc) == 0
    log = read_log(proc)
    assert log.count("CPU-only build: running on CPU") == 1, log
    assert "Traceback" not in log and "needs a CUDA build" not in log


@cpu_only
def test_strict_device_makes_it_a_start_up_error(serving_wheel_dir, tmp_path):
    _gpu_config_copy(serving_wheel_dir, tmp_path, extra="strict_device: true\n")
    proc = _scaffold_run(["web_service.py", "config_gpu.yml"], tmp_path)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert re.search(r"^error: invalid service configuration: config_gpu\.yml: op\.uci\."
                     r"local_service_conf: device_type 1, devices '0' asks for the GPU \(card 0\), "
                     r"but paddlepaddle \S+ is a CPU-only build \(strict_device: true\)",
                     proc.stderr, re.MULTILINE), proc.stderr
