"""Operations features of the runtime: build_dag_each_worker (several processes on one port),
message size limits on both protocols, logs with log_id, the TensorRT dynamic-shape hook."""

from __future__ import annotations

import concurrent.futures
import json
import time

import grpc
import numpy as np
import pytest
import requests
import yaml

from generator.runtime import Op, PipelineClient, WebService
from generator.runtime import config as pipeline_config
from generator.runtime.executor.dag import DagExecutor
from generator.runtime.metrics import Metrics
from generator.runtime.pipeline.io_ops import RequestOp, ResponseOp
from tests.helpers.services import free_port, start_service, stop_service
from tests.helpers.tiny_models import save_linear_model, write_serving_server

SERVICE = '''
import os
import sys
import numpy as np
from generator.runtime import Op, WebService


class PidOp(Op):
    def preprocess(self, input_dicts, data_id, log_id):
        (_, d), = input_dicts.items()
        if d.get("fail"):
            raise ValueError("asked to fail")
        x = np.array([[float(v) for v in d["x"].split(",")]], dtype=np.float32)
        return {"x": x}, False, None, ""

    def postprocess(self, input_dicts, fetch_dict, data_id, log_id):
        return {"pid": str(os.getpid()), "price": str(float(fetch_dict["price"][0, 0]))}, None, ""


class Svc(WebService):
    def get_pipeline_response(self, read_op):
        return PidOp(name="pid", input_ops=[read_op])


if __name__ == "__main__":
    svc = Svc(name="pid")
    svc.prepare_pipeline_config(sys.argv[1])
    svc.run_service()
'''
XS = ",".join(["0.5"] * 13)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    m = save_linear_model(tmp_path_factory.mktemp("m") / "linear", fmt="pir", seed=7)
    write_serving_server(m, fetch_alias_names=["price"])
    return m.model_dir


def test_build_dag_each_worker_shares_the_ports_across_processes(tmp_path, model_dir):
    rpc, http = free_port(), free_port()
    conf = {"rpc_port": rpc, "http_port": http, "worker_num": 2, "build_dag_each_worker": True,
            "op": {"pid": {"local_service_conf": {"model_config": str(model_dir),
                                                  "client_type": "local_predictor"}}}}
    (tmp_path / "web_service.py").write_text(SERVICE)
    (tmp_path / "config.yml").write_text(yaml.safe_dump(conf))
    proc = start_service(["web_service.py", "config.yml"], tmp_path, http)
    try:
        pids = set()
        deadline = time.monotonic() + 60  # the second worker may bind its ports later
        while len(pids) < 2 and time.monotonic() < deadline:
            # a new connection each time: the kernel spreads them (SO_REUSEPORT)
            r = requests.post(f"http://127.0.0.1:{http}/pid/prediction",
                              json={"key": ["x"], "value": [XS]}, timeout=10,
                              headers={"Connection": "close"})
            body = r.json()
            assert body["err_no"] == 0, body
            pids.add(dict(zip(body["key"], body["value"], strict=True))["pid"])
        assert len(pids) == 2, f"expected two worker processes answering, saw {pids}"
        client = PipelineClient()
        client.connect([f"127.0.0.1:{rpc}"])
        assert client.predict({"x": XS}).err_no == 0
        bad = client.predict({"x": XS, "fail": "1"}, log_id=4242)
        assert bad.err_no == 10000 and "asked to fail" in bad.err_msg
        assert client.predict({"x": XS}).err_no == 0
    finally:
        assert stop_service(proc) == 0
    # logs: PipelineServingLogs/ in the working directory, the failing request's log_id in them
    log_dir = tmp_path / "PipelineServingLogs"
    assert (log_dir / "pipeline.log").is_file()
    assert "log_id=4242" in (log_dir / "pipeline.log.wf").read_text()


class EchoSize(Op):
    def preprocess(self, input_dicts, data_id, log_id):
        (_, d), = input_dicts.items()
        return {"size": str(len(d["blob"]))}, True, None, ""


def _serve_size(limit_mb: int):
    class Svc(WebService):
        def get_pipeline_response(self, read_op):
            return EchoSize(name="size", input_ops=[read_op])

    svc = Svc(name="size")
    svc.prepare_pipeline_config(yml_dict={"rpc_port": free_port(), "http_port": free_port(),
                                          "worker_num": 2, "max_message_size_mb": limit_mb})
    return svc.start()


def test_requests_over_4_mib_pass_on_both_protocols_and_the_limit_is_configurable():
    blob = "a" * (20 << 20)  # 20 MiB: over grpc-go's and the old gateway's 4 MiB
    server = _serve_size(256)
    try:
        client = PipelineClient()
        client.connect([f"127.0.0.1:{server.rpc_port}"])
        resp = client.predict({"blob": blob})
        assert resp.err_no == 0 and resp.value[0] == str(len(blob))
        r = requests.post(f"http://127.0.0.1:{server.http_port}/size/prediction",
                          data=json.dumps({"key": ["blob"], "value": [blob]}), timeout=30)
        assert r.status_code == 200 and r.json()["value"] == [str(len(blob))]
    finally:
        server.stop(2)
    small = _serve_size(8)
    try:
        client = PipelineClient()
        client.connect([f"127.0.0.1:{small.rpc_port}"])
        with pytest.raises(grpc.RpcError) as too_big:
            client.predict({"blob": blob})
        assert too_big.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        r = requests.post(f"http://127.0.0.1:{small.http_port}/size/prediction",
                          data=json.dumps({"key": ["blob"], "value": [blob]}), timeout=30)
        assert r.status_code == 413 and "max_message_size_mb" in r.text
        assert client.predict({"blob": "small"}).err_no == 0
    finally:
        small.stop(2)


