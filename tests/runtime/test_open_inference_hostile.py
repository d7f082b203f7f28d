"""Open Inference Protocol against hostile clients (issue 18): every malformed request gets
400 / INVALID_ARGUMENT (404 / NOT_FOUND for unknown names) with the protocol's error JSON and a
short message, never a 500, UNKNOWN or RESOURCE_EXHAUSTED; the service keeps serving. Real HTTP
and the real `tritonclient` gRPC stubs over loopback against a served classification service."""

from __future__ import annotations

import json

import grpc
import pytest
import requests

from tests.helpers.classifier_service import classifier_service

grpcclient = pytest.importorskip("tritonclient.grpc")
from tritonclient.grpc import service_pb2, service_pb2_grpc  # noqa: E402
from tritonclient.utils import InferenceServerException  # noqa: E402

X = {"name": "x", "datatype": "FP32", "shape": [1, 3, 32, 32], "data": [0.5] * 3072}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with classifier_service(tmp_path_factory.mktemp("oip_hostile")) as served:
        yield served


@pytest.fixture(scope="module")
def stub(server):
    with grpc.insecure_channel(f"127.0.0.1:{server.rpc_port}") as channel:
        yield service_pb2_grpc.GRPCInferenceServiceStub(channel)


def post(server, document, model: str = "cls-model", **kwargs) -> requests.Response:
    body = document if isinstance(document, bytes) else json.dumps(document).encode()
    return requests.post(f"http://127.0.0.1:{server.http_port}/v2/models/{model}/infer",
                         data=body, timeout=30, **kwargs)


def assert_400(reply: requests.Response, needle: str) -> None:
    assert reply.status_code == 400, reply.text
    document = reply.json()
    assert list(document) == ["error"] and needle in document["error"], document


def assert_still_serving(server) -> None:
    reply = post(server, {"inputs": [X]})
    assert reply.status_code == 200 and reply.json()["outputs"][0]["shape"] == [1, 4]


@pytest.mark.parametrize(("shape", "needle"), [
    ([4294967296, 4294967296], "0 values for shape"),     # 2**64 elements: wraps to 0 in int64
    ([18446744073709551616], "0 values for shape"),       # past int64
    ([0, 4611686018427387904], "is too large"),           # 0 elements, no such array
    ([True, 3], "must be a list of integers"),
    ([1, "3"], "must be a list of integers"),
])
def test_overflowing_or_ill_typed_shapes_get_400(server, shape, needle) -> None:
    assert_400(post(server, {"inputs": [{"name": "x", "datatype": "FP32", "shape": shape,
                                         "data": []}]}), needle)
    assert_still_serving(server)


def test_binary_tensor_with_an_overflowing_shape_gets_400(server) -> None:
    head = json.dumps({"inputs": [{"name": "x", "datatype": "FP32",
                                   "shape": [4294967296, 4294967296],
                                   "parameters": {"binary_data_size": 8}}]}).encode()
    reply = post(server, head + bytes(8),
                 headers={"Inference-Header-Content-Length": str(len(head))})
    assert_400(reply, "8 bytes of FP32 data for shape [4294967296, 4294967296]")


@pytest.mark.parametrize("parameters", ["binary", 1, ["binary_data"], None])
def test_output_parameters_that_are_not_an_object_get_400(server, parameters) -> None:
    reply = post(server, {"inputs": [X], "outputs": [{"name": "scores",
                                                      "parameters": parameters}]})
    assert_400(reply, "outputs[0]: 'parameters' must be a JSON object")


@pytest.mark.parametrize("where", ["request", "input"])
def test_request_and_input_parameters_must_be_objects(server, where) -> None:
    document = {"inputs": [{**X, "parameters": "x"} if where == "input" else X]}
    if where == "request":
        document["parameters"] = [1]
    assert_400(post(server, document), "'parameters' must be a JSON object")


@pytest.mark.parametrize("value", ["false", 0, "true", None])
def test_binary_data_output_must_be_a_boolean(server, value) -> None:
    reply = post(server, {"inputs": [X], "parameters": {"binary_data_output": value}})
    assert_400(reply, "'binary_data_output' must be true or false")
    assert reply.headers["content-type"].startswith("application/json")


def test_binary_data_of_one_output_must_be_a_boolean(server) -> None:
    reply = post(server, {"inputs": [X], "outputs": [{"name": "scores",
                                                      "parameters": {"binary_data": "false"}}]})
    assert_400(reply, "outputs[0].parameters: 'binary_data' must be true or false")


def test_binary_data_output_false_answers_json(server) -> None:
    reply = post(server, {"inputs": [X], "parameters": {"binary_data_output": False}})
    assert reply.status_code == 200 and reply.headers["content-type"] == "application/json"
    assert len(reply.json()["outputs"][0]["data"]) == 4


