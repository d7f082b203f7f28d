"""Pipeline protobuf schema, wire compatibility with Paddle Serving 0.9.0, and the tensor codec."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from google.protobuf import descriptor_pb2

from generator.runtime.errors import CustomException, ErrorCode
from generator.runtime.proto import (
    INFERENCE_METHOD_PATH,
    SERVICE_FULL_NAME,
    ElemType,
    Request,
    Response,
    Tensor,
)
from generator.runtime.proto.tensors import ndarray_to_tensor, tensor_to_value

# (field, number, FieldDescriptor type, repeated) from the fact sheet 3.1
EXPECTED_FIELDS = {
    "Tensor": [
        ("int64_data", 1, 3, True),
        ("float_data", 2, 2, True),
        ("int_data", 3, 5, True),
        ("float64_data", 4, 1, True),
        ("uint32_data", 5, 13, True),
        ("bool_data", 6, 8, True),
        ("complex64_data", 7, 2, True),
        ("complex128_data", 8, 1, True),
        ("str_data", 9, 9, True),
        ("byte_data", 10, 12, False),
        ("elem_type", 20, 5, False),
        ("shape", 21, 5, True),
        ("lod", 22, 5, True),
        ("name", 23, 9, False),
    ],
    "Request": [
        ("key", 1, 9, True),
        ("value", 2, 9, True),
        ("tensors", 3, 11, True),
        ("name", 4, 9, False),
        ("method", 5, 9, False),
        ("logid", 6, 3, False),
        ("clientip", 7, 9, False),
    ],
    "Response": [
        ("err_no", 1, 5, False),
        ("err_msg", 2, 9, False),
        ("key", 3, 9, True),
        ("value", 4, 9, True),
        ("tensors", 5, 11, True),
    ],
}
CLASSES = {"Tensor": Tensor, "Request": Request, "Response": Response}


def _is_repeated(field) -> bool:
    if hasattr(field, "is_repeated"):  # protobuf >= 5.28 (`label` is gone in 7)
        return field.is_repeated
    return field.label == field.LABEL_REPEATED


def _descriptor_table(cls) -> list[tuple[str, int, int, bool]]:
    return [(f.name, f.number, f.type, _is_repeated(f)) for f in cls.DESCRIPTOR.fields]


@pytest.mark.parametrize("message", sorted(EXPECTED_FIELDS))
def test_field_numbers_match_fact_sheet(message: str) -> None:
    cls = CLASSES[message]
    assert _descriptor_table(cls) == EXPECTED_FIELDS[message]
    assert cls.DESCRIPTOR.full_name == f"baidu.paddle_serving.pipeline_serving.{message}"
    file_proto = descriptor_pb2.FileDescriptorProto()
    cls.DESCRIPTOR.file.CopyToProto(file_proto)
    assert file_proto.syntax == "proto3"


def test_service_names() -> None:
    assert SERVICE_FULL_NAME == "baidu.paddle_serving.pipeline_serving.PipelineService"
    assert INFERENCE_METHOD_PATH == (
        "/baidu.paddle_serving.pipeline_serving.PipelineService/inference"
    )
    method = Request.DESCRIPTOR.file.services_by_name["PipelineService"].methods_by_name[
        "inference"
    ]
    assert method.input_type is Request.DESCRIPTOR
    assert method.output_type is Response.DESCRIPTOR


def _sample_request():
    request = Request(
        key=["image", "k2"],
        value=["aGVsbG8=", "v2"],
        name="ocr",
        method="prediction",
        logid=-(2**40),
        clientip="10.0.0.1",
    )
    request.tensors.append(ndarray_to_tensor("x", np.arange(6, dtype=np.float32).reshape(2, 3)))
    request.tensors.append(ndarray_to_tensor("ids", np.array([[1, -(2**40)]], dtype=np.int64)))
    t = ndarray_to_tensor("words", np.array([3, 4, 5], dtype=np.int32))
    t.lod.extend([0, 3, 0, 3])
    request.tensors.append(t)
    request.tensors.append(ndarray_to_tensor("s", "text"))
    request.tensors.append(ndarray_to_tensor("b", np.ones(2, np.uint8), use_bytes=True))
    request.tensors.append(ndarray_to_tensor("m", np.array([True, False])))
    request.tensors.append(ndarray_to_tensor("u", np.array([7, 255], np.uint8)))
    return request


_WHEEL_WIRE_CHECK = """
import json, sys
from google.protobuf import json_format
pb2 = pipeline_service_pb2
data = json.loads(sys.stdin.read())
out = {"fields": {}}
for name in ("Tensor", "Request", "Response"):
    desc = getattr(pb2, name).DESCRIPTOR
    out["fields"][name] = [
        [f.name, f.number, f.type, f.is_repeated if hasattr(f, "is_repeated") else f.label == 3]
        for f in desc.fields
    ]
