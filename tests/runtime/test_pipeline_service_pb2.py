"""`generator.runtime.proto.pipeline_service_pb2` / `_pb2_grpc` used as Paddle Serving's custom
code uses the generated modules: messages built field by field, a servicer registered with
`add_PipelineServiceServicer_to_server` answering the 0.9.0 wheel's own PipelineClient, and
the bytes parsed by the wheel's `pipeline_service_pb2`."""

from __future__ import annotations

import base64
import concurrent.futures
import json

import grpc
import pytest

from generator.runtime.proto import pipeline_service_pb2, pipeline_service_pb2_grpc
from tests.helpers.services import free_port


def _response() -> object:
    resp = pipeline_service_pb2.Response()
    resp.err_no = 0
    resp.key.append("result")
    resp.value.append("[1, 2]")
    tensor = resp.tensors.add()
    tensor.name = "t"
    tensor.elem_type = 1
    tensor.shape.extend([2])
    tensor.float_data.extend([0.5, 1.5])
    return resp


def test_messages_are_built_as_with_the_generated_module():
    resp = _response()
    assert isinstance(resp, pipeline_service_pb2.Response)
    assert list(resp.key) == ["result"] and resp.tensors[0].float_data == [0.5, 1.5]
    req = pipeline_service_pb2.Request(key=["a"], value=["b"], logid=7)
    assert pipeline_service_pb2.Request.FromString(req.SerializeToString()).logid == 7
    names = set(pipeline_service_pb2.DESCRIPTOR.message_types_by_name)
    assert names == {"Request", "Response", "Tensor"}
    assert isinstance(pipeline_service_pb2.Tensor(), pipeline_service_pb2.Tensor)


def test_bytes_parse_with_the_wheels_generated_module(run_wheel_script):
    payload = base64.b64encode(_response().SerializeToString()).decode()
    code = f"""
import base64, json
r = pipeline_service_pb2.Response.FromString(base64.b64decode({payload!r}))
print(json.dumps([r.err_no, list(r.key), list(r.value), r.tensors[0].name,
                  list(r.tensors[0].float_data)]))
"""
    proc = run_wheel_script(code)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == [0, ["result"], ["[1, 2]"], "t",
                                                                 [0.5, 1.5]]


class _Echo(pipeline_service_pb2_grpc.PipelineServiceServicer):
    def inference(self, request, context):
        resp = pipeline_service_pb2.Response()
        for key, value in zip(request.key, request.value, strict=True):
            resp.key.append(key.upper())
            resp.value.append(value[::-1])
        return resp


@pytest.fixture
def echo_server():
    server = grpc.server(concurrent.futures.ThreadPoolExecutor(2))
    pipeline_service_pb2_grpc.add_PipelineServiceServicer_to_server(_Echo(), server)
    port = server.add_insecure_port(f"127.0.0.1:{free_port()}")
    server.start()
    yield port
    server.stop(0)


def test_servicer_answers_the_wheels_pipeline_client(echo_server, run_wheel_script):
    code = f"""
import json
client = PipelineClient()
client.connect(['127.0.0.1:{echo_server}'])
ret = client.predict(feed_dict={{'words': 'abc'}})
print(json.dumps([ret.err_no, list(ret.key), list(ret.value)]))
"""
    proc = run_wheel_script(code)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == [0, ["WORDS"], ["cba"]]


def test_stub_calls_the_servicer(echo_server):
    with grpc.insecure_channel(f"127.0.0.1:{echo_server}") as channel:
        stub = pipeline_service_pb2_grpc.PipelineServiceStub(channel)
        resp = stub.inference(pipeline_service_pb2.Request(key=["k"], value=["xy"]), timeout=10)
    assert (list(resp.key), list(resp.value)) == (["K"], ["yx"])


def test_default_servicer_is_unimplemented():
    server = grpc.server(concurrent.futures.ThreadPoolExecutor(1))
    pipeline_service_pb2_grpc.add_PipelineServiceServicer_to_server(
        pipeline_service_pb2_grpc.PipelineServiceServicer(), server)
    port = server.add_insecure_port(f"127.0.0.1:{free_port()}")
    server.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = pipeline_service_pb2_grpc.PipelineServiceStub(channel)
            with pytest.raises(grpc.RpcError) as info:
                stub.inference(pipeline_service_pb2.Request(), timeout=10)
        assert info.value.code() == grpc.StatusCode.UNIMPLEMENTED
    finally:
        server.stop(0)
