"""Loading `.pdparams` into a network with strict key and shape checking."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np

from .errors import WeightsError, WeightsMismatchError


class RandomWeightsWarning(UserWarning):
    """The model was built without weights: its parameters are random."""


def resolve_weights_path(weights: str | Path) -> Path:
    """PaddleDetection's rule: a path without `.pdparams` gets it appended. URLs are refused."""
    text = str(weights)
    if "://" in text:
        raise WeightsError(
            f"weights {text} is a URL; scaffold does not download anything. Download it yourself "
            "and pass the local file: -o weights=/path/to/model.pdparams"
        )
    path = Path(text).expanduser()
    if path.suffix != ".pdparams":
        path = path.with_name(path.name + ".pdparams")
    if not path.is_file():
        raise WeightsError(
            f"weights file {path} not found (from `weights: {text}`). Pass the trained file with "
            "-o weights=/path/to/model_final.pdparams, or -o weights= (empty) to build with "
            "random weights"
        )
    return path


def _shape(value: Any) -> list[int]:
    return [int(d) for d in getattr(value, "shape", np.asarray(value).shape)]


def check_state_dict(
    expected: dict[str, Any], given: dict[str, Any], source: str = "<weights>"
) -> None:
    """Raise `WeightsMismatchError` unless `given` has exactly the keys and shapes of `expected`."""
    missing = [k for k in expected if k not in given]
    unexpected = [k for k in given if k not in expected]
    wrong = [
        (k, _shape(given[k]), _shape(expected[k]))
        for k in expected
        if k in given and _shape(given[k]) != _shape(expected[k])
    ]
    if missing or unexpected or wrong:
        raise WeightsMismatchError(source, missing, unexpected, wrong)


def load_weights(layer: Any, weights: str | Path) -> Path:
    """Load a `.pdparams` file into `layer` strictly (every key, every shape); returns the path."""
    import paddle

    path = resolve_weights_path(weights)
    try:
        state = paddle.load(str(path))
    except Exception as exc:  # paddle raises several types for corrupt files
        raise WeightsError(f"cannot read weights {path}: {exc}") from exc
    if not isinstance(state, dict):
        raise WeightsError(f"{path} does not hold a state dict (got {type(state).__name__})")
    check_state_dict(layer.state_dict(), state, str(path))
    own = layer.state_dict()
    converted = {}
    for key, value in state.items():
        arr = value.numpy() if hasattr(value, "numpy") else np.asarray(value)
        converted[key] = arr.astype(own[key].numpy().dtype, copy=False)
    layer.set_state_dict(converted)
    return path


def warn_random_weights(name: str) -> None:
    """Say loudly that `name` has random parameters."""
    warnings.warn(
        f"{name}: no weights given, the network has RANDOM parameters and its detections are "
        "meaningless. Pass trained weights with -o weights=/path/to/model_final.pdparams "
        "(or `model.weights` in a native config).",
        RandomWeightsWarning,
        stacklevel=3,
    )
