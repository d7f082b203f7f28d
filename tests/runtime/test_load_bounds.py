"""Bounded under load (issue 18): the bare model `{name}-model` runs on the Op's own copies and
runner threads (not on the request's thread, not on a predictor per thread); calls past the
bounds are refused at once on gRPC (RESOURCE_EXHAUSTED, `max_concurrent_rpcs`) and HTTP (503,
`dag.channel_size`) instead of queueing; and health and metrics stay answerable when one
client holds every HTTP connection. Real services on loopback; no timing assumptions: the
Op is held busy by a gate the test opens."""

from __future__ import annotations

import concurrent.futures
import json
import socket
import threading
import time
from pathlib import Path

import grpc
import numpy as np
import pytest
import requests

from generator.runtime.inference.predictor import LocalPredictor
from generator.service import ClassificationOp
from tests.helpers.classifier_service import classifier_service, start_classifier_service

grpcclient = pytest.importorskip("tritonclient.grpc")
from tritonclient.grpc import service_pb2, service_pb2_grpc  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
JPG = (REPO / "tests" / "data" / "shapes_320x240.jpg").read_bytes()
X = np.random.default_rng(0).standard_normal((1, 3, 32, 32)).astype(np.float32)
GATE, ENTERED = threading.Event(), threading.Event()


class GatedOp(ClassificationOp):
    """Holds its copy in preprocess while the request has key `gate` and GATE is closed."""

    def preprocess(self, input_dicts, data_id=0, log_id=0):
        if "gate" in self._request(input_dicts):
            ENTERED.set()
            GATE.wait(300)
        return super().preprocess(input_dicts, data_id, log_id)


def _gated_service(root: Path, **conf):
    served = start_classifier_service(root, op_class=GatedOp, request_timeout_s=300,
                                      op={"concurrency": 1}, **conf)
    yield served
    GATE.set()
    served.stop(5)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """Waiting for the Op unbounded (channel_size 0): gRPC is bounded by its 3 slots."""
    yield from _gated_service(tmp_path_factory.mktemp("bounds"), max_concurrent_rpcs=3)


@pytest.fixture(scope="module")
def bounded(tmp_path_factory):
    """At most one caller waits for the Op (channel_size 1)."""
    yield from _gated_service(tmp_path_factory.mktemp("bounded"), dag={"channel_size": 1})


def grpc_infer_request():
    request = service_pb2.ModelInferRequest(model_name="cls-model")
    request.inputs.add(name="x", datatype="FP32", shape=list(X.shape))
    request.raw_input_contents.append(X.tobytes())
    return request


def http_infer(server) -> requests.Response:
    head = json.dumps({"inputs": [{"name": "x", "datatype": "FP32", "shape": list(X.shape),
                                   "parameters": {"binary_data_size": X.nbytes}}]}).encode()
    return requests.post(f"http://127.0.0.1:{server.http_port}/v2/models/cls-model/infer",
                         data=head + X.tobytes(), timeout=300,
                         headers={"Inference-Header-Content-Length": str(len(head))})


def gated_pipeline_call(server) -> concurrent.futures.Future:
    """A pipeline request that holds the Op's only copy until GATE opens."""
    GATE.clear()
    ENTERED.clear()
    pool = concurrent.futures.ThreadPoolExecutor(1)
    future = pool.submit(requests.post, f"http://127.0.0.1:{server.http_port}/cls/prediction",
                         json={"key": ["image", "gate"], "value": [
                             __import__("base64").b64encode(JPG).decode(), "1"]}, timeout=300)
    pool.shutdown(wait=False)
    assert ENTERED.wait(120), "the gated request never reached the Op"
    return future


