"""Paddle Serving's LocalPredictor usage ports with the import line only."""

from __future__ import annotations

import numpy as np
import pytest

from generator.runtime import LocalPredictor
from generator.runtime.errors import PredictorError
from tests.helpers.tiny_models import linear_reference, save_linear_model, write_serving_server


def test_load_model_config_then_predict(tmp_path):
    model = save_linear_model(tmp_path / "uci", fmt="pir", seed=3)
    write_serving_server(model, fetch_alias_names=["price"])
    predictor = LocalPredictor()
    with pytest.raises(PredictorError, match="load_model_config"):
        predictor.predict({"x": np.zeros((1, 13), np.float32)})
    predictor.load_model_config(str(model.model_dir), use_gpu=False, thread_num=1, ir_optim=True)
    x = np.random.default_rng(0).standard_normal((3, 13)).astype(np.float32)
    out = predictor.predict(feed={"x": x}, fetch=["price"], batch=True)
    np.testing.assert_allclose(out["price"], linear_reference(x, model), rtol=1e-5, atol=1e-6)
    with pytest.raises(PredictorError, match="not supported"):
        LocalPredictor().load_model_config(str(model.model_dir), use_xpu=True)
