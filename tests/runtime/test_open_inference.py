"""Open Inference Protocol (KServe v2) on a served classification service, spoken by the real
`tritonclient` over HTTP and gRPC: metadata, readiness, inference with binary and JSON tensors,
results equal to the Paddle Serving protocol's for the same image, and protocol errors."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
import pytest
import requests

from generator.runtime.inference.predictor import LocalPredictor
from tests.helpers.classifier_service import classifier_service

httpclient = pytest.importorskip("tritonclient.http")
grpcclient = pytest.importorskip("tritonclient.grpc")
from tritonclient.utils import InferenceServerException  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
JPG = (REPO / "tests" / "data" / "shapes_320x240.jpg").read_bytes()
PNG = (REPO / "tests" / "data" / "shapes_320x240.png").read_bytes()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with classifier_service(tmp_path_factory.mktemp("oip")) as served:
        yield served


@pytest.fixture(scope="module")
def clients(server):
    http = httpclient.InferenceServerClient(f"127.0.0.1:{server.http_port}")
    grpc = grpcclient.InferenceServerClient(f"127.0.0.1:{server.rpc_port}")
    yield http, grpc
    http.close()
    grpc.close()


def paddle_serving_result(server, image: bytes) -> list:
    reply = requests.post(f"http://127.0.0.1:{server.http_port}/cls/prediction", timeout=30,
                          json={"key": ["image"], "value": [base64.b64encode(image).decode()]})
    document = reply.json()
    assert document["err_no"] == 0, document
    return json.loads(document["value"][0])


def test_health_and_metadata_over_both_protocols(clients) -> None:
    http, grpc = clients
    for client in clients:
        assert client.is_server_live() and client.is_server_ready()
        assert client.is_model_ready("cls") and client.is_model_ready("cls-model")
        assert not client.is_model_ready("cls", "7") if client is http else True
    assert http.get_server_metadata()["extensions"] == ["binary_tensor_data"]
    assert grpc.get_server_metadata().name == "paddle-serving-scaffold"
    meta = http.get_model_metadata("cls")
    assert meta["inputs"] == [{"name": "image", "datatype": "BYTES", "shape": [-1]}]
    assert meta["outputs"] == [{"name": "image", "datatype": "BYTES", "shape": [-1]}]
    bare = grpc.get_model_metadata("cls-model", as_json=True)
    assert bare["inputs"] == [{"name": "x", "datatype": "FP32", "shape": ["-1", "3", "32", "32"]}]
    assert bare["outputs"][0]["name"] == "scores" and bare["outputs"][0]["datatype"] == "FP32"


def test_grpc_health_covers_the_inference_service(server) -> None:
    import grpc as grpclib
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    with grpclib.insecure_channel(f"127.0.0.1:{server.rpc_port}") as channel:
        check = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service="inference.GRPCInferenceService"), timeout=5)
    assert check.status == health_pb2.HealthCheckResponse.SERVING


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_service_model_infers_like_the_paddle_serving_protocol(server, clients, protocol):
    client, module = (clients[0], httpclient) if protocol == "http" else (clients[1], grpcclient)
    images = np.array([JPG, PNG], dtype=np.object_)
    inp = module.InferInput("image", [2], "BYTES")
    inp.set_data_from_numpy(images, **({"binary_data": True} if protocol == "http" else {}))
    result = client.infer("cls", [inp], outputs=[module.InferRequestedOutput("image")])
    got = [json.loads(x) for x in result.as_numpy("image")]
    assert got == [paddle_serving_result(server, JPG), paddle_serving_result(server, PNG)]
    assert [t["label"] for t in got[0]] and len(got[0]) == 3


@pytest.mark.parametrize(("protocol", "binary"), [("http", False), ("http", True), ("grpc", None)])
def test_bare_model_with_json_and_binary_tensors(server, clients, protocol, binary):
    client, module = (clients[0], httpclient) if protocol == "http" else (clients[1], grpcclient)
    x = np.random.default_rng(0).standard_normal((2, 3, 32, 32)).astype(np.float32)
    inp = module.InferInput("x", list(x.shape), "FP32")
    kwargs = {} if binary is None else {"binary_data": binary}
    inp.set_data_from_numpy(x, **kwargs)
    outputs = [module.InferRequestedOutput("scores", **kwargs)]
    scores = client.infer("cls-model", [inp], outputs=outputs).as_numpy("scores")
    want = LocalPredictor(str(server.model_dir)).predict({"x": x})["scores"]
    np.testing.assert_allclose(scores, want, rtol=1e-5, atol=1e-6)
    assert scores.shape == (2, 4) and scores.dtype == np.float32


def test_errors_follow_the_protocol(server, clients) -> None:
    http, grpc = clients
    base = f"http://127.0.0.1:{server.http_port}"
    missing = requests.get(f"{base}/v2/models/nope", timeout=5)
    assert missing.status_code == 404 and "unknown model 'nope'" in missing.json()["error"]
    bad = requests.post(f"{base}/v2/models/cls-model/infer", timeout=5, json={
        "inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 3], "data": [1, 2]}]})
    assert bad.status_code == 400 and "2 values for shape [1, 3]" in bad.json()["error"]
    assert requests.get(f"{base}/v2/models/cls/infer", timeout=5).status_code == 405
    assert requests.post(f"{base}/v2/models/cls/infer", data="{", timeout=5).status_code == 400
    with pytest.raises(InferenceServerException) as over_grpc:
        grpc.get_model_metadata("nope")
    assert over_grpc.value.status() == "StatusCode.NOT_FOUND"
    wrong = grpcclient.InferInput("x", [1, 5], "FP32")
    wrong.set_data_from_numpy(np.zeros((1, 5), np.float32))
    with pytest.raises(InferenceServerException) as infer_error:
        grpc.infer("cls-model", [wrong])
    assert infer_error.value.status() == "StatusCode.INVALID_ARGUMENT"
    not_image = httpclient.InferInput("image", [1], "BYTES")
    not_image.set_data_from_numpy(np.array([b"not an image"], dtype=np.object_))
    with pytest.raises(InferenceServerException, match="err_no 5000"):
        http.infer("cls", [not_image])
    assert http.is_server_live()  # still serving


def test_grpc_schema_matches_tritonclients() -> None:
    from tritonclient.grpc import service_pb2

    from generator.runtime.protocols.oip.messages import MESSAGES

    for name, cls in MESSAGES.items():
        theirs = service_pb2.DESCRIPTOR.message_types_by_name[name]
        for field in cls.DESCRIPTOR.fields:
            other = theirs.fields_by_name[field.name]
            assert (other.number, other.type) == (field.number, field.type), (name, field.name)


@pytest.mark.parametrize(
    ("body", "headers", "needle"),
    [
        (b'{"inputs": [{"name": "x", "datatype": "FP32", "shape": [1], '
         b'"parameters": {"binary_data_size": 8}}]}abcd', {"Inference-Header-Content-Length": "100"},
         "binary_data_size"),
        (b"{}", {"Inference-Header-Content-Length": "-1"}, "outside the body"),
        (b"{}", {"Inference-Header-Content-Length": "x"}, "invalid Inference-Header"),
        (b'{"inputs": [{"name": "x", "datatype": "FP99", "shape": [1], "data": [1]}]}', {},
         "unsupported datatype"),
        (b'{"inputs": [{"name": "x", "datatype": "FP32", "shape": [-1], "data": [1]}]}', {},
         "negative dimension"),
        (b"[" * 5000 + b"]" * 5000, {}, "not valid JSON"),
        (b'{"inputs": []}', {}, "no 'inputs'"),
    ],
)
def test_malformed_infer_requests_get_400(server, body, headers, needle) -> None:
    reply = requests.post(f"http://127.0.0.1:{server.http_port}/v2/models/cls-model/infer",
                          data=body, headers=headers, timeout=10)
    assert reply.status_code == 400 and needle in reply.json()["error"], reply.text