def wait_until(condition, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met"
        time.sleep(0.05)


@pytest.fixture
def predict_threads(monkeypatch) -> list[str]:
    """The names of the threads that run `LocalPredictor.predict` in this process, in order."""
    threads: list[str] = []
    predict = LocalPredictor.predict

    def recording(self, *args, **kwargs):
        threads.append(threading.current_thread().name)
        return predict(self, *args, **kwargs)

    monkeypatch.setattr(LocalPredictor, "predict", recording)
    return threads


def test_bare_model_runs_on_the_ops_copies_not_request_threads(server, predict_threads) -> None:
    threads = predict_threads
    want = LocalPredictor(str(server.model_dir)).predict({"x": X})["scores"]
    threads.clear()
    with grpc.insecure_channel(f"127.0.0.1:{server.rpc_port}") as channel:
        infer = service_pb2_grpc.GRPCInferenceServiceStub(channel).ModelInfer
        for _ in range(3):
            reply = infer(grpc_infer_request(), timeout=60)
            got = np.frombuffer(reply.raw_output_contents[0], np.float32).reshape(1, 4)
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    for _ in range(3):
        assert http_infer(server).status_code == 200
    assert len(threads) == 6 and {t.rsplit("_", 1)[0] for t in threads} == {"op-cls"}, threads


def test_bare_model_in_process_mode_runs_on_one_thread_of_its_own(tmp_path,
                                                                  predict_threads) -> None:
    """Process mode: the Op's predictors live in its worker processes; the bare model has one
    predictor here, run by one thread, whatever thread took the call."""
    threads = predict_threads
    served = start_classifier_service(tmp_path, dag={"is_thread_op": False},
                                      op={"concurrency": 2})
    try:
        with grpc.insecure_channel(f"127.0.0.1:{served.rpc_port}") as channel:
            infer = service_pb2_grpc.GRPCInferenceServiceStub(channel).ModelInfer
            calls = [infer.future(grpc_infer_request(), timeout=120) for _ in range(8)]
            assert [c.result().outputs[0].name for c in calls] == ["scores"] * 8
        assert http_infer(served).status_code == 200
    finally:
        served.stop(5)
    assert len(threads) == 9 and {t.rsplit("_", 1)[0] for t in threads} == {"oip-cls-model"}, \
        threads


def test_grpc_calls_past_max_concurrent_rpcs_are_refused_at_once(server) -> None:
    held = gated_pipeline_call(server)  # over HTTP: the 3 gRPC slots stay free
    with grpc.insecure_channel(f"127.0.0.1:{server.rpc_port}") as channel:
        infer = service_pb2_grpc.GRPCInferenceServiceStub(channel).ModelInfer
        calls = [infer.future(grpc_infer_request(), timeout=300) for _ in range(10)]
        refused = lambda: [c for c in calls if c.done()]  # noqa: E731
        wait_until(lambda: len(refused()) >= 7)
        assert not held.done(), "the Op was released before the refusals"
        for call in refused():
            assert call.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, call
            assert "max_concurrent_rpcs" in call.details()
        waiting = [c for c in calls if not c.done()]
        assert len(waiting) == 3  # hold every slot, waiting for the Op's copy
        GATE.set()
        assert held.result(300).json()["err_no"] == 0
        for call in waiting:
            assert call.result(300).outputs[0].name == "scores"


def test_http_calls_past_channel_size_get_503_at_once(bounded) -> None:
    held = gated_pipeline_call(bounded)
    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        calls = [pool.submit(http_infer, bounded) for _ in range(6)]
        wait_until(lambda: sum(c.done() for c in calls) >= 5)
        assert not held.done()
        done = [c.result() for c in calls if c.done()]
        for reply in done:
            assert reply.status_code == 503, reply.text
            assert "server overloaded" in reply.json()["error"]
            assert "dag.channel_size" in reply.json()["error"]
        GATE.set()
        assert held.result(300).json()["err_no"] == 0
        assert [c.result(300).status_code for c in calls if c.result() not in done] == [200]


# -- the HTTP connection cap ------------------------------------------------------------------
@pytest.fixture
def capped(tmp_path):
    """A fresh service per test: no connection left over from another test."""
    with classifier_service(tmp_path, http_max_connections=6,
                            http_header_timeout_s=600) as served:
        yield served


def _connections(server, count: int, first_bytes: bytes = b"") -> list[socket.socket]:
    socks = []
    for _ in range(count):
        s = socket.create_connection(("127.0.0.1", server.http_port), timeout=60)
        if first_bytes:
            s.sendall(first_bytes)
        socks.append(s)
    return socks


def _closed_by_server(s: socket.socket) -> bool:
    s.settimeout(0.01)
    try:
        return s.recv(1) == b""
    except TimeoutError:
        return False
    except OSError:
        return True


def test_idle_connections_make_room_for_others(capped) -> None:
    base = f"http://127.0.0.1:{capped.http_port}"
    hoard = _connections(capped, 6)  # idle: connected, nothing sent; fills the cap
    time.sleep(3)  # idle for longer than IDLE_GRACE_S (1 s)
    try:
        for path in ("/health/ready", "/metrics", "/cls/prediction"):
            reply = (requests.get if path != "/cls/prediction" else requests.post)(
                base + path, timeout=60, json={"key": ["image"], "value": [
                    __import__("base64").b64encode(JPG).decode()]})
            assert reply.status_code == 200, reply.text
        # the first request closed the longest-idle one (later ones found a free place)
        wait_until(lambda: _closed_by_server(hoard[0]))
        assert not any(_closed_by_server(s) for s in hoard[2:])
    finally:
        for s in hoard:
            s.close()


def test_health_and_metrics_answer_when_no_connection_is_idle(capped) -> None:
    base = f"http://127.0.0.1:{capped.http_port}"
    # every connection mid-request (headers not finished): none can be closed as idle
    busy = _connections(capped, 6, b"POST /cls/prediction HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    try:
        # (Connection: close: a probe's connection would otherwise stay open, idle, and make
        # room for the next request)
        once = {"Connection": "close"}
        assert requests.get(f"{base}/health/ready", timeout=60, headers=once).status_code == 200
        assert requests.get(f"{base}/v2/health/live", timeout=60, headers=once).status_code == 200
        assert "pd_requests_total" in requests.get(f"{base}/metrics", headers=once,
                                                   timeout=60).text
        refused = requests.post(f"{base}/cls/prediction", json={}, timeout=60)
        assert refused.status_code == 503 and "too many open connections" in refused.text
        # the probes' reserve is bounded too: fill it, and the next probe is refused
        reserve = _connections(capped, 16, b"GET /health/ready HTTP/1.1\r\n")
        try:
            late = requests.get(f"{base}/health/ready", timeout=60, headers=once)
            assert late.status_code == 503 and "too many open connections" in late.text
        finally:
            for s in reserve:
                s.close()
        assert not any(_closed_by_server(s) for s in busy)  # not idle: never closed
    finally:
        for s in busy:
            s.close()
