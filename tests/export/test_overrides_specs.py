"""-o parsing, input spec parsing/validation and --fixed_input_shape."""

from __future__ import annotations

import pytest

from generator.export import specs
from generator.export.errors import InputSpecError, OverrideError
from generator.export.overrides import apply_overrides, parse_overrides


def test_overrides_typed_and_nested_merge():
    got = parse_overrides([
        "weights=out/model.pdparams", "TestReader.inputs_def.image_shape=[3,416,416]",
        "TestReader.fuse_normalize=true", "use_gpu=false", "x.y=0.5", "empty=",
    ])
    assert got == {
        "weights": "out/model.pdparams",
        "TestReader": {"inputs_def": {"image_shape": [3, 416, 416]}, "fuse_normalize": True},
        "use_gpu": False, "x": {"y": 0.5}, "empty": None,
    }
    merged = apply_overrides({"model": {"arch": "a", "args": {"k": 1}}}, ["model.args.j=2"])
    assert merged == {"model": {"arch": "a", "args": {"k": 1, "j": 2}}}


@pytest.mark.parametrize("bad", ["noequals", "=1", "a..b=1", "a.=1", "k=[1, 2"])
def test_overrides_malformed(bad):
    with pytest.raises(OverrideError, match="malformed override"):
        parse_overrides([bad])


@pytest.mark.parametrize("value, expected", [
    ("[224,160]", [-1, 3, 160, 224]),
    ("224,160", [-1, 3, 160, 224]),
    ([64, 32], [-1, 3, 32, 64]),
    ("[1,3,64,32]", [1, 3, 32, 64]),
    ("[-1, 1, 20, 10]", [-1, 1, 10, 20]),
    (None, None),
])
def test_fixed_input_shape_forms(value, expected):
    assert specs.parse_fixed_input_shape(value) == expected


@pytest.mark.parametrize("bad", ["[224]", "[1,2,3]", "abc", "[0,224]", "[-2,3,4,4]",
                                 "[1,3,-1,4]", "[1.5,2]", [True, 3]])
def test_fixed_input_shape_malformed(bad):
    with pytest.raises(InputSpecError, match="fixed_input_shape"):
        specs.parse_fixed_input_shape(bad)


def test_parse_inputs_nested_and_errors():
    parsed = specs.parse_inputs([
        {"name": "x", "shape": [None, 4]},
        [{"name": "a", "shape": [-1, 2], "dtype": "int64"}],
        {"dict": {"b": {"name": "b", "shape": [2]}}},
        {"value": 3},
    ])
    assert [t["name"] for t in specs.iter_tensor_specs(parsed)] == ["x", "a", "b"]
    assert parsed[1][0]["shape"] == [None, 2] and parsed[1][0]["dtype"] == "int64"
    assert isinstance(parsed[3], specs.ValueSpec) and parsed[3].value == 3
    for bad, msg in [([{"shape": [1], "dtype": "float99"}], "dtype"),
                     ([{"name": "x"}], "missing `shape`"),
                     ([{"shape": [0, 2]}], "shape"),
                     ([{"shape": [1], "colour": 1}], "unknown key"),
                     ([], "non-empty list")]:
        with pytest.raises(InputSpecError, match=msg):
            specs.parse_inputs(bad)


def test_check_signature_counts_and_names():
    def forward(x, d, scale=2.0):
        return x

    ok = specs.check_signature(forward, specs.parse_inputs([{"shape": [1]}, {"shape": [1]}]))
    assert [s["name"] for s in ok] == ["x", "d"]  # unnamed tensors take the parameter name
    with pytest.raises(InputSpecError, match="requires 2"):
        specs.check_signature(forward, specs.parse_inputs([{"shape": [1]}]))
    with pytest.raises(InputSpecError, match="at most 3"):
        specs.check_signature(forward, specs.parse_inputs([{"shape": [1]}] * 4))
    with pytest.raises(InputSpecError, match="declared for argument 'image'"):
        specs.check_signature(forward, specs.parse_inputs(
            [{"shape": [1], "arg": "image"}, {"shape": [1]}]))


def test_apply_fixed_shape_targets_image_input():
    parsed = specs.parse_inputs([{"name": "im_shape", "shape": [None, 2]},
                                 {"name": "image", "shape": [None, 3, -1, -1]}])
    assert specs.apply_fixed_shape(parsed, [-1, 3, 64, 32], None) == "image"
    assert parsed[1]["shape"] == [None, 3, 64, 32]
    with pytest.raises(InputSpecError, match="no input named"):
        specs.apply_fixed_shape(parsed, [-1, 3, 64, 32], "pixels")
    flat = specs.parse_inputs([{"name": "x", "shape": [None, 4]}])
    with pytest.raises(InputSpecError, match="4-D"):
        specs.apply_fixed_shape(flat, [-1, 3, 64, 32], None)
