"""Services as real subprocesses: process-mode Ops, graceful shutdown with requests in flight,
and start-up failures that exit non-zero with one clear message."""

from __future__ import annotations

import concurrent.futures
import json
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import requests
import yaml

from generator.runtime import PipelineClient
from generator.runtime.inference.predictor import LocalPredictor
from tests.helpers.services import free_port, service_env, start_service, stop_service
from tests.helpers.tiny_models import save_linear_model, write_serving_server
from tests.runtime.test_faults_workers import metric, wait_for

SERVICE = '''
import json
import os
import sys
import time

import numpy as np

from generator.runtime import Op, WebService


class SlowOp(Op):
    def preprocess(self, input_dicts, data_id, log_id):
        (_, d), = input_dicts.items()
        time.sleep(float(d.get("sleep", "0")))
        x = np.array([[float(v) for v in d["x"].split(",")]], dtype=np.float32)
        return {"x": x}, False, None, ""

    def postprocess(self, input_dicts, fetch_dict, data_id, log_id):
        return {"price": json.dumps(fetch_dict["price"].ravel().tolist()),
                "worker": f"{os.getpid()}:{self.concurrency_idx}"}, None, ""


class Svc(WebService):
    def get_pipeline_response(self, read_op):
        return SlowOp(name="slow", input_ops=[read_op])


if __name__ == "__main__":
    svc = Svc(name="slow")
    svc.prepare_pipeline_config(sys.argv[1])
    svc.run_service()
'''


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    m = save_linear_model(tmp_path_factory.mktemp("m") / "linear", fmt="pir", seed=4)
    write_serving_server(m, fetch_alias_names=["price"])
    return m.model_dir


def _write(tmp_path, model_dir, is_thread_op=False, **op_extra):
    rpc, http = free_port(), free_port()
    conf = {"rpc_port": rpc, "http_port": http, "worker_num": 8, "shutdown_timeout_s": 20,
            "dag": {"is_thread_op": is_thread_op},
            "op": {"slow": {"concurrency": 2, **op_extra,
                            "local_service_conf": {"model_config": str(model_dir),
                                                   "client_type": "local_predictor"}}}}
    (tmp_path / "web_service.py").write_text(SERVICE)
    (tmp_path / "config.yml").write_text(yaml.safe_dump(conf))
    return rpc, http


X = np.linspace(-1, 1, 13, dtype=np.float32)[None]
XS = ",".join(str(float(v)) for v in X[0])


def _answering_workers(client: PipelineClient, model_dir, n: int) -> list[str]:
    """`n` concurrent slow predictions, each answer checked against the in-process predictor;
    the `worker` ("pid:index") that answered each."""
    with concurrent.futures.ThreadPoolExecutor(n) as pool:
        resps = list(pool.map(lambda _: client.predict({"x": XS, "sleep": "0.3"}), range(n)))
    expected = LocalPredictor(str(model_dir)).predict({"x": X})["price"].ravel()
    workers = []
    for r in resps:
        out = dict(zip(r.key, r.value, strict=True))
        assert r.err_no == 0, r.err_msg
        np.testing.assert_allclose(json.loads(out["price"]), expected, rtol=1e-5)
        workers.append(out["worker"])
    return workers


def test_process_ops_then_graceful_shutdown_with_requests_in_flight(tmp_path, model_dir):
    rpc, http = _write(tmp_path, model_dir)
    proc = start_service(["web_service.py", "config.yml"], tmp_path, http)
    try:
        client = PipelineClient()
        client.connect([f"127.0.0.1:{rpc}"])
        workers = set(_answering_workers(client, model_dir, 8))
        assert {w.split(":")[1] for w in workers} == {"0", "1"}, workers
        assert len({w.split(":")[0] for w in workers}) == 2, "Ops did not run in two processes"

        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            url = f"http://127.0.0.1:{http}/slow/prediction"
            body = {"key": ["x", "sleep"], "value": [XS, "3"]}
            in_flight = [pool.submit(requests.post, url, json=body, timeout=60) for _ in range(4)]
            # all 4 accepted (2 run, 2 queued for the 2 workers) before SIGTERM
            assert wait_for(lambda: metric(http, "pd_requests_in_flight") == 4, 30)
            started = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            answers = [f.result() for f in in_flight]
        assert [a.json()["err_no"] for a in answers] == [0, 0, 0, 0]
        assert proc.wait(30) == 0
        assert time.monotonic() - started < 20
        with pytest.raises(requests.RequestException):
            requests.post(url, json=body, timeout=2)
    finally:
        stop_service(proc)


