"""The HTTP port under malformed, slow and numerous clients: every bad request gets a 4xx JSON
answer, deadlines and the connection cap hold, idle connections cost no thread, and the server
keeps serving. Raw sockets over loopback, against a real `HttpGateway`."""

from __future__ import annotations

import json
import socket
import threading
import time

import pytest
import requests

from generator.runtime.proto import Response
from generator.runtime.protocols.http.gateway import HttpGateway, Limits


def echo(request):
    return Response(err_no=0, key=list(request.key), value=list(request.value))


@pytest.fixture
def gateway():
    limits = Limits(max_connections=300, header_timeout_s=0.6, body_timeout_s=0.6,
                    max_header_bytes=8192)
    gw = HttpGateway(echo, host="127.0.0.1", port=0, max_body_bytes=1 << 20, limits=limits,
                     get_routes={"/health/live": lambda: (200, "application/json", b"{}")})
    gw.start()
    yield gw
    gw.stop(timeout=2)


def exchange(port: int, data: bytes, wait: float = 5.0) -> tuple[int, dict, bytes]:
    """Send raw bytes, read until the server closes or the response is complete."""
    with socket.create_connection(("127.0.0.1", port), timeout=wait) as sock:
        sock.sendall(data)
        received = b""
        while True:
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                break
            if not chunk:
                break
            received += chunk
            head, sep, body = received.partition(b"\r\n\r\n")
            if sep:
                length = [int(line.split(b":")[1]) for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length:")]
                if length and len(body) >= length[0]:
                    break
    head, _, body = received.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower().decode(): v.strip().decode()
               for k, _, v in (line.partition(b":") for line in lines[1:])}
    return status, headers, body


def post(body: bytes, extra: bytes = b"") -> bytes:
    return (b"POST /svc/prediction HTTP/1.1\r\nHost: 127.0.0.1\r\n" + extra
            + b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)


def assert_json_error(status: int, headers: dict, body: bytes, expected: int) -> dict:
    assert status == expected, body
    assert headers["content-type"] == "application/json"
    document = json.loads(body)
    assert set(document) == {"error", "code", "message", "details"}
    return document


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        (b"[" * 1000 + b"]" * 1000, "nested too deeply"),
        (b'{"logid": ' + b"9" * 5000 + b"}", "digits"),
        (b'{"key": ["\\ud800"], "value": ["x"]}', "invalid value"),
        (b'{"key": ["a"], "value": ["\\udfff"]}', "invalid value"),
    ],
)
def test_malformed_json_gets_400_json(gateway: HttpGateway, body: bytes, needle: str) -> None:
    status, headers, reply = exchange(gateway.port, post(body))
    document = assert_json_error(status, headers, reply, 400)
    assert document["code"] == 3 and needle in document["message"]


@pytest.mark.parametrize(
    "raw",
    [
        # chunk size -5
        b"POST /svc/prediction HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\nabc\r\n",
        # two different Content-Length headers
        b"POST /svc/prediction HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\nContent-Length: 3\r\n"
        b"\r\n{}x",
        # a Transfer-Encoding that is not chunked
        b"POST /svc/prediction HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: xchunked\r\n\r\n2\r\n{}\r\n"
        b"0\r\n\r\n",
        b"POST /svc/prediction HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: -5\r\n\r\n",
        b"POST /svc/prediction HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
        b"GARBAGE\r\n\r\n",
        b"GET / HTTP/1.1\r\nBad Header\r\n\r\n",
    ],
)
def test_malformed_framing_gets_400_json(gateway: HttpGateway, raw: bytes) -> None:
    status, headers, body = exchange(gateway.port, raw)
    assert_json_error(status, headers, body, 400)
    assert headers["connection"] == "close"
    assert requests.post(f"http://127.0.0.1:{gateway.port}/svc/prediction", data="{}",
                         timeout=5).status_code == 200


def test_oversized_headers_get_431(gateway: HttpGateway) -> None:
    raw = b"GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * 10000 + b"\r\n\r\n"
    status, headers, body = exchange(gateway.port, raw)
    assert_json_error(status, headers, body, 431)


def test_head_on_health_is_200_without_body(gateway: HttpGateway) -> None:
    reply = requests.head(f"http://127.0.0.1:{gateway.port}/health/live", timeout=5)
    assert reply.status_code == 200 and reply.content == b""


@pytest.mark.parametrize(
    ("partial", "what"),
    [
        (b"", "headers"),
        (b"POST /svc/prediction HTTP/1.1\r\nHost: 127.0.0.1\r\n", "headers"),
        (b"POST /svc/prediction HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n{", "body"),
    ],
)
def test_slow_requests_get_408(gateway: HttpGateway, partial: bytes, what: str) -> None:
    start = time.monotonic()
    status, headers, body = exchange(gateway.port, partial)
    document = assert_json_error(status, headers, body, 408)
    assert what in document["message"] and time.monotonic() - start < 3


