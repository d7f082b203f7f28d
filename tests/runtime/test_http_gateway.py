"""JSON mapping (grpc-gateway v1 rules) and the HTTP gateway over real loopback sockets."""

from __future__ import annotations

import base64
import http.client
import json
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import requests

from generator.runtime.proto import Request, Response, Tensor
from generator.runtime.proto.tensors import ndarray_to_tensor, tensor_to_value
from generator.runtime.protocols.http.gateway import (
    HttpGateway,
    JsonMappingError,
    request_from_json,
    response_to_json,
)

# ---------------------------------------------------------------------------------------------
# JSON -> Request
# ---------------------------------------------------------------------------------------------


def test_request_from_json_full_body() -> None:
    payload = np.arange(4, dtype=np.int16)
    body = {
        "key": ["image", "k"],
        "value": ["aGk=", "v"],
        "logid": "9007199254740993",
        "clientip": "1.2.3.4",
        "name": "ignored-by-gateway-later",
        "unknown_top": {"nested": [1, 2]},
        "tensors": [
            {"name": "x", "elem_type": 1, "shape": [1, 2], "float_data": [0.5, 1]},
            {"name": "ids", "elemType": 0, "shape": ["2"], "int64_data": ["-5", 7]},
            {"name": "m", "elem_type": 9, "shape": [2], "bool_data": [True, False], "junk": 1},
            {
                "name": "b",
                "elem_type": 13,
                "byteData": base64.b64encode(ndarray_to_tensor("b", payload, True).byte_data)
                .decode()
                .rstrip("="),
            },
            {"name": "f", "elem_type": 1, "shape": [3], "float_data": ["NaN", "Infinity", "2"]},
            {"name": "s", "elem_type": 12, "str_data": ["ab", "c"], "lod": None},
        ],
    }
    request = request_from_json(json.dumps(body).encode())
    assert list(request.key) == ["image", "k"] and list(request.value) == ["aGk=", "v"]
    assert request.logid == 9007199254740993 and request.clientip == "1.2.3.4"
    x, ids, m, b, f, s = (tensor_to_value(t)[0] for t in request.tensors)
    assert x.tolist() == [[0.5, 1.0]] and x.dtype == np.float32
    assert ids.tolist() == [-5, 7] and ids.dtype == np.int64
    assert m.tolist() == [True, False]
    np.testing.assert_array_equal(b, payload)
    assert np.isnan(f[0]) and f[1] == np.inf and f[2] == 2.0
    assert s == "abc"


@pytest.mark.parametrize("body", [b"", b"  \n", b"null", b"{}"])
def test_empty_bodies_give_empty_request(body: bytes) -> None:
    assert request_from_json(body) == Request()


def test_logid_as_number() -> None:
    assert request_from_json(b'{"logid": 123}').logid == 123


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{bad", "invalid JSON at line 1 column 2"),
        (b'{"key": "image"}', "key: expected a JSON array"),
        (b'{"key": [1]}', "key[0]: expected a string"),
        (b'{"logid": "abc"}', 'logid: expected an integer, got "abc"'),
        (b'{"logid": 1.5}', "logid: expected an integer"),
        (b"[1]", "expected a JSON object"),
        (b'{"tensors": [{"elem_type": 99999999999}]}', "tensors[0].elem_type: 99999999999 is out"),
        (b'{"tensors": [{"int_data": [1, "x"]}]}', "tensors[0].int_data[1]: expected an integer"),
        (b'{"tensors": [{"byte_data": "!!"}]}', "tensors[0].byte_data: byte_data is not valid"),
    ],
)
def test_bad_json_is_rejected_with_location(body: bytes, message: str) -> None:
    with pytest.raises(JsonMappingError) as info:
        request_from_json(body)
    assert message in str(info.value)


# ---------------------------------------------------------------------------------------------
# Response -> JSON
# ---------------------------------------------------------------------------------------------


def test_empty_response_has_all_five_fields() -> None:
    text = response_to_json(Response()).decode()
    assert text == '{"err_no":0,"err_msg":"","key":[],"value":[],"tensors":[]}'


def test_response_tensors_render_every_field() -> None:
    response = Response(err_no=5000, err_msg="é", key=["k"], value=["v"])
    response.tensors.append(ndarray_to_tensor("ids", np.array([1, -(2**62)], np.int64)))
    response.tensors.append(ndarray_to_tensor("f", np.array([0.1, np.nan, -np.inf], np.float32)))
    response.tensors.append(Tensor(name="b", elem_type=13, byte_data=b"\x00\xff"))
    document = json.loads(response_to_json(response))
    assert list(document) == ["err_no", "err_msg", "key", "value", "tensors"]
    assert (document["err_no"], document["err_msg"]) == (5000, "é")
    ids, floats, raw = document["tensors"]
    assert list(ids) == [
        "int64_data", "float_data", "int_data", "float64_data", "uint32_data", "bool_data",
        "complex64_data", "complex128_data", "str_data", "byte_data", "elem_type", "shape",
        "lod", "name",
    ]  # fmt: skip
    assert ids["int64_data"] == ["1", str(-(2**62))]
    assert ids["byte_data"] is None and ids["float_data"] == [] and ids["lod"] == []
    assert ids["shape"] == [2] and ids["elem_type"] == 0 and ids["name"] == "ids"
    assert floats["float_data"] == [0.1, "NaN", "-Infinity"]  # float32 printed shortest
    assert raw["byte_data"] == "AP8="
    # the rendered JSON is accepted back by the request mapper
    again = request_from_json(json.dumps({"tensors": document["tensors"]}).encode())
    assert again.tensors[0] == response.tensors[0]
    assert again.tensors[2] == response.tensors[2]
    assert str(tensor_to_value(again.tensors[1])[0]) == "[ 0.1  nan -inf]"


