"""`convert_to_onnx` and `scaffold export --format onnx`: paddle2onnx 2.1.0 behind a parity
check against Paddle Inference, on real conversions (a classifier that converts, a PIR
leaky_relu it silently mis-converts, a nearest_interp it cannot convert, a tiny detector)."""

from __future__ import annotations

import json
import shutil
import textwrap

import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="onnx not installed (pip install onnx)")
ort = pytest.importorskip("onnxruntime", reason="onnxruntime not installed (pip install onnxruntime)")
pytest.importorskip("paddle2onnx", reason="paddle2onnx not installed (pip install paddle2onnx)")

from click.testing import CliRunner  # noqa: E402

from generator.commands.export import command as export_cmd  # noqa: E402
from generator.export import onnx_export as ox  # noqa: E402
from generator.export.errors import ExportError  # noqa: E402
from generator.runtime.inference.backends import onnx_names  # noqa: E402
from tests.helpers.tiny_models import save_conv_classifier, save_tiny_detector  # noqa: E402

LEAKYNET = '''
import paddle


class Leaky(paddle.nn.Layer):
    """conv + leaky_relu(0.1): PIR stores negative_slope as a double."""

    def __init__(self):
        super().__init__()
        self.conv = paddle.nn.Conv2D(3, 4, 3, padding=1)

    def forward(self, x):
        return paddle.nn.functional.leaky_relu(self.conv(x), negative_slope=0.1)


class Upsample(paddle.nn.Layer):
    """conv + nearest interpolation: PIR stores nearest_interp.scale as doubles."""

    def __init__(self):
        super().__init__()
        self.conv = paddle.nn.Conv2D(3, 4, 3, padding=1)

    def forward(self, x):
        return paddle.nn.functional.interpolate(self.conv(x), scale_factor=2, mode="nearest")


def build():
    paddle.seed(0)
    return Leaky()


def build_upsample():
    paddle.seed(0)
    return Upsample()
'''

LEAKY_YML = """\
version: 1
task: generic
model:
  factory: leakynet:{factory}
inputs:
  - {{name: x, shape: [null, 3, 8, 8], dtype: float32}}
"""


def _jit_save(factory: str, model_dir, tmp_path_factory) -> None:
    import importlib.util

    import paddle

    src = tmp_path_factory.mktemp("leakynet_src") / "leakynet.py"
    src.write_text(textwrap.dedent(LEAKYNET))
    spec = importlib.util.spec_from_file_location("leakynet_mod", src)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    layer = getattr(mod, factory)()
    layer.eval()
    static = paddle.jit.to_static(
        layer, input_spec=[paddle.static.InputSpec([None, 3, 8, 8], "float32", "x")],
        full_graph=True)
    paddle.jit.save(static, str(model_dir / "model"))


@pytest.fixture(scope="module")
def classifier(tmp_path_factory):
    return save_conv_classifier(tmp_path_factory.mktemp("onnx_cls") / "m")


@pytest.fixture(scope="module")
def leaky_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("onnx_leaky")
    _jit_save("build", d, tmp_path_factory)
    return d


def _paddle_run(model_dir, feed, legacy=False):
    from paddle import inference

    prog = model_dir / ("model.pdmodel" if legacy else "model.json")
    config = inference.Config(str(prog), str(model_dir / "model.pdiparams"))
    config.disable_mkldnn()
    config.disable_glog_info()
    if legacy:
        config.enable_new_ir(False)
    pred = inference.create_predictor(config)
    for name in pred.get_input_names():
        h = pred.get_input_handle(name)
        h.reshape(list(feed[name].shape))
        h.copy_from_cpu(feed[name])
    pred.run()
    return {n: pred.get_output_handle(n).copy_to_cpu() for n in pred.get_output_names()}


def _leftovers(d):
    return sorted(p.name for p in d.iterdir() if p.suffix == ".onnx" or ".tmp-" in p.name)


