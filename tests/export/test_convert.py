"""`inference_model_to_serving` on every input format, checked with an independent schema."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, text_format

from generator.export.convert import inference_model_to_serving, to_var_info
from generator.export.errors import ConvertError
from generator.serving_model.program_io import ProgramVar

PKG = "baidu.paddle_serving.configure"


def _schema():
    """general_model_config.proto (proto2) built here from the published field numbers."""
    f = descriptor_pb2.FieldDescriptorProto
    fdp = descriptor_pb2.FileDescriptorProto(name="test_gmc.proto", package=PKG, syntax="proto2")
    for msg_name, type_name in (("FeedVar", "feed_type"), ("FetchVar", "fetch_type")):
        m = fdp.message_type.add(name=msg_name)
        m.field.add(name="name", number=1, type=f.TYPE_STRING, label=f.LABEL_OPTIONAL)
        m.field.add(name="alias_name", number=2, type=f.TYPE_STRING, label=f.LABEL_OPTIONAL)
        m.field.add(name="is_lod_tensor", number=3, type=f.TYPE_BOOL, label=f.LABEL_OPTIONAL,
                    default_value="false")
        m.field.add(name=type_name, number=4, type=f.TYPE_INT32, label=f.LABEL_OPTIONAL,
                    default_value="0")
        m.field.add(name="shape", number=5, type=f.TYPE_INT32, label=f.LABEL_REPEATED)
    g = fdp.message_type.add(name="GeneralModelConfig")
    g.field.add(name="feed_var", number=1, type=f.TYPE_MESSAGE, label=f.LABEL_REPEATED,
                type_name=f".{PKG}.FeedVar")
    g.field.add(name="fetch_var", number=2, type=f.TYPE_MESSAGE, label=f.LABEL_REPEATED,
                type_name=f".{PKG}.FetchVar")
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{PKG}.GeneralModelConfig"))


GMC = _schema()


def _parse(directory, prefix):
    text = GMC()
    text_format.Parse((directory / f"{prefix}_conf.prototxt").read_text(), text)
    binary = GMC()
    binary.ParseFromString((directory / f"{prefix}_conf.stream.prototxt").read_bytes())
    assert text == binary
    return text


def _vars(msg):
    feeds = [(v.name, v.alias_name, v.is_lod_tensor, v.feed_type, list(v.shape))
             for v in msg.feed_var]
    fetches = [(v.name, v.alias_name, v.is_lod_tensor, v.fetch_type, list(v.shape))
               for v in msg.fetch_var]
    return feeds, fetches


def test_pir_json_with_aliases(pir_export, tmp_path):
    src = pir_export.model_dir
    feeds, fetches = inference_model_to_serving(
        src, tmp_path / "srv", tmp_path / "cli", feed_alias_names="feat,bias",
        fetch_alias_names=["probs", "act"])
    assert (feeds, fetches) == (["x", "b"], ["fetch_name_0", "fetch_name_1"])
    for d, prefix in ((tmp_path / "srv", "serving_server"), (tmp_path / "cli", "serving_client")):
        msg = _parse(d, prefix)
        assert _vars(msg) == (
            [("x", "feat", False, 1, [4]), ("b", "bias", False, 1, [3])],
            [("fetch_name_0", "probs", False, 1, [3]), ("fetch_name_1", "act", False, 1, [3])],
        )
        # every field is written explicitly, as Paddle Serving's str(config) shows it
        text = (d / f"{prefix}_conf.prototxt").read_text()
        assert text.count("is_lod_tensor: false") == 4 and text.count("feed_type: 1") == 2
    assert sorted(p.name for p in (tmp_path / "srv").iterdir()) == [
        "model.json", "model.pdiparams", "serving_server_conf.prototxt",
        "serving_server_conf.stream.prototxt"]
    assert (tmp_path / "srv" / "model.json").read_bytes() == (src / "model.json").read_bytes()
    assert sorted(p.name for p in (tmp_path / "cli").iterdir()) == [
        "serving_client_conf.prototxt", "serving_client_conf.stream.prototxt"]


def test_legacy_pdmodel(legacy_export, tmp_path):
    feeds, fetches = inference_model_to_serving(legacy_export.model_dir, tmp_path / "s",
                                                tmp_path / "c")
    assert feeds == ["x0", "x1"] and len(fetches) == 1
    msg = _parse(tmp_path / "s", "serving_server")
    assert _vars(msg) == ([("x0", "x0", False, 1, [4]), ("x1", "x1", False, 1, [4])],
                          [(fetches[0], fetches[0], False, 1, [3])])
    assert (tmp_path / "s" / "model.pdmodel").is_file()
    assert (tmp_path / "s" / "model.pdiparams").is_file()


@pytest.mark.parametrize("variant", ["combined", "separate"])
def test_dunder_model_variants_are_loadable(legacy_variants, tmp_path, variant):
    from paddle import inference

    src = legacy_variants[variant]
    feeds, fetches = inference_model_to_serving(src, tmp_path / "s", tmp_path / "c")
    assert feeds == ["x0", "x1"]
    server = tmp_path / "s"
    names = sorted(p.name for p in server.iterdir())
    if variant == "combined":
        assert "__params__" in names and "__model__" in names
        config = inference.Config(str(server / "__model__"), str(server / "__params__"))
    else:
        assert {"linear_0.w_0", "linear_0.b_0", "__model__"} <= set(names)
        config = inference.Config(str(server))
    config.disable_mkldnn()
    config.enable_new_ir(False)
    predictor = inference.create_predictor(config)
    for name in predictor.get_input_names():
        h = predictor.get_input_handle(name)
        h.reshape([2, 4])
        h.copy_from_cpu(np.ones((2, 4), "float32"))
    predictor.run()
    out = predictor.get_output_handle(predictor.get_output_names()[0]).copy_to_cpu()
    assert out.shape == (2, 3)


def test_lod_and_shape_rules():
    lod = to_var_info(ProgramVar("bbox", "float32", (-1, 6), 1))
    assert lod.is_lod_tensor and lod.shape == (-1,) and lod.dtype_code == 1
    dense = to_var_info(ProgramVar("num", "int32", (-1,), 0))
    assert not dense.is_lod_tensor and dense.shape == () and dense.dtype_code == 2
    assert to_var_info(ProgramVar("i", "int64", (-1, 3, 8, 8))).shape == (3, 8, 8)
    assert to_var_info(ProgramVar("u", None, (2,))).dtype_code == -1


def test_convert_errors_leave_nothing(pir_export, tmp_path):
    src = pir_export.model_dir
    with pytest.raises(ConvertError, match="--fetch_alias_names has 1"):
        inference_model_to_serving(src, tmp_path / "s", tmp_path / "c", fetch_alias_names="one")
    with pytest.raises(ConvertError, match="--feed_alias_names has 3"):
        inference_model_to_serving(src, tmp_path / "s", tmp_path / "c",
                                   feed_alias_names="a,b,c")
    with pytest.raises(ConvertError, match="does not exist"):
        inference_model_to_serving(src, tmp_path / "s", tmp_path / "c",
                                   model_filename="nope.pdmodel")
    bare = tmp_path / "bare"
    bare.mkdir()
    shutil.copy(src / "model.json", bare / "model.json")
    with pytest.raises(ConvertError, match="no parameter file"):
        inference_model_to_serving(bare, tmp_path / "s", tmp_path / "c")
    (bare / "model.json").unlink()
    with pytest.raises(ConvertError, match="no inference program"):
        inference_model_to_serving(bare, tmp_path / "s", tmp_path / "c")
    (bare / "junk.pdmodel").write_bytes(b"\xff\xfe not a program")
    with pytest.raises(ConvertError):
        inference_model_to_serving(bare, tmp_path / "s", tmp_path / "c")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bare"]
