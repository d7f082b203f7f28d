"""Start-up warm-up against prototxts written the way Paddle Serving 0.9's converter writes them
(`inference_model_to_serving` / `save_model`: only the dims >= 0, `shape: -1` for LoD
variables, none at all for a [-1] variable): a DB text detector, a CRNN recogniser with a LoD
output and a multiclass_nms3 detector start; outputs the model or the prototxt contradict are
still refused."""

from __future__ import annotations

import re
import shutil

import pytest

from generator.runtime.errors import PredictorError
from generator.runtime.inference.predictor import LocalPredictor
from generator.runtime.inference.warmup import warm_up
from generator.runtime.inference.warmup_check import fits_program, fits_prototxt, malformed_outputs
from generator.serving_model import read_model_config
from tests.examples.test_port_paddle_serving import OCR_FETCH, _save_ocr_models
from tests.helpers.tiny_models import (
    SavedModel,
    VarSpec,
    save_linear_model,
    save_tiny_detector,
    write_serving_server,
)

NUM_CHARS = 5


@pytest.fixture(scope="module")
def ocr_models(tmp_path_factory):
    """The official OCR example's two models (DB det, CRNN-style rec), converter prototxts."""
    work = tmp_path_factory.mktemp("ocr")
    _save_ocr_models(work, NUM_CHARS)
    return work


def _conf(model_dir):
    conf = read_model_config(model_dir)
    return ([(v.shape, v.is_lod_tensor) for v in conf.feed_vars],
            [(v.shape, v.is_lod_tensor) for v in conf.fetch_vars])


@pytest.mark.parametrize(("declared", "actual", "fits"), [
    ((3,), (1, 3, 64, 64), True),          # feed [-1, 3, -1, -1]
    ((1,), (1, 1, 64, 64), True),          # fetch [-1, 1, -1, -1]
    ((6,), (7, 6), True),                  # multiclass_nms3 bbox [-1, 6]
    ((3, 32), (1, 3, 32, 100), True),      # rec feed [-1, 3, 32, -1]
    ((3, -1, -1), (1, 3, 64, 64), True),   # hand-written per-sample shape, -1 dynamic
    ((1, 3, 224, 224), (1, 3, 224, 224), True),  # fixed batch dim is written too
    ((32, 3), (1, 3, 32, 100), False),     # fixed dims out of order
    ((2,), (1, 1, 64, 64), False),
    ((1000,), (1, 10), False),
])
def test_prototxt_dims_must_appear_in_order(declared, actual, fits):
    assert fits_prototxt(declared, actual) is fits


@pytest.mark.parametrize(("declared", "actual", "fits"), [
    ((-1, 1, -1, -1), (1, 1, 64, 64), True),
    ((-1, 6), (0, 6), True),
    ((-1, 1), (1, 85), False),            # a fixed dim unlike the program's
    ((-1, 1, -1, -1), (1, 64, 64), False),  # another rank
])
def test_program_rank_and_fixed_dims(declared, actual, fits):
    assert fits_program(declared, actual) is fits


def test_db_detector_with_converter_prototxt_warms_up(ocr_models):
    det = ocr_models / "ocr_det_model"
    # x [-1, 3, -1, -1] -> `shape: 3`; the map [-1, 1, -1, -1] -> `shape: 1`
    assert _conf(det) == ([((3,), False)], [((1,), False)])
    p = LocalPredictor(det)
    assert p.program_output_shapes == {OCR_FETCH: (-1, 1, -1, -1)}
    assert p.program_input_shapes == {"x": (-1, 3, -1, -1)}
    feed = p.warmup_feed()
    assert feed["x"].shape == (1, 3, 64, 64)
    warm_up("det", p)  # the failure: "declares [1] per sample"
    assert p.predict(feed)[OCR_FETCH].shape == (1, 1, 64, 64)
    # `shape: 3` is no per-sample shape: a nested list keeps its own (not reshaped to [-1, 3])
    assert p.predict({"x": feed["x"].tolist()})[OCR_FETCH].shape == (1, 1, 64, 64)


