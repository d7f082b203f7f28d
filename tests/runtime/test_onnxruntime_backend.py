"""`OnnxRuntimeEngine`: the `Engine` protocol on ONNX Runtime, with the Paddle program's names
(read from the metadata `convert_to_onnx` writes), compared with Paddle Inference."""

from __future__ import annotations

import json
import shutil
import threading

import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="onnx not installed (pip install onnx)")
pytest.importorskip("onnxruntime", reason="onnxruntime not installed (pip install onnxruntime)")
pytest.importorskip("paddle2onnx", reason="paddle2onnx not installed (pip install paddle2onnx)")

from generator.export import onnx_export as ox  # noqa: E402
from generator.runtime.errors import PredictorError  # noqa: E402
from generator.runtime.inference.backends import onnx_names  # noqa: E402
from generator.runtime.inference.backends.base import BACKENDS, TensorInfo  # noqa: E402
from generator.runtime.inference.backends.onnxruntime_backend import OnnxRuntimeEngine  # noqa: E402
from tests.helpers.tiny_models import save_conv_classifier, save_tiny_detector  # noqa: E402


def _paddle_outputs(model_dir, feed):
    from paddle import inference

    config = inference.Config(str(model_dir / "model.json"), str(model_dir / "model.pdiparams"))
    config.disable_mkldnn()
    config.disable_glog_info()
    pred = inference.create_predictor(config)
    for name in pred.get_input_names():
        h = pred.get_input_handle(name)
        h.reshape(list(feed[name].shape))
        h.copy_from_cpu(feed[name])
    pred.run()
    return {n: pred.get_output_handle(n).copy_to_cpu() for n in pred.get_output_names()}


@pytest.fixture(scope="module")
def classifier(tmp_path_factory):
    m = save_conv_classifier(tmp_path_factory.mktemp("ort_cls") / "m", num_classes=5)
    ox.convert_to_onnx(m.model_dir)
    return m


def _with_metadata(src_dir, dst_dir, **changes):
    """A copy of src_dir's model.onnx with metadata entries replaced (None: removed)."""
    dst_dir.mkdir()
    model = onnx.load(str(src_dir / "model.onnx"))
    meta = {p.key: p.value for p in model.metadata_props}
    for key, value in changes.items():
        if value is None:
            meta.pop(key, None)
        else:
            meta[key] = value
    del model.metadata_props[:]
    onnx.helper.set_model_props(model, meta)
    onnx.save(model, str(dst_dir / "model.onnx"))
    return dst_dir


@pytest.mark.slow
def test_engine_matches_paddle(classifier):
    engine = OnnxRuntimeEngine(classifier.model_dir, thread_num=2)
    assert engine.backend == "onnxruntime" in BACKENDS and engine.releases_gil is True
    (out_name,) = classifier.output_names
    assert engine.inputs == [TensorInfo("x", "float32", (-1, 3, 32, 32))]
    assert engine.outputs == [TensorInfo(out_name, "float32", (-1, 5))]
    feed = classifier.example_feed(batch=3, seed=4)
    result = engine.run(feed, {}, [out_name])
    arr, lod = result[out_name]
    assert lod is None and arr.shape == (3, 5) and arr.dtype == np.float32
    np.testing.assert_allclose(arr, _paddle_outputs(classifier.model_dir, feed)[out_name],
                               rtol=1e-5, atol=1e-7)


