"""paddle2onnx 2.1.0 on Paddle 3 PIR programs with the ops it misreads (leaky_relu, nearest and
bilinear interpolation with scales, hardswish, multiclass_nms3): without the corrections the
conversion fails or the parity check catches the wrong graph; with them (`pir_fixups`, from the
program's own attribute values) ONNX Runtime and OpenVINO give Paddle's outputs."""

from __future__ import annotations

import json

import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="onnx not installed (pip install onnx)")
ort = pytest.importorskip("onnxruntime", reason="onnxruntime not installed")
pytest.importorskip("paddle2onnx", reason="paddle2onnx not installed (pip install paddle2onnx)")

from generator.export import onnx_export as ox  # noqa: E402
from generator.export import pir_fixups  # noqa: E402
from generator.quality.backend_parity import outputs_equivalent  # noqa: E402
from generator.runtime.errors import PredictorError  # noqa: E402
from generator.runtime.inference.predictor import LocalPredictor  # noqa: E402
from tests.helpers.pir_trouble import save_trouble_classifier  # noqa: E402
from tests.helpers.tiny_models import save_tiny_yolo  # noqa: E402


def _paddle(model_dir, feed):
    return LocalPredictor(model_dir, backend="paddle", use_mkldnn=False,
                          thread_num=1).predict(feed)


@pytest.fixture(scope="module")
def trouble(tmp_path_factory):
    return save_trouble_classifier(tmp_path_factory.mktemp("trouble") / "m")


@pytest.fixture(scope="module")
def yolo(tmp_path_factory):
    return save_tiny_yolo(tmp_path_factory.mktemp("tyolo") / "m", image_size=64)


def _x(batch=2, seed=3):
    return {"x": np.random.default_rng(seed).standard_normal((batch, 3, 32, 32)).astype("f4")}


def test_converter_copy_retags_only_what_paddle2onnx_reads_as_float(yolo):
    program = pir_fixups.load_program(yolo.model_dir / "model.json")
    before = json.dumps(program)
    copy, done = pir_fixups.converter_copy(program)
    assert json.dumps(program) == before  # the original is untouched
    assert sorted((c.where, c.attribute) for c in done) == [
        ("leaky_relu#0", "negative_slope"), ("leaky_relu#1", "negative_slope"),
        ("nearest_interp#0", "scale")]
    assert [c.after for c in done] == [0.1, 0.1, [2.0, 2.0]]
    kinds = {pir_fixups.op_name(op): json.dumps(op["A"]) for op in pir_fixups.iter_ops(copy)}
    assert "a_f64" not in kinds["leaky_relu"] and "a_f64" not in kinds["nearest_interp"]
    assert '"0.a_f64"' in kinds["full"]  # full.value is read as a double: left alone
    assert pir_fixups.leaky_slopes(program) == [0.1, 0.1]


def test_without_correction_the_interpolation_scales_fail_with_the_converter_error(trouble):
    with pytest.raises(ox.OnnxExportError) as info:
        ox.convert_to_onnx(trouble, trouble / "raw.onnx", correct_pir=False)
    assert "the 0th elementwise MUST be ir::FloatAttribute" in str(info.value)
    assert "pir_fixups.FLOAT_READ" in str(info.value)
    assert not (trouble / "raw.onnx").exists()


@pytest.mark.slow
def test_with_correction_onnxruntime_and_openvino_give_paddles_outputs(trouble, tmp_path):
    conv = ox.convert_to_onnx(trouble, trouble / "model.onnx", samples=_x())
    assert conv.parity.ok and conv.parity.outputs[0].max_abs_diff < 1e-5
    assert sorted(str(c).split(":")[0] for c in conv.corrections) == [
        "bilinear_interp#0.scale", "leaky_relu#0.negative_slope",
        "leaky_relu#1.negative_slope", "nearest_interp#0.scale"]
    model = onnx.load(str(conv.onnx_path))
    alphas = [a.f for n in model.graph.node if n.op_type == "LeakyRelu" for a in n.attribute]
    assert alphas == pytest.approx([0.1, 0.2])
    ops = {n.op_type for n in model.graph.node}
    assert {"Resize", "HardSwish", "LeakyRelu"} <= ops
    source = json.loads({p.key: p.value for p in model.metadata_props}[ox.METADATA_SOURCE])
    assert len(source["corrections"]) == 4
    feed = _x(batch=3, seed=9)
    want = _paddle(trouble, feed)
    assert float(np.ptp(next(iter(want.values())))) > 0.05, "non-degenerate outputs"
    for backend in ("onnxruntime", "openvino"):
        if backend == "openvino":
            pytest.importorskip("openvino")
        pred = LocalPredictor(trouble, backend=backend, thread_num=1)
        got = pred.predict(feed)
        assert got.keys() == want.keys()
        for k in want:
            np.testing.assert_allclose(got[k], want[k], rtol=1e-4, atol=1e-6, err_msg=backend)