@pytest.mark.slow
def test_classifier_converts_behind_parity(classifier):
    conv = ox.convert_to_onnx(classifier.model_dir)
    assert conv.onnx_path == classifier.model_dir / "model.onnx" and conv.onnx_path.is_file()
    assert conv.parity.ok and conv.checked_batch == 2 and conv.max_batch_size is None
    assert conv.opset == 16 and conv.parity.outputs[0].max_abs_diff < 1e-5
    assert [(m.onnx_name, m.paddle_name, m.dtype, m.shape) for m in conv.inputs] == [
        ("x", "x", "float32", (-1, 3, 32, 32))]
    assert [m.paddle_name for m in conv.outputs] == classifier.output_names
    # the name mapping travels inside the ONNX file
    model = onnx.load(str(conv.onnx_path))
    meta = {p.key: p.value for p in model.metadata_props}
    mapping = onnx_names.read_name_mapping(meta)
    assert mapping.inputs == conv.inputs and mapping.outputs == conv.outputs
    assert "paddle2onnx 2.1" in json.loads(meta[onnx_names.METADATA_SOURCE])["converter"]
    assert ox.onnx_weight_bytes(model) >= 1040  # the weights really are in the ONNX
    # ONNX Runtime equals Paddle on other inputs too
    feed = {"x": np.random.default_rng(5).standard_normal((3, 3, 32, 32)).astype("float32")}
    sess = ort.InferenceSession(str(conv.onnx_path), providers=["CPUExecutionProvider"])
    (got,) = sess.run(None, feed)
    want = _paddle_run(classifier.model_dir, feed)[classifier.output_names[0]]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)
    assert _leftovers(classifier.model_dir) == ["model.onnx"]


@pytest.mark.slow
def test_caller_samples_are_used_and_must_be_complete(classifier, tmp_path):
    x = np.random.default_rng(1).standard_normal((3, 3, 32, 32)).astype("float32")
    conv = ox.convert_to_onnx(classifier.model_dir, tmp_path / "c.onnx", samples={"x": x})
    assert conv.checked_batch is None and conv.parity.outputs[0].exported_shape == (3, 4)
    with pytest.raises(ox.OnnxExportError, match=r"samples lack input\(s\) \['x'\]"):
        ox.convert_to_onnx(classifier.model_dir, tmp_path / "d.onnx", samples={"y": x})
    assert not (tmp_path / "d.onnx").exists()


@pytest.mark.slow
def test_legacy_program_renamed_output_is_mapped_by_position(tmp_path):
    from generator.runtime.inference.backends.onnxruntime_backend import OnnxRuntimeEngine

    m = save_conv_classifier(tmp_path / "leg", fmt="legacy")
    conv = ox.convert_to_onnx(m.model_dir)
    assert conv.parity.ok
    # paddle2onnx names the output fetch_name_0; the legacy program calls it softmax_0.tmp_0
    (out,) = conv.outputs
    assert out.onnx_name == "fetch_name_0" and out.paddle_name == m.output_names[0] != "fetch_name_0"
    engine = OnnxRuntimeEngine(m.model_dir, thread_num=1)
    assert [t.name for t in engine.outputs] == m.output_names
    feed = m.example_feed(batch=2)
    got = engine.run(feed, {}, m.output_names)[m.output_names[0]][0]
    want = _paddle_run(m.model_dir, feed, legacy=True)[m.output_names[0]]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)
    # the __model__ + __params__ layout converts too (staged as model.pdmodel for paddle2onnx)
    combined = tmp_path / "combined"
    combined.mkdir()
    shutil.copy(m.model_dir / "model.pdmodel", combined / "__model__")
    shutil.copy(m.model_dir / "model.pdiparams", combined / "__params__")
    assert ox.convert_to_onnx(combined).parity.ok
    assert sorted(p.name for p in combined.iterdir()) == ["__model__", "__params__", "model.onnx"]


def test_leaky_relu_misconversion_is_refused(leaky_dir):
    (leaky_dir / "model.onnx").write_bytes(b"stale")  # an earlier file must not survive either
    with pytest.raises(ox.OnnxParityError) as info:  # without the PIR corrections
        ox.convert_to_onnx(leaky_dir, correct_pir=False)
    msg = str(info.value)
    assert "refusing the ONNX conversion" in msg and "fetch_name_0: max abs diff" in msg
    assert "max rel diff" in msg and "allclose(rtol=0.001, atol=1e-05)" in msg
    # paddle2onnx 2.1.0 really wrote a wrong LeakyRelu alpha (0 or a denormal read from the
    # double's bits: the value varies between runs), not the program's slope 0.1
    assert "LeakyRelu" in msg and "Paddle2ONNX#1646" in msg
    alpha = float(msg.split("has alpha=")[1].split(":")[0])
    assert abs(alpha) < 1e-30
    (bad,) = info.value.report.outputs
    assert not bad.ok and bad.max_abs_diff > 0.05
    assert isinstance(info.value, ExportError)
    assert _leftovers(leaky_dir) == []