@pytest.mark.parametrize(("is_thread_op", "kind", "in_processes"), [
    (True, "auto", True),  # Paddle holds the GIL: its instances run as processes
    (False, "thread", False),  # an Op may run as threads in a process-mode DAG
])
def test_worker_kind_picks_threads_or_processes_per_op(tmp_path, model_dir, is_thread_op, kind,
                                                       in_processes):
    rpc, http = _write(tmp_path, model_dir, is_thread_op=is_thread_op, worker_kind=kind)
    proc = start_service(["web_service.py", "config.yml"], tmp_path, http)
    try:
        client = PipelineClient()
        client.connect([f"127.0.0.1:{rpc}"])
        pids = {int(w.split(":")[0]) for w in _answering_workers(client, model_dir, 6)}
        if in_processes:
            assert len(pids) == 2 and proc.pid not in pids, pids
        else:
            assert pids == {proc.pid}
    finally:
        stop_service(proc)


def _run_failing(tmp_path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "web_service.py", "config.yml"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60, env=service_env())


def test_unloadable_model_stops_start_up_with_a_clear_message(tmp_path):
    empty = tmp_path / "empty_model"
    empty.mkdir()
    _write(tmp_path, empty)
    proc = _run_failing(tmp_path)
    assert proc.returncode == 1
    assert "could not start" in proc.stderr and "empty_model" in proc.stderr
    assert "no model found" in proc.stderr.lower()
    assert "Traceback" not in proc.stderr


def test_config_error_names_file_key_and_value(tmp_path, model_dir):
    _write(tmp_path, model_dir, concurency=2)
    proc = _run_failing(tmp_path)
    assert proc.returncode == 1
    assert "config.yml" in proc.stderr and "op.slow" in proc.stderr
    assert "did you mean 'concurrency'" in proc.stderr
    assert "Traceback" not in proc.stderr


BATCH_SERVICE = SERVICE.replace('''    def postprocess(self, input_dicts, fetch_dict, data_id, log_id):''', '''    def process(self, feed_batch, typical_logid=0):
        self.last_batch = len(feed_batch[0]["x"])
        return super().process(feed_batch, typical_logid)

    def postprocess(self, input_dicts, fetch_dict, data_id, log_id):
        fetch_dict["batch"] = np.array([self.last_batch])''').replace(
    '''"worker": f"{os.getpid()}:{self.concurrency_idx}"}''',
    '''"worker": f"{os.getpid()}:{self.concurrency_idx}",
                "batch": str(int(fetch_dict["batch"][0]))}''')


def test_process_ops_batch_concurrent_requests_and_split_results(tmp_path, model_dir):
    rpc, http = _write(tmp_path, model_dir, batch_size=4, auto_batching_timeout=200)
    (tmp_path / "web_service.py").write_text(BATCH_SERVICE)
    proc = start_service(["web_service.py", "config.yml"], tmp_path, http)
    try:
        client = PipelineClient()
        client.connect([f"127.0.0.1:{rpc}"])
        rng = np.random.default_rng(3)
        direct = LocalPredictor(str(model_dir))
        batches: list[int] = []
        # bursts of 8 concurrent requests until one is batched (a busy machine may deliver a
        # burst one by one; bounded)
        for _ in range(5):
            xs = [rng.standard_normal((1, 13)).astype(np.float32) for _ in range(8)]
            with concurrent.futures.ThreadPoolExecutor(8) as pool:
                resps = list(pool.map(lambda x: client.predict(
                    {"x": ",".join(str(float(v)) for v in x[0])}), xs))
            for x, r in zip(xs, resps, strict=True):
                out = dict(zip(r.key, r.value, strict=True))
                assert r.err_no == 0, r.err_msg
                np.testing.assert_allclose(json.loads(out["price"]),
                                           direct.predict({"x": x})["price"].ravel(), rtol=1e-4)
                batches.append(int(out["batch"]))
            if max(batches) > 1:
                break
        assert max(batches) > 1, f"process-mode Ops never batched: {batches}"
    finally:
        assert stop_service(proc) == 0