@pytest.fixture(scope="module")
def leaky(tmp_path_factory):
    """conv + leaky_relu(0.3), PIR (the slope stored as a double)."""
    import paddle

    class Leaky(paddle.nn.Layer):
        def __init__(self):
            super().__init__()
            self.conv = paddle.nn.Conv2D(3, 4, 3, padding=1)

        def forward(self, x):
            return paddle.nn.functional.leaky_relu(self.conv(x), negative_slope=0.3)

    paddle.seed(1)
    layer = Leaky()
    layer.eval()
    d = tmp_path_factory.mktemp("leaky03")
    paddle.jit.save(paddle.jit.to_static(layer, input_spec=[paddle.static.InputSpec(
        [None, 3, 8, 8], "float32", "x")], full_graph=True), str(d / "model"))
    return d


def test_the_judges_verdict_names_the_output_and_its_difference(leaky, tmp_path):
    """Uncorrected, with the backend parity rules as judge (what scaffold new uses): the
    refusal names the output and the measured difference; corrected, the same judge passes."""
    feed = {"x": np.random.default_rng(2).standard_normal((1, 3, 8, 8)).astype("f4")}
    with pytest.raises(ox.OnnxParityError) as info:
        ox.convert_to_onnx(leaky, tmp_path / "a.onnx", samples=feed, correct_pir=False,
                           judge=outputs_equivalent)
    problem = info.value.report.problem
    assert problem.startswith("fetch_name_0: max abs diff ") and "of max" in problem
    assert f"Paddle Inference's ({problem})" in str(info.value)
    assert "LeakyRelu" in str(info.value)  # the likely cause is named too
    conv = ox.convert_to_onnx(leaky, tmp_path / "b.onnx", samples=feed,
                              judge=outputs_equivalent)
    assert conv.parity.ok and [c.attribute for c in conv.corrections] == ["negative_slope"]


def test_leaky_relu_alpha_is_set_from_the_pir_program_after_conversion(leaky, tmp_path):
    """paddle2onnx on the unmodified program writes LeakyRelu with a garbage alpha; the
    correction after conversion reads the slope from the program and ONNX Runtime then agrees."""
    d = leaky
    log, rc = ox._run_paddle2onnx(d / "model.json", d / "model.pdiparams", tmp_path / "r.onnx",
                                  16, 300)
    assert rc == 0, log
    model = onnx.load(str(tmp_path / "r.onnx"))
    (node,) = [n for n in model.graph.node if n.op_type == "LeakyRelu"]
    assert abs(node.attribute[0].f - 0.3) > 0.1  # the misread (Paddle2ONNX#1646)
    feed = {"x": np.random.default_rng(0).standard_normal((2, 3, 8, 8)).astype("f4")}
    want = next(iter(_paddle(d, feed).values()))

    def run(m):
        sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
        return sess.run(None, feed)[0]

    assert np.abs(run(model) - want).max() > 0.05  # wrong as converted
    done = pir_fixups.fix_leaky_relu(model, pir_fixups.load_program(d / "model.json"))
    assert [(c.attribute, c.after) for c in done] == [("alpha", pytest.approx(0.3))]
    np.testing.assert_allclose(run(model), want, rtol=1e-5, atol=1e-6)
    assert pir_fixups.fix_leaky_relu(model, pir_fixups.load_program(d / "model.json")) == []


@pytest.mark.slow
def test_tiny_yolo_with_nms_converts_with_correction_only(yolo, tmp_path):
    with pytest.raises(ox.OnnxExportError, match="MUST be ir::FloatAttribute"):
        ox.convert_to_onnx(yolo.model_dir, tmp_path / "raw.onnx", correct_pir=False)
    conv = ox.convert_to_onnx(yolo.model_dir)
    assert conv.parity.ok and conv.max_batch_size == 1 and conv.checked_batch == 1
    bbox, num = conv.parity.outputs
    assert bbox.exported_shape[0] > 0 and num.max_abs_diff == 0
    feed = yolo.example_feed(batch=1, seed=4)
    feed["im_shape"][:] = 64
    want = _paddle(yolo.model_dir, feed)
    pytest.importorskip("openvino")
    pred = LocalPredictor(yolo.model_dir, backend="openvino", thread_num=1)
    got = pred.predict(feed)
    assert got[yolo.output_names[1]].tolist() == want[yolo.output_names[1]].tolist()
    assert got[yolo.output_names[1]].dtype == want[yolo.output_names[1]].dtype
    same, note = outputs_equivalent(got, want)  # rows matched (NMS order may differ)
    assert same, note
    two = {k: np.concatenate([v, v]) for k, v in feed.items()}
    with pytest.raises(PredictorError, match="batch size <= 1"):
        pred.predict(two)