def test_nearest_interp_is_a_clear_conversion_error(tmp_path_factory):
    d = tmp_path_factory.mktemp("onnx_interp")
    _jit_save("build_upsample", d, tmp_path_factory)
    with pytest.raises(ox.OnnxExportError) as info:  # without the PIR corrections
        ox.convert_to_onnx(d, correct_pir=False)
    msg = str(info.value)
    assert not isinstance(info.value, ox.OnnxParityError)
    assert "paddle2onnx could not convert" in msg
    assert "the 0th elementwise MUST be ir::FloatAttribute" in msg
    assert "nearest_interp.scale" in msg and "backend paddle" in msg
    assert _leftovers(d) == []


@pytest.mark.slow
def test_tiny_detector_converts_for_batch_one(tmp_path):
    det = save_tiny_detector(tmp_path / "det")
    conv = ox.convert_to_onnx(det.model_dir)
    # paddle2onnx maps multiclass_nms3 to NonMaxSuppression + TopK for batch 1 only
    assert conv.max_batch_size == 1 and conv.checked_batch == 1 and conv.parity.ok
    assert any("multiclass_nms3" in w and "batch_size == 1" in w for w in conv.warnings)
    bbox, num = conv.parity.outputs
    assert bbox.exported_shape[0] > 0 and bbox.exported_shape[1] == 6 and num.max_abs_diff == 0
    model = onnx.load(str(conv.onnx_path))
    assert {p.key: p.value for p in model.metadata_props}[onnx_names.METADATA_MAX_BATCH] == "1"
    assert {"NonMaxSuppression", "TopK"} <= {n.op_type for n in model.graph.node}
    # the limit is real: the graph does not run at batch 2
    feed = det.example_feed(batch=2)
    feed["im_shape"][:] = 64
    sess = ort.InferenceSession(str(conv.onnx_path), providers=["CPUExecutionProvider"])
    with pytest.raises(Exception, match="Concat"):
        sess.run(None, feed)
    # and the caller's batch-2 samples get a clear error naming the limit
    with pytest.raises(ox.OnnxExportError, match="batch size 1 only"):
        ox.convert_to_onnx(det.model_dir, tmp_path / "b2.onnx", samples=feed)
    assert not (tmp_path / "b2.onnx").exists()


def test_broken_params_are_refused(classifier, tmp_path):
    d = tmp_path / "broken"
    d.mkdir()
    shutil.copy(classifier.model_dir / "model.json", d / "model.json")
    (d / "model.pdiparams").write_bytes((classifier.model_dir / "model.pdiparams").read_bytes()[:500])
    with pytest.raises(ox.OnnxExportError) as info:
        ox.convert_to_onnx(d)
    assert "The exported ONNX model is invalid" in str(info.value)
    assert "weight is missing from the parameters" in str(info.value)
    assert _leftovers(d) == []


def test_weightless_output_is_refused(classifier, tmp_path, monkeypatch):
    """paddle2onnx can exit 0 with a valid graph but no weights: the size check catches it."""
    from onnx import TensorProto, helper

    def fake(program, params, save_file, opset, timeout):
        x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 3, 32, 32])
        y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 3, 32, 32])
        graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g", [x], [y])
        onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 16)]),
                  str(save_file))
        return "", 0

    monkeypatch.setattr(ox, "_run_paddle2onnx", fake)
    with pytest.raises(ox.OnnxExportError, match="holds 0 bytes of weights but model.pdiparams "
                                                 "has 1040"):
        ox.convert_to_onnx(classifier.model_dir, tmp_path / "w.onnx")
    assert not (tmp_path / "w.onnx").exists()


def test_pdiparams_data_bytes(classifier, tmp_path):
    # conv 8x3x3x3 + 8, fc 8x4 + 4 float32
    assert ox.pdiparams_data_bytes(classifier.model_dir / "model.pdiparams") == 1040
    junk = tmp_path / "junk.pdiparams"
    junk.write_bytes(b"\x00" * 7)
    assert ox.pdiparams_data_bytes(junk) is None