def test_dynamic_shapes_from_yaml_and_from_the_hook_reach_the_predictor(model_dir):
    class Hooked(Op):
        def set_dynamic_shape_info(self):
            self.dynamic_shape_info = {"min_input_shape": {"x": [1, 13]},
                                       "max_input_shape": {"x": [64, 13]},
                                       "opt_input_shape": {"x": [8, 13]}}

    read = RequestOp()
    op = Hooked(name="h", input_ops=[read])
    conf = pipeline_config.load_pipeline_config(yml_dict={
        "rpc_port": free_port(),
        "op": {"h": {"local_service_conf": {
            "model_config": str(model_dir), "client_type": "local_predictor",
            "min_input_shape": {"y": [1, 2]}, "max_input_shape": {"y": [4, 2]},
            "opt_input_shape": {"y": [2, 2]}}}}})
    dag = DagExecutor(ResponseOp([op]), conf, Metrics("h"), "<test>",
                      pipeline_config.resolve_devices)
    dag.start()
    try:
        info = op.client.options.dynamic_shape_info
        assert info["max_input_shape"] == {"y": [4, 2], "x": [64, 13]}
        assert info["opt_input_shape"]["x"] == [8, 13]
        out = op.client.predict({"x": np.ones((2, 13), np.float32)})
        assert out["price"].shape == (2, 1)
    finally:
        dag.stop(1)


def test_async_client_requests_run_concurrently(model_dir):
    class Slow(Op):
        def preprocess(self, input_dicts, data_id, log_id):
            time.sleep(2.0)
            return {"x": np.ones((1, 13), np.float32)}, False, None, ""

    class Svc(WebService):
        def get_pipeline_response(self, read_op):
            return Slow(name="slow", input_ops=[read_op])

    svc = Svc(name="slow")
    svc.prepare_pipeline_config(yml_dict={
        "rpc_port": free_port(), "http_port": free_port(), "worker_num": 8,
        "op": {"slow": {"concurrency": 4, "local_service_conf": {
            "model_config": str(model_dir), "client_type": "local_predictor"}}}})
    server = svc.start()
    try:
        client = PipelineClient()
        client.connect([f"127.0.0.1:{server.rpc_port}"])
        start = time.monotonic()
        futures = [client.predict({"k": "v"}, asyn=True, log_id=i) for i in range(4)]
        results = [f.result(timeout=60) for f in futures]
        elapsed = time.monotonic() - start
        assert [r.err_no for r in results] == [0, 0, 0, 0]
        # 4 x 2 s: about 2 s together, 8 s one after another
        assert elapsed < 6.0, f"4 requests on 4 workers took {elapsed:.2f}s: not concurrent"
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            assert all(f.err_no == 0 for f in pool.map(
                lambda _: client.predict({"k": "v"}), range(2)))
    finally:
        server.stop(2)


def test_custom_request_and_response_ops_with_a_bare_pipeline_server(model_dir):
    """As Paddle Serving's imdb ensemble example: PipelineServer() used directly, a RequestOp
    that parses its own format and a ResponseOp that packs its own. With no name, any URL
    name is accepted (Paddle Serving rejected every HTTP request then)."""
    from generator.runtime import PipelineServer
    from generator.runtime.proto import Response

    class JsonRequest(RequestOp):
        def unpack_request_package(self, request):
            data = json.loads(request.value[0])
            return {"x": np.asarray(data["rows"], dtype=np.float32)}, request.logid, None, ""

    class Reply(ResponseOp):
        def pack_response_package(self, channeldata):
            prices = channeldata.parse()["price"].ravel().tolist()
            return Response(err_no=0, key=["prices"], value=[json.dumps(prices)])

    read = JsonRequest()
    op = Op(name="linear", input_ops=[read])
    server = PipelineServer()
    server.set_response_op(Reply(input_ops=[op]))
    server.prepare_server(yml_dict={
        "rpc_port": free_port(), "http_port": free_port(),
        "op": {"linear": {"local_service_conf": {"model_config": str(model_dir),
                                                 "client_type": "local_predictor"}}}})
    server.start()
    try:
        rows = [[0.1] * 13, [0.2] * 13]
        body = {"key": ["data"], "value": [json.dumps({"rows": rows})]}
        r = requests.post(f"http://127.0.0.1:{server.http_port}/anything/prediction", json=body,
                          timeout=5).json()
        assert r["err_no"] == 0 and r["key"] == ["prices"]
        assert len(json.loads(r["value"][0])) == 2
    finally:
        server.stop(2)
