"""PipelineClient against a real gRPC server, and Paddle Serving's own client against ours."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import grpc
import numpy as np
import pytest

from generator.runtime.client import PipelineClient, PipelinePredictFuture, grpc_target, local_ip
from generator.runtime.proto import Request, Response, inference_callable, pipeline_service_handler
from generator.runtime.proto.tensors import tensor_to_value


def echo_inference(request, context: grpc.ServicerContext):
    """Echo key/value, the request fields and the tensors back."""
    response = Response(err_no=0, err_msg="echo")
    response.key.extend(["@logid", "@clientip", "@name", "@method"])
    response.value.extend([str(request.logid), request.clientip, request.name, request.method])
    response.key.extend(request.key)
    response.value.extend(request.value)
    response.tensors.extend(request.tensors)
    return response


@pytest.fixture(scope="module")
def server_port():
    server = grpc.server(ThreadPoolExecutor(max_workers=4))
    server.add_generic_rpc_handlers((pipeline_service_handler(echo_inference),))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield port
    server.stop(grace=None)


@pytest.fixture
def client(server_port: int):
    with PipelineClient() as pipeline_client:
        pipeline_client.connect([f"127.0.0.1:{server_port}"])
        yield pipeline_client


def as_dict(response) -> dict[str, str]:
    return dict(zip(response.key, response.value, strict=True))


def test_stub_helper_and_service_path(server_port: int) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{server_port}") as channel:
        response = inference_callable(channel)(
            Request(key=["a"], value=["b"], name="n"), timeout=10
        )
    assert response.err_msg == "echo" and as_dict(response)["@name"] == "n"


def test_string_mode(client: PipelineClient, capsys: pytest.CaptureFixture[str]) -> None:
    big = np.arange(2000, dtype=np.float32).reshape(2, 1000)
    threshold = np.get_printoptions()["threshold"]
    feed = {"text": "hello", "arr": big, "lst": [[1, 2], [3, 4]]}
    response = client.predict(feed, fetch=["ignored"], profile=True)
    values = as_dict(response)
    assert values["text"] == "hello"
    assert values["arr"].startswith("array([[0.000e+00, 1.000e+00,") and "..." not in values["arr"]
    assert np.array_equal(eval(values["arr"], {"array": np.array, "float32": np.float32}), big)
    assert values["lst"] == "array([[1, 2],\n       [3, 4]])"
    assert values["pipeline.profile"] == "1"
    assert list(response.key)[4:] == ["text", "arr", "lst", "pipeline.profile"]
    assert np.get_printoptions()["threshold"] == threshold  # print options restored
    assert capsys.readouterr().out == ""


def test_string_mode_rejects_other_types(client: PipelineClient) -> None:
    with pytest.raises(TypeError, match="feed 'n': only str, np.ndarray and list"):
        client.predict({"n": 3})


def test_argument_type_checks(client: PipelineClient) -> None:
    with pytest.raises(TypeError, match="feed must be dict"):
        client.predict([("a", "b")])
    with pytest.raises(TypeError, match="fetch must be list"):
        client.predict({"a": "b"}, fetch="prob")
    with pytest.raises(RuntimeError, match="not connected"):
        PipelineClient().predict({"a": "b"})


def test_logid_and_clientip_handling(client: PipelineClient) -> None:
    feed = {"logid": 77, "clientip": "10.1.2.3", "x": "1"}
    values = as_dict(client.predict(feed, log_id=5))
    assert values["@logid"] == "5"  # the log_id argument overwrites feed_dict["logid"]
    assert values["@clientip"] == "10.1.2.3"
    assert "logid" not in values and "clientip" not in values and values["x"] == "1"
    assert feed == {"logid": 77, "clientip": "10.1.2.3", "x": "1"}  # caller's dict untouched
    defaults = as_dict(client.predict({"x": "1"}))
    assert defaults["@logid"] == "0" and defaults["@clientip"] == local_ip()


def test_tensor_mode(client: PipelineClient, capsys: pytest.CaptureFixture[str]) -> None:
    feed = {
        "image": np.random.default_rng(0).random((1, 3, 4, 4), dtype=np.float32),
        "ids": np.array([[3], [1], [4]], dtype=np.int64),
        "ids.lod": [0, 1, 3, 0, 2, 3],
        "mask": np.array([True, False, True]),
        "half": np.array([0.5, -2.0], dtype=np.float16),
        "bf16": np.array([0x3F80], dtype=np.uint16),
        "u8": np.array([[0, 255]], dtype=np.uint8),
        "i8": np.array([-128, 127], dtype=np.int8),
        "title": "a title",
    }
    response = client.predict(feed, pack_tensor_format=True, profile=True, log_id=3)
    assert list(response.key)[4:] == ["pipeline.profile"] and response.value[0] == "3"
    tensors = {t.name: t for t in response.tensors}
    assert list(tensors) == ["image", "ids", "mask", "half", "bf16", "u8", "i8", "title"]
    for name, tensor in tensors.items():
        value, lod = tensor_to_value(tensor)
        if name == "title":
            assert (value, tensor.elem_type) == ("a title", 12)
            continue
        np.testing.assert_array_equal(value, feed[name])
        assert value.dtype == feed[name].dtype
        if name == "ids":
            assert lod.tolist() == [[0, 1, 3], [0, 2, 3]]
        else:
            assert lod is None
    assert capsys.readouterr().out == ""


def test_tensor_mode_bytes_and_errors(client: PipelineClient) -> None:
    array = np.array([["x", "yz"]])
    response = client.predict({"s": array}, pack_tensor_format=True, use_tensor_bytes=True)
    value, _ = tensor_to_value(response.tensors[0])
    assert response.tensors[0].elem_type == 13 and value.tolist() == [["x", "yz"]]
    with pytest.raises(TypeError, match="use_tensor_bytes=True"):
        client.predict({"c": np.zeros(1, np.complex64)}, pack_tensor_format=True)
    with pytest.raises(TypeError, match="np.asarray"):
        client.predict({"l": [1, 2]}, pack_tensor_format=True)


def test_async_predict(client: PipelineClient) -> None:
    futures = [client.predict({"i": str(i)}, asyn=True, log_id=i) for i in range(3)]
    assert all(isinstance(f, PipelinePredictFuture) for f in futures)
    results = [as_dict(f.result(timeout=10)) for f in futures]
    assert [(r["i"], r["@logid"]) for r in results] == [("0", "0"), ("1", "1"), ("2", "2")]


def test_hostname_endpoints(server_port: int) -> None:
    with PipelineClient() as single:
        single.connect([f"localhost:{server_port}"])
        assert as_dict(single.predict({"a": "b"}, timeout=10))["a"] == "b"
    endpoints = [f"localhost:{server_port}", f"127.0.0.1:{server_port}"]
    assert grpc_target(endpoints).startswith("ipv4:127.0.0.1:")
    with PipelineClient() as balanced:
        balanced.connect(endpoints)
        assert as_dict(balanced.predict({"a": "c"}, timeout=10))["a"] == "c"


def test_grpc_target_rules() -> None:
    assert grpc_target(["10.0.0.1:1", "10.0.0.2:2"]) == "ipv4:10.0.0.1:1,10.0.0.2:2"
    assert grpc_target(["example.invalid:9998"]) == "example.invalid:9998"
    assert grpc_target(["[::1]:9998"]) == "[::1]:9998"
    assert grpc_target(["[::1]:1", "[::2]:2"]) == "ipv6:[::1]:1,[::2]:2"
    for bad, message in [
        ([], "endpoints is empty"),
        (["127.0.0.1"], "expected 'host:port'"),
        (["127.0.0.1:0"], "expected 'host:port'"),
        (["[::1]:1", "127.0.0.1:2"], "mix IPv6"),
    ]:
        with pytest.raises(ValueError, match=message):
            grpc_target(bad)
    with pytest.raises(TypeError, match="not a single string"):
        grpc_target("127.0.0.1:1")


_WHEEL_CLIENT_SCRIPT = """
import json, sys
import numpy as np
port = {port}
client = PipelineClient()
client.connect(["127.0.0.1:%d" % port])
text = client.predict({{"words": "hi", "arr": np.array([1.5, 2.5]), "logid": 9}}, log_id=11)
feed = {{"x": np.arange(6, dtype="float32").reshape(2, 3), "x.lod": [0, 2, 0, 2],
        "u": np.array([1, 2], dtype="uint8"), "s": "str"}}
