"""The uci_housing example of the Paddle Serving wheel: its request row and the price Paddle
Inference gives for it directly (the oracle of the tests that serve that example)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

UCI_X = ("0.0137, -0.1136, 0.2553, -0.0692, 0.0582, -0.0727, -0.1583, -0.0584, 0.6283, 0.4919, "
     "0.1856, 0.0795, -0.0332")
OLD_IMPORT = "from paddle_serving_server.web_service import WebService, Op"
NEW_IMPORT = "from generator.runtime import WebService, Op"


def direct_price(model_dir: Path) -> np.ndarray:
    """The price for UCI_X from Paddle Inference itself (legacy program, oneDNN off)."""
    import paddle.inference as pi

    config = pi.Config(str(model_dir))
    config.enable_new_ir(False)
    config.disable_mkldnn()
    predictor = pi.create_predictor(config)
    handle = predictor.get_input_handle(predictor.get_input_names()[0])
    handle.copy_from_cpu(np.array([[float(v) for v in UCI_X.split(",")]], dtype=np.float32))
    predictor.run()
    return predictor.get_output_handle(predictor.get_output_names()[0]).copy_to_cpu()


def numbers(text: str) -> np.ndarray:
    """The floats written in `text` (a served price, in Paddle Serving's string form)."""
    return np.array([float(v) for v in re.findall(r"-?\d+\.\d*(?:e[-+]?\d+)?", text)])