@pytest.mark.parametrize(("datatype", "value", "needle"), [
    ("FP32", "0.5", "FP32 data holds the string '0.5'"),
    ("FP32", None, "FP32 data holds null"),
    ("FP32", True, "FP32 data holds the boolean true"),
    ("FP32", {"a": 1}, "FP32 data holds an object"),
    ("FP32", 1e300, "data is not FP32"),
    ("INT64", 1.5, "INT64 data holds the number 1.5"),
    ("INT8", 300, "data is not INT8"),
    ("BOOL", 1, "BOOL data holds the number 1"),
])
def test_tensor_data_must_be_of_the_declared_datatype(server, datatype, value, needle) -> None:
    data = [value] + [0.5 if datatype.startswith("FP") else 1] * 3071
    if datatype == "BOOL":
        data = [value] + [True] * 3071
    reply = post(server, {"inputs": [{**X, "datatype": datatype, "data": data}]})
    assert_400(reply, needle)


def test_bytes_data_must_be_strings(server) -> None:
    reply = post(server, {"inputs": [{"name": "image", "datatype": "BYTES", "shape": [1],
                                      "data": [12]}]}, model="cls")
    assert_400(reply, "BYTES data holds the number 12")


def test_duplicate_input_names_get_400(server) -> None:
    assert_400(post(server, {"inputs": [X, X]}), "input 'x' is given twice")


def test_duplicate_output_names_get_400(server) -> None:
    reply = post(server, {"inputs": [X], "outputs": [{"name": "scores"}, {"name": "scores"}]})
    assert_400(reply, "output 'scores' is asked for twice")


def test_error_messages_quoting_input_are_short_over_rest(server) -> None:
    base = f"http://127.0.0.1:{server.http_port}/v2/models"
    reply = requests.get(f"{base}/{'a' * 6000}", timeout=30)
    assert reply.status_code == 404 and len(reply.json()["error"]) < 400, reply.text[:300]
    assert "(6,000 characters, cut)" in reply.json()["error"]
    long_name = {**X, "name": "n" * 20000}
    reply = post(server, {"inputs": [long_name]})
    assert reply.status_code == 400 and len(reply.json()["error"]) < 1100


# -- gRPC ------------------------------------------------------------------------------------
def grpc_infer(stub, shape, raw: bytes | None = None, contents=None, inputs=None):
    request = service_pb2.ModelInferRequest(model_name="cls-model")
    for name in inputs or ["x"]:
        tensor = request.inputs.add(name=name, datatype="FP32", shape=shape)
        if contents is not None:
            tensor.contents.fp32_contents.extend(contents)
        if raw is not None:
            request.raw_input_contents.append(raw)
    return stub.ModelInfer(request, timeout=30)


@pytest.mark.parametrize(("shape", "raw", "contents", "needle"), [
    ([4294967296, 4294967296], b"", None, "0 bytes of FP32 data"),
    ([0, 4611686018427387904], b"", None, "is too large"),
    ([9223372036854775807, 4], None, [], "0 values for shape"),
])
def test_grpc_overflowing_shapes_get_invalid_argument(server, stub, shape, raw, contents,
                                                      needle) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        grpc_infer(stub, shape, raw, contents)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, caught.value
    assert needle in caught.value.details()
    assert_still_serving(server)


def test_grpc_duplicate_input_names_get_invalid_argument(stub) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        grpc_infer(stub, [1, 3, 32, 32], contents=[0.5] * 3072, inputs=["x", "x"])
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "input 'x' is given twice" in caught.value.details()


def test_grpc_error_quoting_a_long_name_is_short_and_not_found(server) -> None:
    client = grpcclient.InferenceServerClient(f"127.0.0.1:{server.rpc_port}")
    try:
        with pytest.raises(InferenceServerException) as caught:
            client.get_model_metadata("a" * 17000)
        assert caught.value.status() == "StatusCode.NOT_FOUND", caught.value
        assert len(caught.value.message()) < 400 and "(17,000 characters, cut)" in caught.value.message()
        with pytest.raises(InferenceServerException) as caught:
            client.is_model_ready("é" * 17000)
        assert caught.value.status() == "StatusCode.NOT_FOUND", caught.value
    finally:
        client.close()


def test_paddle_serving_protocol_errors_quoting_input_are_short(server) -> None:
    base = f"http://127.0.0.1:{server.http_port}"
    reply = requests.post(f"{base}/cls/prediction", data=json.dumps({"logid": "x" * 20000}),
                          timeout=30)
    assert reply.status_code == 400 and len(reply.json()["message"]) <= 1100, reply.text[:200]
    other = "n" * 20000
    reply = requests.post(f"{base}/{other}/prediction", json={"key": [], "value": []},
                          timeout=30)
    assert reply.json()["err_no"] == 3002 and len(reply.json()["err_msg"]) < 500