tensor = client.predict(feed, pack_tensor_format=True)
future = client.predict({{"b": np.ones(2)}}, pack_tensor_format=True, use_tensor_bytes=True,
                        asyn=True)
as_bytes = future.result()
out = []
for resp in (text, tensor, as_bytes):
    out.append({{"err_no": resp.err_no, "key": list(resp.key), "value": list(resp.value),
                "tensors": [t.SerializeToString().hex() for t in resp.tensors]}})
print(json.dumps(out))
"""


def test_paddle_serving_client_talks_to_our_server(run_wheel_script, server_port: int) -> None:
    from generator.runtime.proto import Tensor

    proc = run_wheel_script(_WHEEL_CLIENT_SCRIPT.format(port=server_port))
    assert proc.returncode == 0, proc.stderr[-3000:]
    text, tensor, as_bytes = json.loads(proc.stdout.strip().splitlines()[-1])
    values = dict(zip(text["key"], text["value"], strict=True))
    assert values["@logid"] == "11" and values["@clientip"] == local_ip()
    assert values["words"] == "hi" and values["arr"] == "array([1.5, 2.5])"
    decoded = {}
    for hex_tensor in tensor["tensors"]:
        t = Tensor.FromString(bytes.fromhex(hex_tensor))
        decoded[t.name] = tensor_to_value(t)
    assert sorted(decoded) == ["s", "u", "x"]
    np.testing.assert_array_equal(decoded["x"][0], np.arange(6, dtype=np.float32).reshape(2, 3))
    assert decoded["x"][1].tolist() == [[0, 2], [0, 2]]
    assert decoded["u"][0].dtype == np.uint8 and decoded["s"][0] == "str"
    value, _ = tensor_to_value(Tensor.FromString(bytes.fromhex(as_bytes["tensors"][0])))
    np.testing.assert_array_equal(value, np.ones(2))
