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
from tests.helpers.services import read_log, start_service, stop_service
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
            slow = [pool.submit(grpc_predict, tmp_path, sleep="8") for _ in range(4)]
            assert wait_for(lambda: metric(http, "pd_requests_in_flight") == 4, 30)
            extra = [pool.submit(grpc_predict, tmp_path, sleep="8") for _ in range(8)]
            refused = [f.result(timeout=60) for f in extra]
            served = [f.result(timeout=60) for f in slow]
        assert [code for code, _ in refused] == [8001] * 8
        # at once, not queued behind the 8 s calls
        assert max(took for _, took in refused) < 4, refused
        assert [code for code, _ in served] == [0] * 4
        assert metric(http, "pd_requests_in_flight") == 0
        assert metric(http, "pd_requests_total", protocol="grpc", err_no="8001") == 8
        assert metric(http, "pd_requests_total", protocol="grpc", err_no="0") == 4
        assert metric(http, "pd_grpc_responses_total", code="OK") == 12
    finally:
        stop_service(proc, sig=signal.SIGKILL)


def test_sigterm_finishes_every_accepted_call_on_both_protocols(tmp_path):
    http = write_service(tmp_path, dag={"is_thread_op": True}, op={"pid": {"concurrency": 64}},
                         shutdown_timeout_s=60)
    proc = start_service(["web_service.py", "config.yml"], tmp_path, http)
    try:
        with concurrent.futures.ThreadPoolExecutor(64) as pool:
            # each call lasts 8 s: all 64 are in flight together even when sent slowly
            calls = [pool.submit(grpc_predict, tmp_path, sleep="8") for _ in range(48)]
            calls += [pool.submit(lambda: (predict(http, 90, sleep="8")["err_no"], 0))
                      for _ in range(16)]
            assert wait_for(lambda: metric(http, "pd_requests_in_flight") == 64, 30)
            proc.send_signal(signal.SIGTERM)
            codes = [f.result(timeout=90)[0] for f in calls]
        assert codes == [0] * 64, codes
        assert proc.wait(60) == 0
    finally:
        stop_service(proc, sig=signal.SIGKILL)


def test_http_errors_and_dropped_connections_are_counted(tmp_path):
    http = write_service(tmp_path, dag={"is_thread_op": True})
    proc = start_service(["web_service.py", "config.yml"], tmp_path, http)
    try:
        url = f"http://127.0.0.1:{http}/pid/prediction"
        assert requests.post(url, data=b"{not json", timeout=30).status_code == 400
        with socket.create_connection(("127.0.0.1", http), timeout=30) as s:  # bad framing
            s.sendall(b"POST /pid/prediction HTTP/1.1\r\nContent-Length: x\r\n\r\n")
            assert s.recv(100).startswith(b"HTTP/1.1 400")
        assert predict(http, sleep="0.05")["err_no"] == 0  # slow: handlers leave the loop
        body = b'{"key": ["sleep"], "value": ["4"]}'
        with socket.create_connection(("127.0.0.1", http), timeout=30) as s:  # goes away
            s.sendall(b"POST /pid/prediction HTTP/1.1\r\nHost: x\r\nContent-Length: "
                      + str(len(body)).encode() + b"\r\n\r\n" + body)
            time.sleep(1.0)  # the request is being handled (4 s) when the client leaves
        assert predict(http, name="other")["err_no"] == 0
        requests.post(f"http://127.0.0.1:{http}/other/prediction", json={}, timeout=30)
        assert wait_for(lambda: metric(http, "pd_http_responses_total", status="dropped") == 1, 30)
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
                raw(b"\xff\xff\xff not a Request", timeout=30)
            assert bad.value.code() == grpc.StatusCode.INTERNAL
            slow = Request(key=["sleep"], value=["5"]).SerializeToString()
            with pytest.raises(grpc.RpcError) as late:
                raw(slow, timeout=1.0)  # the client's deadline passes before the 5 s sleep
            assert late.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        assert wait_for(lambda: metric(http, "pd_grpc_responses_total", code="CANCELLED") == 1,
                        30)
        assert metric(http, "pd_grpc_responses_total", code="INTERNAL") == 1
        assert grpc_predict(tmp_path)[0] == 0
    finally:
        stop_service(proc, sig=signal.SIGKILL)


def test_sigterm_exits_even_with_a_request_stuck_in_user_code(tmp_path):
    http = write_service(tmp_path, shutdown_timeout_s=1, dag={"is_thread_op": True})
    proc = start_service(["web_service.py", "config.yml"], tmp_path, http)
    try:
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            stuck = pool.submit(predict, http, 90, sleep="60")
            assert wait_for(lambda: metric(http, "pd_requests_in_flight") == 1, 30)
            started = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(45) == 0, read_log(proc)
            # the drain (shutdown_timeout_s 1) + EXIT_GRACE_S (2): 3.2 s measured, also with
            # two busy loops on the two cores; the request's own sleep would be 60 s
            assert time.monotonic() - started < 20, read_log(proc)
            with pytest.raises(requests.RequestException):
                stuck.result(timeout=30)  # its connection is closed, not left hanging
    finally:
        stop_service(proc, sig=signal.SIGKILL)


#: holds the service's start-up for 3 s right after its ports opened (it answers ready then)
SLOW_READY_LOG = '''
import logging
import time


class _SlowReadyLog(logging.Filter):
    def filter(self, record):
        if "ready: gRPC port" in record.getMessage():
            open("ready_held", "w").close()
            time.sleep(3)
        return True


# the logger of the "service ... ready" line (a filter acts on its own logger only)
logging.getLogger("generator.runtime.server.pipeline_server").addFilter(_SlowReadyLog())
'''


def test_sigterm_as_soon_as_the_service_answers_ready_drains_it(tmp_path):
    """A SIGTERM between the first 200 of /health/ready and the end of start-up drains and
    exits 0 (it used to meet Paddle's fatal handler: no drain, a stack dump that can hang)."""
    http = write_service(tmp_path, dag={"is_thread_op": True})
    script = tmp_path / "web_service.py"
    script.write_text(SLOW_READY_LOG + script.read_text())
    proc = start_service(["web_service.py", "config.yml"], tmp_path, http)
    try:
        proc.send_signal(signal.SIGTERM)  # start-up is still held by the log filter
        assert proc.wait(60) == 0, read_log(proc)
        assert "signal received: draining" in read_log(proc)
        assert (tmp_path / "ready_held").exists()  # the SIGTERM came while start-up was held
    finally:
        stop_service(proc, sig=signal.SIGKILL)