def test_idle_connections_cost_no_thread_and_the_cap_holds() -> None:
    limits = Limits(max_connections=50, header_timeout_s=30, body_timeout_s=30)
    with HttpGateway(echo, host="127.0.0.1", port=0, limits=limits) as gw:
        before = threading.active_count()
        idle = [socket.create_connection(("127.0.0.1", gw.port)) for _ in range(50)]
        try:
            time.sleep(0.3)
            assert threading.active_count() - before <= 2
            status, headers, body = exchange(gw.port, post(b"{}"))
            document = assert_json_error(status, headers, body, 503)
            assert "too many open connections" in document["message"]
        finally:
            for sock in idle:
                sock.close()
        time.sleep(0.3)
        assert requests.post(f"http://127.0.0.1:{gw.port}/svc/prediction", data="{}",
                             timeout=5).status_code == 200


def test_stop_does_not_wait_for_idle_or_half_sent_requests() -> None:
    limits = Limits(header_timeout_s=60, body_timeout_s=60)
    gw = HttpGateway(echo, host="127.0.0.1", port=0, limits=limits)
    gw.start()
    slow_head = socket.create_connection(("127.0.0.1", gw.port))
    slow_head.sendall(b"POST /svc/prediction HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    slow_body = socket.create_connection(("127.0.0.1", gw.port))
    slow_body.sendall(b"POST /svc/prediction HTTP/1.1\r\nContent-Length: 50\r\n\r\n{")
    idle = socket.create_connection(("127.0.0.1", gw.port))
    time.sleep(0.2)
    start = time.monotonic()
    gw.stop(timeout=30)
    assert time.monotonic() - start < 3
    for sock in (slow_head, slow_body, idle):
        sock.settimeout(5)
        assert sock.recv(100) == b""  # closed
        sock.close()


def test_keep_alive_round_trips_are_not_delayed(gateway: HttpGateway) -> None:
    """A response's head and body leave at once (TCP_NODELAY): no 40 ms delayed-ACK stall."""
    import http.client

    connection = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=10)
    times = []
    for _ in range(15):
        start = time.perf_counter()
        connection.request("POST", "/svc/prediction", body=b'{"key":["k"],"value":["v"]}')
        assert connection.getresponse().read()
        times.append(time.perf_counter() - start)
    connection.close()
    assert sorted(times)[len(times) // 2] < 0.02, times


def test_config_limits_reach_the_http_port() -> None:
    from generator.runtime import Op, WebService
    from tests.helpers.services import free_port

    class Echo(Op):
        def preprocess(self, input_dicts, data_id, log_id):
            return {"ok": "1"}, True, None, ""

    class Svc(WebService):
        def get_pipeline_response(self, read_op):
            return Echo(name="echo", input_ops=[read_op])

    svc = Svc(name="echo")
    svc.prepare_pipeline_config(yml_dict={"rpc_port": free_port(), "http_port": free_port(),
                                          "http_header_timeout_s": 0.5,
                                          "http_max_connections": 2})
    server = svc.start()
    try:
        status, headers, body = exchange(server.http_port, b"POST /echo/prediction HTTP/1.1\r\n")
        assert_json_error(status, headers, body, 408)
        held = [socket.create_connection(("127.0.0.1", server.http_port)) for _ in range(2)]
        status, headers, body = exchange(server.http_port, post(b"{}"))
        assert_json_error(status, headers, body, 503)
        for sock in held:
            sock.close()
    finally:
        server.stop(2)


ECHO_SERVICE = '''
import sys
from generator.runtime import Op, WebService


class Echo(Op):
    def preprocess(self, input_dicts, data_id, log_id):
        return {"ok": "1"}, True, None, ""


class Svc(WebService):
    def get_pipeline_response(self, read_op):
        return Echo(name="echo", input_ops=[read_op])


svc = Svc(name="echo")
svc.prepare_pipeline_config(sys.argv[1])
svc.run_service()
'''


def test_sigterm_drains_without_waiting_for_idle_or_slow_clients(tmp_path) -> None:
    import yaml

    from tests.helpers.services import free_port, start_service, stop_service

    http = free_port()
    (tmp_path / "svc.py").write_text(ECHO_SERVICE)
    (tmp_path / "config.yml").write_text(yaml.safe_dump(
        {"rpc_port": free_port(), "http_port": http, "shutdown_timeout_s": 30,
         "http_header_timeout_s": 60, "http_body_timeout_s": 60}))
    proc = start_service(["svc.py", "config.yml"], tmp_path, http)
    clients = [socket.create_connection(("127.0.0.1", http)) for _ in range(3)]
    clients[1].sendall(b"POST /echo/prediction HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # headers drip
    clients[2].sendall(b"POST /echo/prediction HTTP/1.1\r\nContent-Length: 9\r\n\r\n{")  # body
    time.sleep(0.3)
    start = time.monotonic()
    assert stop_service(proc) == 0
    assert time.monotonic() - start < 10, "SIGTERM waited for idle or slow connections"
    for sock in clients:
        sock.close()
