"""Both protocols under overload, shutdown and bad clients (real service processes): gRPC
refuses calls over max_concurrent_rpcs with 8001 at once, SIGTERM finishes every call already
accepted on gRPC and HTTP, and /metrics counts every outcome with its exact code."""

from __future__ import annotations

import concurrent.futures
import signal
import socket
import time

import grpc
import pytest
import requests
import yaml

from generator.runtime import PipelineClient
from generator.runtime.proto import Request
from generator.runtime.protocols.grpc_guard import PIPELINE_METHOD
from tests.helpers.services import start_service, stop_service
from tests.runtime.test_faults_workers import metric, predict, wait_for, write_service


def grpc_predict(tmp_path, **values):
    conf = yaml.safe_load((tmp_path / "config.yml").read_text())
    client = PipelineClient()
    client.connect([f"127.0.0.1:{conf['rpc_port']}"])
    started = time.monotonic()
    resp = client.predict(values)
    return resp.err_no, time.monotonic() - started


def test_grpc_overload_is_refused_at_once_and_in_flight_is_exact(tmp_path):
    http = write_service(tmp_path, max_concurrent_rpcs=4, dag={"is_thread_op": True},
                         op={"pid": {"concurrency": 4}})
    proc = start_service(["web_service.py", "config.yml"], tmp_path, http)
    try:
        with concurrent.futures.ThreadPoolExecutor(12) as pool:
            slow = [pool.submit(grpc_predict, tmp_path, sleep="1.5") for _ in range(4)]
            assert wait_for(lambda: metric(http, "pd_requests_in_flight") == 4, 5)
            extra = [pool.submit(grpc_predict, tmp_path, sleep="1.5") for _ in range(8)]
            refused = [f.result(timeout=10) for f in extra]
            served = [f.result(timeout=10) for f in slow]
        assert [code for code, _ in refused] == [8001] * 8
        assert max(took for _, took in refused) < 0.5, refused
        assert [code for code, _ in served] == [0] * 4
        assert metric(http, "pd_requests_in_flight") == 0
        assert metric(http, "pd_requests_total", protocol="grpc", err_no="8001") == 8
        assert metric(http, "pd_requests_total", protocol="grpc", err_no="0") == 4
        assert metric(http, "pd_grpc_responses_total", code="OK") == 12
    finally:
        stop_service(proc, sig=signal.SIGKILL)


def test_sigterm_finishes_every_accepted_call_on_both_protocols(tmp_path):
    http = write_service(tmp_path, dag={"is_thread_op": True}, op={"pid": {"concurrency": 64}})
    proc = start_service(["web_service.py", "config.yml"], tmp_path, http)
    try:
        with concurrent.futures.ThreadPoolExecutor(64) as pool:
            calls = [pool.submit(grpc_predict, tmp_path, sleep="2") for _ in range(48)]
            calls += [pool.submit(lambda: (predict(http, 30, sleep="2")["err_no"], 0))
                      for _ in range(16)]
            assert wait_for(lambda: metric(http, "pd_requests_in_flight") == 64, 5)
            proc.send_signal(signal.SIGTERM)
            codes = [f.result(timeout=30)[0] for f in calls]
        assert codes == [0] * 64, codes
        assert proc.wait(20) == 0
    finally:
        stop_service(proc, sig=signal.SIGKILL)


def test_http_errors_and_dropped_connections_are_counted(tmp_path):
    http = write_service(tmp_path, dag={"is_thread_op": True})
    proc = start_service(["web_service.py", "config.yml"], tmp_path, http)
    try:
        url = f"http://127.0.0.1:{http}/pid/prediction"
        assert requests.post(url, data=b"{not json", timeout=5).status_code == 400
        with socket.create_connection(("127.0.0.1", http), timeout=5) as s:  # bad framing
            s.sendall(b"POST /pid/prediction HTTP/1.1\r\nContent-Length: x\r\n\r\n")
            assert s.recv(100).startswith(b"HTTP/1.1 400")
        assert predict(http, sleep="0.05")["err_no"] == 0  # slow: handlers leave the loop
        body = b'{"key": ["sleep"], "value": ["1"]}'
        with socket.create_connection(("127.0.0.1", http), timeout=5) as s:  # goes away
            s.sendall(b"POST /pid/prediction HTTP/1.1\r\nHost: x\r\nContent-Length: "
                      + str(len(body)).encode() + b"\r\n\r\n" + body)
            time.sleep(0.3)
        assert predict(http, name="other")["err_no"] == 0
        requests.post(f"http://127.0.0.1:{http}/other/prediction", json={}, timeout=5)
        assert wait_for(lambda: metric(http, "pd_http_responses_total", status="dropped") == 1, 5)
        assert metric(http, "pd_http_responses_total", status="400") == 2
        assert metric(http, "pd_requests_total", protocol="http", err_no="3002") == 1
        assert metric(http, "pd_requests_total", protocol="http", err_no="0") >= 2
    finally:
        stop_service(proc, sig=signal.SIGKILL)


def test_grpc_transport_errors_and_cancelled_calls_are_counted(tmp_path):
    http = write_service(tmp_path, dag={"is_thread_op": True})
    proc = start_service(["web_service.py", "config.yml"], tmp_path, http)
    try:
        rpc = yaml.safe_load((tmp_path / "config.yml").read_text())["rpc_port"]
        with grpc.insecure_channel(f"127.0.0.1:{rpc}") as channel:
            raw = channel.unary_unary(PIPELINE_METHOD)
            with pytest.raises(grpc.RpcError) as bad:
                raw(b"\xff\xff\xff not a Request", timeout=5)
            assert bad.value.code() == grpc.StatusCode.INTERNAL
            slow = Request(key=["sleep"], value=["1"]).SerializeToString()
            with pytest.raises(grpc.RpcError) as late:
                raw(slow, timeout=0.3)
            assert late.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        assert wait_for(lambda: metric(http, "pd_grpc_responses_total", code="CANCELLED") == 1, 5)
        assert metric(http, "pd_grpc_responses_total", code="INTERNAL") == 1
        assert grpc_predict(tmp_path)[0] == 0
    finally:
        stop_service(proc, sig=signal.SIGKILL)


def test_sigterm_exits_even_with_a_request_stuck_in_user_code(tmp_path):
    http = write_service(tmp_path, shutdown_timeout_s=1, dag={"is_thread_op": True})
    proc = start_service(["web_service.py", "config.yml"], tmp_path, http)
    try:
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            stuck = pool.submit(predict, http, 30, sleep="60")
            assert wait_for(lambda: metric(http, "pd_requests_in_flight") == 1, 5)
            started = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(15) == 0
            assert time.monotonic() - started < 8
            with pytest.raises(requests.RequestException):
                stuck.result(timeout=10)  # its connection is closed, not left hanging
    finally:
        stop_service(proc, sig=signal.SIGKILL)