@pytest.mark.slow
def test_clones_share_the_session_across_threads(classifier):
    engine = OnnxRuntimeEngine(classifier.model_dir, thread_num=1)
    (out_name,) = classifier.output_names
    feeds = [classifier.example_feed(batch=2, seed=s) for s in range(4)]
    expected = [engine.run(f, {}, [out_name])[out_name][0] for f in feeds]
    clones = [engine.clone() for _ in feeds]
    assert all(c._session is engine._session and c.outputs == engine.outputs for c in clones)
    got: dict[int, np.ndarray] = {}

    def work(k):
        for _ in range(5):
            got[k] = clones[k].run(feeds[k], {}, [out_name])[out_name][0]

    threads = [threading.Thread(target=work, args=(k,)) for k in range(len(feeds))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for k, want in enumerate(expected):
        np.testing.assert_array_equal(got[k], want)


@pytest.mark.slow
def test_mapped_names_and_dtypes_come_from_metadata(classifier, tmp_path):
    """Paddle names differing from ONNX's are exposed (ONNX's kept as aliases) and Paddle's
    output dtype is restored."""
    (out_name,) = classifier.output_names
    inputs = [{"onnx": "x", "paddle": "image", "dtype": "float32"}]
    outputs = [{"onnx": out_name, "paddle": "prob", "dtype": "float64"}]
    d = _with_metadata(classifier.model_dir, tmp_path / "renamed",
                       **{onnx_names.METADATA_INPUTS: json.dumps(inputs),
                          onnx_names.METADATA_OUTPUTS: json.dumps(outputs)})
    engine = OnnxRuntimeEngine(d, thread_num=1)
    assert engine.inputs == [TensorInfo("image", "float32", (-1, 3, 32, 32), ("x",))]
    assert engine.outputs == [TensorInfo("prob", "float64", (-1, 5), (out_name,))]
    x = classifier.example_feed(batch=2)["x"]
    arr, _ = engine.run({"image": x}, {}, ["prob"])["prob"]
    assert arr.dtype == np.float64
    np.testing.assert_allclose(arr, _paddle_outputs(classifier.model_dir, {"x": x})[out_name],
                               rtol=1e-5, atol=1e-7)
    assert engine.run({"image": x}, {}, [out_name])[out_name][0].dtype == np.float64
    with pytest.raises(PredictorError, match="unknown output 'nope'"):
        engine.run({"image": x}, {}, ["nope"])
    # an ONNX model converted elsewhere (no mapping) is used with its own names
    plain = _with_metadata(classifier.model_dir, tmp_path / "plain",
                           **{onnx_names.METADATA_INPUTS: None, onnx_names.METADATA_OUTPUTS: None})
    other = OnnxRuntimeEngine(plain, thread_num=1)
    assert [t.name for t in other.inputs] == ["x"]
    assert [t.name for t in other.outputs] == [out_name]


@pytest.mark.slow
def test_clear_errors(classifier, tmp_path):
    (out_name,) = classifier.output_names
    engine = OnnxRuntimeEngine(classifier.model_dir, thread_num=1)
    feed = classifier.example_feed(batch=1)
    with pytest.raises(PredictorError, match="does not take LoD inputs"):
        engine.run(feed, {"x": [0, 1]}, [out_name])
    for precision in ("bf16", "fp16", "int8"):
        with pytest.raises(PredictorError, match="fp32 models only"):
            OnnxRuntimeEngine(classifier.model_dir, thread_num=1, precision=precision)
    empty = tmp_path / "no_onnx"
    empty.mkdir()
    shutil.copy(classifier.model_dir / "model.json", empty)
    with pytest.raises(PredictorError, match=r"no ONNX model.*scaffold export -c CONFIG "
                                             r"--format onnx"):
        OnnxRuntimeEngine(empty, thread_num=1)
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "model.onnx").write_bytes(b"not an onnx model")
    with pytest.raises(PredictorError, match="ONNX Runtime cannot load the model"):
        OnnxRuntimeEngine(broken, thread_num=1)


@pytest.mark.slow
def test_detector_runs_at_batch_one_only(tmp_path):
    det = save_tiny_detector(tmp_path / "det")
    ox.convert_to_onnx(det.model_dir)
    engine = OnnxRuntimeEngine(det.model_dir, thread_num=1)
    assert engine.max_batch_size == 1
    assert [t.name for t in engine.inputs] == det.input_names
    assert [(t.name, t.dtype) for t in engine.outputs] == [
        (v.name, v.dtype) for v in det.outputs]
    feed = det.example_feed(batch=1)
    feed["im_shape"][:] = 64
    got = engine.run(feed, {}, det.output_names)
    want = _paddle_outputs(det.model_dir, feed)
    for name in det.output_names:
        np.testing.assert_allclose(got[name][0], want[name], rtol=1e-4, atol=1e-4)
    assert got[det.output_names[0]][0].shape[0] == int(want[det.output_names[1]][0]) > 0
    two = {k: np.concatenate([v, v]) for k, v in feed.items()}
    with pytest.raises(PredictorError, match="batch size <= 1.*multiclass_nms3"):
        engine.run(two, {}, det.output_names)