# ---------------------------------------------------------------------------------------------
# Gateway over loopback
# ---------------------------------------------------------------------------------------------


def echo_handler(request):
    if "boom" in request.key:
        raise RuntimeError("boom requested")
    response = Response(err_no=0, key=["name", "method", "logid", "clientip"])
    response.value.extend([request.name, request.method, str(request.logid), request.clientip])
    response.key.extend(request.key)
    response.value.extend(request.value)
    return response


@pytest.fixture
def gateway():
    routes = {
        "/health/live": lambda: (200, "text/plain", b"live"),
        "/metrics": lambda: (200, "text/plain; version=0.0.4", b"pd_x 1\n"),
        "/broken": lambda: 1 / 0,
    }
    gw = HttpGateway(echo_handler, host="127.0.0.1", port=0, max_body_bytes=1024, get_routes=routes)
    gw.start()
    yield gw
    gw.stop(timeout=5)


def _url(gw: HttpGateway, path: str) -> str:
    return f"http://127.0.0.1:{gw.port}{path}"


def test_prediction_round_trip(gateway: HttpGateway) -> None:
    body = {"key": ["a"], "value": ["1"], "logid": 42, "name": "other", "method": "x", "y": 1}
    reply = requests.post(_url(gateway, "/uci/prediction"), data=json.dumps(body), timeout=10)
    assert reply.status_code == 200
    assert reply.headers["Content-Type"] == "application/json"
    assert reply.headers["Grpc-Metadata-Content-Type"] == "application/grpc"
    document = reply.json()
    assert document["err_no"] == 0 and document["tensors"] == []
    assert dict(zip(document["key"], document["value"], strict=True)) == {
        "name": "uci", "method": "prediction", "logid": "42", "clientip": "", "a": "1",
    }  # fmt: skip


def test_keep_alive_reuses_the_connection(gateway: HttpGateway) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=10)
    connection.request("POST", "/svc/prediction", body=b'{"key":["k"],"value":["v"]}')
    assert connection.getresponse().read()
    first_socket = connection.sock
    for _ in range(3):
        connection.request("POST", "/svc/prediction", body=b"")
        reply = connection.getresponse()
        assert reply.status == 200 and json.loads(reply.read())["value"][0] == "svc"
    assert connection.sock is first_socket
    connection.close()


@pytest.mark.parametrize("path", ["/uci", "/a/b/c", "/", "//prediction", "/uci/prediction/"])
def test_wrong_path_is_404(gateway: HttpGateway, path: str) -> None:
    reply = requests.post(_url(gateway, path), data="{}", timeout=10)
    assert reply.status_code == 404
    assert reply.headers["Content-Type"].startswith("text/plain")
    assert reply.text.strip() == "Not Found"


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_other_methods_on_prediction_path_are_405(gateway: HttpGateway, method: str) -> None:
    reply = requests.request(method, _url(gateway, "/uci/prediction"), timeout=10)
    assert reply.status_code == 405 and reply.text.strip() == "Method Not Allowed"


def test_invalid_json_is_400(gateway: HttpGateway) -> None:
    reply = requests.post(_url(gateway, "/uci/prediction"), data="{oops", timeout=10)
    assert reply.status_code == 400
    document = reply.json()
    assert document["code"] == 3 and document["details"] == []
    assert document["error"] == document["message"] and "invalid JSON" in document["error"]


def test_body_over_limit_is_413_and_connection_survives(gateway: HttpGateway) -> None:
    with requests.Session() as session:
        big = json.dumps({"key": ["k"], "value": ["x" * 2000]})
        reply = session.post(_url(gateway, "/uci/prediction"), data=big, timeout=10)
        assert reply.status_code == 413
        document = reply.json()
        assert document["code"] == 8
        assert "exceeds the limit of 1024 bytes" in document["message"]
        assert "max_message_size_mb" in document["message"]
        ok = session.post(_url(gateway, "/uci/prediction"), data="{}", timeout=10)
        assert ok.status_code == 200


def test_chunked_body_over_limit_is_413(gateway: HttpGateway) -> None:
    def chunks():
        for _ in range(4):
            yield b" " * 400

    reply = requests.post(_url(gateway, "/uci/prediction"), data=chunks(), timeout=10)
    assert reply.status_code == 413