def test_stale_value_info_is_dropped_and_reinferred():
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])
    nodes = [helper.make_node("Relu", ["x"], ["t"]), helper.make_node("Relu", ["t"], ["y"])]
    graph = helper.make_graph(nodes, "g", [x], [y], value_info=[
        helper.make_tensor_value_info("t", TensorProto.FLOAT, [1, 3, 5])])  # wrong
    model = helper.make_model(graph)
    assert ox._fix_value_info(model)
    (t,) = model.graph.value_info
    assert [d.dim_value for d in t.type.tensor_type.shape.dim] == [1, 3]
    empty = helper.make_model(helper.make_graph(nodes, "g", [x], [y]))
    assert not ox._fix_value_info(empty)


def test_sample_inputs_follow_detector_conventions():
    feed = ox.sample_inputs({"image": (-1, 3, 48, 40), "im_shape": (-1, 2),
                             "scale_factor": (-1, 2), "ids": (-1, -1)},
                            {"image": "float32", "im_shape": "float32",
                             "scale_factor": "float32", "ids": "int64"}, batch_size=3,
                            dynamic_dim=5)
    assert feed["image"].shape == (3, 3, 48, 40)
    np.testing.assert_array_equal(feed["im_shape"], [[48, 40]] * 3)
    np.testing.assert_array_equal(feed["scale_factor"], np.ones((3, 2)))
    assert feed["ids"].shape == (3, 5) and feed["ids"].dtype == np.int64
    again = ox.sample_inputs({"image": (-1, 3, 48, 40)}, {"image": "float32"}, batch_size=3)
    np.testing.assert_array_equal(again["image"], feed["image"])  # deterministic


# ----------------------------------------------------------------------------- CLI


@pytest.mark.slow
def test_cli_export_format_onnx(tmp_path):
    from generator.runtime.inference.backends.onnxruntime_backend import OnnxRuntimeEngine
    from generator.serving_model.model_config import read_model_config
    from tests.scaffold.scaffold_helpers import CONFIGS

    out = tmp_path / "inference"
    res = CliRunner().invoke(export_cmd, [
        "-c", str(CONFIGS / "resnet50_cls.yml"), "-o", "model.arch=mobilenet_v3_small",
        "-o", "model.args.num_classes=10",
        "-o", "inputs=[{name: x, shape: [null, 3, 32, 32], dtype: float32}]",
        "--output_dir", str(out), "--format", "onnx"])
    assert res.exit_code == 0, res.output
    server = out / "resnet50_cls" / "serving_server"
    assert f"onnx:    {server / 'model.onnx'} (opset 16)" in res.stdout
    assert "(ONNX Runtime vs Paddle Inference)" in res.stderr
    assert (server / "model.onnx").is_file() and not (out / "resnet50_cls" / "model.onnx").exists()
    engine = OnnxRuntimeEngine(server, thread_num=1)
    conf = read_model_config(server)
    assert [t.name for t in engine.inputs] == [v.name for v in conf.feed_vars] == ["x"]
    assert [t.name for t in engine.outputs] == [v.name for v in conf.fetch_vars]
    x = np.random.default_rng(0).standard_normal((2, 3, 32, 32)).astype("float32")
    name = engine.outputs[0].name
    got = engine.run({"x": x}, {}, [name])[name][0]
    want = _paddle_run(server, {"x": x})[name]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_cli_export_format_onnx_corrects_the_leaky_relu_misread(tmp_path):
    (tmp_path / "leakynet.py").write_text(textwrap.dedent(LEAKYNET))
    cfg = tmp_path / "leaky.yml"
    cfg.write_text(LEAKY_YML.format(factory="build"))
    out = tmp_path / "inference"
    res = CliRunner().invoke(export_cmd, ["-c", str(cfg), "--output_dir", str(out),
                                          "--format", "onnx"])
    assert res.exit_code == 0, res.output
    assert ("corrected a paddle2onnx misread from the PIR program: "
            "leaky_relu#0.negative_slope: double -> 0.1") in res.stderr
    model = onnx.load(str(out / "leaky" / "serving_server" / "model.onnx"))
    (alpha,) = [a.f for n in model.graph.node if n.op_type == "LeakyRelu" for a in n.attribute]
    assert alpha == pytest.approx(0.1)
    assert list(out.rglob("*.tmp-*")) == []