req = pb2.Request.FromString(bytes.fromhex(data["request"]))
out["request_json"] = json_format.MessageToDict(req, preserving_proto_field_name=True)
out["request_reserialized"] = req.SerializeToString().hex()
resp = pb2.Response(err_no=5000, err_msg="bad", key=["a"], value=["b"])
t = resp.tensors.add(name="y", elem_type=0, shape=[2], int64_data=[1, -5])
resp.tensors.add(name="z", elem_type=3, shape=[1], float64_data=[0.25], lod=[0, 1])
out["response"] = resp.SerializeToString().hex()
print(json.dumps(out))
"""


def test_wire_identical_to_paddle_serving_wheel(run_wheel_script) -> None:
    from google.protobuf import json_format

    ours = _sample_request()
    proc = run_wheel_script(
        _WHEEL_WIRE_CHECK, input=json.dumps({"request": ours.SerializeToString().hex()})
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    for name, table in result["fields"].items():
        assert [tuple(row) for row in table] == _descriptor_table(CLASSES[name])
    # their parse of our bytes sees the same fields and re-serializes to the same bytes
    assert result["request_json"] == json_format.MessageToDict(
        ours, preserving_proto_field_name=True
    )
    assert bytes.fromhex(result["request_reserialized"]) == ours.SerializeToString()
    # our parse of their bytes
    theirs = Response.FromString(bytes.fromhex(result["response"]))
    assert (theirs.err_no, theirs.err_msg, list(theirs.key)) == (5000, "bad", ["a"])
    value, lod = tensor_to_value(theirs.tensors[0])
    assert value.dtype == np.int64 and value.tolist() == [1, -5] and lod is None
    value, lod = tensor_to_value(theirs.tensors[1])
    assert value.dtype == np.float64 and value.tolist() == [0.25]
    assert lod.tolist() == [[0], [1]]
    assert theirs.SerializeToString() == bytes.fromhex(result["response"])


# ---------------------------------------------------------------------------------------------
# tensor codec
# ---------------------------------------------------------------------------------------------

CASES = [
    ("int64", ElemType.INT64, "int64_data", [[1, -(2**40)], [3, 4]]),
    ("float32", ElemType.FP32, "float_data", [[0.5, -1.25], [3.0, 1e-3]]),
    ("int32", ElemType.INT32, "int_data", [[1, -2], [2**31 - 1, 0]]),
    ("float64", ElemType.FP64, "float64_data", [[0.1, 1e300], [-2.5, 0.0]]),
    ("int16", ElemType.INT16, "int_data", [[-32768, 32767], [0, 1]]),
    ("float16", ElemType.FP16, "float_data", [[0.5, 1024.0], [-2.0, 0.099975586]]),
    ("uint16", ElemType.BF16, "uint32_data", [[0x3F80, 0xC000], [0, 65535]]),
    ("uint8", ElemType.UINT8, "uint32_data", [[0, 255], [7, 128]]),
    ("int8", ElemType.INT8, "int_data", [[-128, 127], [0, -1]]),
    ("bool", ElemType.BOOL, "bool_data", [[True, False], [False, True]]),
]


@pytest.mark.parametrize(("dtype", "code", "field", "values"), CASES, ids=[c[0] for c in CASES])
def test_numeric_round_trip(dtype: str, code: int, field: str, values: list) -> None:
    array = np.array(values, dtype=dtype)
    tensor = ndarray_to_tensor("x", array)
    assert (tensor.name, tensor.elem_type, list(tensor.shape)) == ("x", code, [2, 2])
    assert len(getattr(tensor, field)) == 4
    wire = Tensor.FromString(tensor.SerializeToString())
    value, lod = tensor_to_value(wire)
    assert lod is None
    assert value.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(value, array)


def test_string_tensor_is_concatenated() -> None:
    tensor = ndarray_to_tensor("s", "héllo")
    assert tensor.elem_type == 12 and list(tensor.str_data) == ["héllo"]
    tensor.str_data.append(" world")
    assert tensor_to_value(tensor) == ("héllo world", None)


@pytest.mark.parametrize(
    "array",
    [np.arange(12, dtype=np.float32).reshape(3, 4), np.array(["a", "bc"]), np.zeros((0, 3))],
    ids=["float32", "unicode", "empty"],
)
def test_bytes_round_trip(array: np.ndarray) -> None:
    tensor = ndarray_to_tensor("b", array, use_bytes=True)
    assert tensor.elem_type == 13 and list(tensor.shape) == list(array.shape)
    assert np.load(io.BytesIO(tensor.byte_data)).shape == array.shape
    value, _ = tensor_to_value(Tensor.FromString(tensor.SerializeToString()))
    np.testing.assert_array_equal(value, array)
    assert value.dtype == array.dtype


def test_lod_is_reshaped_to_two_rows_int32() -> None:
    tensor = ndarray_to_tensor("words", np.array([[1], [2], [3]], dtype=np.int64))
    tensor.lod.extend([0, 1, 3, 0, 2, 3])
    value, lod = tensor_to_value(tensor)
    assert value.shape == (3, 1)
    assert lod.dtype == np.int32 and lod.tolist() == [[0, 1, 3], [0, 2, 3]]


def test_empty_shape_gives_scalar_or_vector() -> None:
    tensor = Tensor(name="s", elem_type=1, float_data=[2.5])
    value, _ = tensor_to_value(tensor)
    assert value.shape == () and value == 2.5
    tensor.float_data.append(3.5)
    assert tensor_to_value(tensor)[0].tolist() == [2.5, 3.5]


def test_minus_one_dimension_is_inferred() -> None:
    tensor = Tensor(name="x", elem_type=2, shape=[-1, 2], int_data=[1, 2, 3, 4])
    assert tensor_to_value(tensor)[0].shape == (2, 2)


def test_shape_mismatch_is_input_params_error() -> None:
    tensor = Tensor(name="x", elem_type=1, shape=[2, 3], float_data=[1, 2, 3, 4, 5])
    with pytest.raises(CustomException) as info:
        tensor_to_value(tensor)
    assert info.value.code == ErrorCode.INPUT_PARAMS_ERROR
    assert "tensor 'x': shape [2, 3] needs 6 values, found 5 in float_data" in str(info.value)


@pytest.mark.parametrize("code", [10, 11, 14, -1])
def test_unsupported_elem_type_is_type_error(code: int) -> None:
    with pytest.raises(CustomException) as info:
        tensor_to_value(Tensor(name="c", elem_type=code, shape=[1], float_data=[1.0]))
    assert info.value.code == ErrorCode.TYPE_ERROR
    assert f"tensor 'c': elem_type {code} is not supported" in str(info.value)


def test_odd_lod_and_bad_bytes_are_input_errors() -> None:
    with pytest.raises(CustomException, match="lod has 3 values") as info:
        tensor_to_value(Tensor(name="x", elem_type=2, shape=[1], int_data=[1], lod=[0, 1, 1]))
    assert info.value.code == ErrorCode.INPUT_PARAMS_ERROR
    with pytest.raises(CustomException, match="not a loadable np.save payload") as info:
        tensor_to_value(Tensor(name="b", elem_type=13, byte_data=b"garbage"))
    assert info.value.code == ErrorCode.INPUT_PARAMS_ERROR


def test_pickled_bytes_can_be_refused() -> None:
    tensor = ndarray_to_tensor("o", np.array([{"a": 1}], dtype=object), use_bytes=True)
    assert tensor_to_value(tensor)[0][0] == {"a": 1}
    with pytest.raises(CustomException, match="allow_pickle"):
        tensor_to_value(tensor, allow_pickle=False)


def test_encode_rejects_unsupported_values() -> None:
    with pytest.raises(TypeError, match="dtype complex64 has no Paddle Serving tensor field"):
        ndarray_to_tensor("c", np.zeros(2, np.complex64))
    with pytest.raises(TypeError, match="got list"):
        ndarray_to_tensor("l", [1, 2])