def test_chunked_body_is_accepted(gateway: HttpGateway) -> None:
    def chunks():
        yield b'{"key": ["k"],'
        yield b' "value": ["chunked"]}'

    reply = requests.post(_url(gateway, "/uci/prediction"), data=chunks(), timeout=10)
    assert reply.status_code == 200 and reply.json()["value"][-1] == "chunked"


def test_handler_error_is_500_and_server_keeps_serving(gateway: HttpGateway) -> None:
    with requests.Session() as session:
        reply = session.post(_url(gateway, "/uci/prediction"), json={"key": ["boom"]}, timeout=10)
        assert reply.status_code == 500
        document = reply.json()
        assert document["code"] == 13 and "RuntimeError: boom requested" in document["error"]
        assert document["details"] == []
        again = session.post(_url(gateway, "/uci/prediction"), json={"key": ["a"]}, timeout=10)
        assert again.status_code == 200


def test_get_routes(gateway: HttpGateway) -> None:
    live = requests.get(_url(gateway, "/health/live"), timeout=10)
    assert (live.status_code, live.text) == (200, "live")
    metrics = requests.get(_url(gateway, "/metrics?x=1"), timeout=10)
    assert metrics.headers["Content-Type"] == "text/plain; version=0.0.4"
    assert metrics.text == "pd_x 1\n"
    broken = requests.get(_url(gateway, "/broken"), timeout=10)
    assert broken.status_code == 500 and "ZeroDivisionError" in broken.text
    assert requests.get(_url(gateway, "/nope"), timeout=10).status_code == 404


def test_requests_are_served_concurrently() -> None:
    barrier = threading.Barrier(4, timeout=10)  # breaks (500s) unless 4 handlers overlap

    def handler(request):
        barrier.wait()
        return Response(value=[request.value[0]])

    with HttpGateway(handler, host="127.0.0.1", port=0) as gw:
        with ThreadPoolExecutor(4) as pool:
            replies = list(
                pool.map(
                    lambda i: requests.post(
                        _url(gw, "/svc/prediction"),
                        json={"key": ["i"], "value": [str(i)]},
                        timeout=20,
                    ),
                    range(4),
                )
            )
    assert [r.status_code for r in replies] == [200] * 4
    assert sorted(r.json()["value"][0] for r in replies) == ["0", "1", "2", "3"]


def _connect_refused(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as probe:
            probe.sendall(b"POST /a/b HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}")
            return probe.recv(100) == b""  # accepted by a dying listener, then closed unanswered
    except OSError:
        return True


def test_graceful_stop_finishes_in_flight_request() -> None:
    entered = threading.Event()
    release = threading.Event()

    def handler(request):
        if request.method == "slow":
            entered.set()
            assert release.wait(20)
        return Response(value=["done"])

    gw = HttpGateway(handler, host="127.0.0.1", port=0)
    gw.start()
    port = gw.port
    idle = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    idle.request("POST", "/svc/fast", body=b"{}")
    assert idle.getresponse().read()  # an idle keep-alive connection during stop
    with ThreadPoolExecutor(2) as pool:
        in_flight = pool.submit(
            requests.post, f"http://127.0.0.1:{port}/svc/slow", data="{}", timeout=20
        )
        assert entered.wait(10)
        stopper = pool.submit(gw.stop, 20)
        deadline = time.monotonic() + 10
        while not _connect_refused(port):  # the listener closes shortly after stop() begins
            assert time.monotonic() < deadline, "gateway still accepts connections after stop()"
            time.sleep(0.05)
        assert not stopper.done()  # still waiting for the in-flight request
        release.set()
        reply = in_flight.result(timeout=20)
        stopper.result(timeout=20)
    assert reply.status_code == 200 and reply.json()["value"] == ["done"]
    assert reply.headers.get("Connection") == "close"
    with pytest.raises((OSError, http.client.HTTPException)):
        idle.request("POST", "/svc/fast", body=b"{}")
        idle.getresponse()
    with pytest.raises(requests.ConnectionError):
        requests.post(f"http://127.0.0.1:{port}/svc/fast", data="{}", timeout=5)


def test_port_in_use_gives_clear_error(gateway: HttpGateway) -> None:
    clash = HttpGateway(echo_handler, host="127.0.0.1", port=gateway.port)
    with pytest.raises(OSError, match=f"cannot listen on 127.0.0.1:{gateway.port}"):
        clash.start()


def test_reuse_port_lets_two_gateways_share_a_port() -> None:
    first = HttpGateway(echo_handler, host="127.0.0.1", port=0, reuse_port=True)
    first.start()
    second = HttpGateway(echo_handler, host="127.0.0.1", port=first.port, reuse_port=True)
    try:
        second.start()
        assert second.port == first.port
        reply = requests.post(_url(first, "/svc/prediction"), data="{}", timeout=10)
        assert reply.status_code == 200
    finally:
        second.stop(timeout=5)
        first.stop(timeout=5)