def test_crnn_recogniser_with_lod_output_warms_up(ocr_models, tmp_path):
    rec = ocr_models / "ocr_rec_model"
    raw = tmp_path / "rec"
    shutil.copytree(rec, raw)
    out_name = read_model_config(rec).fetch_vars[0].name
    # the converter writes a LoD variable (lod_level >= 1) as `is_lod_tensor: true, shape: -1`
    model = SavedModel(raw, "pir", sorted(raw.iterdir()), [VarSpec("x", "float32", (None, 3, 32, None))],
                       [VarSpec(out_name, "float32", (None, None, NUM_CHARS + 2), is_lod=True)])
    write_serving_server(model, fetch_alias_names=["ctc_greedy_decoder_0.tmp_0"])
    assert _conf(raw) == ([((3, 32), False)], [((-1,), True)])
    p = LocalPredictor(raw)
    assert p.warmup_feed()["x"].shape == (1, 3, 32, 64)
    warm_up("rec", p)
    # the non-LoD prototxt of the same model: `shape: 7` (the dictionary size + 2)
    assert _conf(rec)[1] == [((NUM_CHARS + 2,), False)]
    warm_up("rec", LocalPredictor(rec))


def test_multiclass_nms3_detector_with_converter_prototxt_warms_up(tmp_path):
    det = save_tiny_detector(tmp_path / "det", image_size=None)
    write_serving_server(det)
    feeds, fetches = _conf(det.model_dir)
    # image [-1,3,-1,-1] -> 3; im_shape, scale_factor [-1,2] -> 2; bbox [-1,6] -> 6; bbox_num [-1] -> none
    assert feeds == [((3,), False), ((2,), False), ((2,), False)]
    assert sorted(fetches) == [((), False), ((6,), False)]
    p = LocalPredictor(det.model_dir)
    feed = p.warmup_feed()
    assert feed["image"].shape == (1, 3, 64, 64) and feed["im_shape"].tolist() == [[64, 64]]
    warm_up("det", p)


def test_a_prototxt_dim_the_output_lacks_is_refused(ocr_models, tmp_path):
    det = tmp_path / "det"
    shutil.copytree(ocr_models / "ocr_det_model", det)
    conf = det / "serving_server_conf.prototxt"
    text = conf.read_text()
    fetch_at = text.index("fetch_var")
    conf.write_text(text[:fetch_at] + re.sub(r"shape: 1\b", "shape: 2", text[fetch_at:]))
    p = LocalPredictor(det)
    with pytest.raises(PredictorError, match=r"lacks the dims \[2\].*serving_server_conf"):
        warm_up("det", p)


def test_truncated_weights_are_still_refused(tmp_path):
    m = save_linear_model(tmp_path / "linear", fmt="pir", seed=1)
    write_serving_server(m, fetch_alias_names=["price"])
    assert _conf(m.model_dir)[1] == [((1,), False)]
    params = next(m.model_dir.glob("*.pdiparams"))
    params.write_bytes(params.read_bytes()[: params.stat().st_size // 2])
    p = LocalPredictor(m.model_dir)
    # the half-read weights give another output size each run: (1, 0), (1, 85), ...
    with pytest.raises(PredictorError, match=r"price.*truncated"):
        warm_up("lin", p)


def test_without_program_shapes_the_prototxt_still_decides():
    import numpy as np

    class Var:
        def __init__(self, shape, lod=False):
            self.alias_name, self.shape, self.is_lod_tensor = "y", shape, lod
            self.dtype, self.dtype_code = "float32", 1

    out = {"y": np.zeros((1, 1, 64, 64), np.float32)}
    assert malformed_outputs(out, [Var((1,))]) == ""
    assert malformed_outputs(out, [Var((-1,), lod=True)]) == ""
    assert malformed_outputs(out, [Var(())]) == ""
    assert "lacks the dims [3]" in malformed_outputs(out, [Var((3,))])
    # where the program's shape is known, its rank and fixed dims decide first
    wide = {"y": np.zeros((1, 85), np.float32)}
    assert fits_prototxt((1,), wide["y"].shape)  # the batch dim holds the 1...
    assert "model program declares [-1, 1]" in malformed_outputs(wide, [Var((1,))], {"y": (-1, 1)})
    assert malformed_outputs(out, [Var((1,))], {"y": (-1, 1, -1, -1)}) == ""


def test_trt_shapes_of_a_converter_prototxt_have_the_programs_rank(ocr_models):
    from generator.scaffold.model_source import trt_dynamic_shapes

    shapes = trt_dynamic_shapes(ocr_models / "ocr_det_model", max_batch=4)  # feed `shape: 3`
    assert shapes == {"min": {"x": [1, 3, 32, 32]}, "opt": {"x": [1, 3, 640, 640]},
                      "max": {"x": [4, 3, 1280, 1280]}}
