"""Warm-up: dummy inputs of a model's real rank and dtype (`warmup_feed`), one inference on them
(`warmup`), and the start-up check that its outputs look sane (`warm_up`: a truncated or
mismatched weights file fails start-up instead of the first request)."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from generator.runtime.errors import PredictorError
from generator.runtime.inference.warmup_check import malformed_outputs

logger = logging.getLogger(__name__)

#: Spatial size given to dynamic image dimensions by `warmup` when nothing else is known.
WARMUP_IMAGE_SIDE = 64


def warmup_feed(predictor: Any, batch_size: int = 1) -> dict[str, np.ndarray] | None:
    """Dummy inputs of the model's real rank and dtype (None if a rank is unknown).

    Dimensions come from the model where they are fixed, else from the prototxt, else
    WARMUP_IMAGE_SIDE for image sides and 1 otherwise. Zeros are fed, except
    `scale_factor` (ones) and `im_shape` (the image's H, W).
    """
    shapes: dict[str, tuple[int, ...]] = {}
    for f in predictor._feeds:
        info = predictor._input_info.get(f.name)
        dims = list(info.shape) if info is not None and info.shape else None
        if dims is None:
            if f.reshape is None:
                return None
            dims = [-1, *f.reshape]
        known = f.reshape if f.reshape and len(f.reshape) == len(dims) - 1 else None
        for i in range(1, len(dims)):
            if dims[i] < 0:
                dims[i] = known[i - 1] if known and known[i - 1] > 0 else (
                    WARMUP_IMAGE_SIDE if len(dims) == 4 and i >= 2 else 1)
        dims[0] = batch_size
        shapes[f.name] = tuple(dims)
    image = next((s for s in shapes.values() if len(s) == 4), None)
    feed: dict[str, np.ndarray] = {}
    for f in predictor._feeds:
        shape = shapes[f.name]
        if "scale_factor" in f.name:
            feed[f.alias] = np.ones(shape, dtype=f.dtype)
        elif "im_shape" in f.name and image is not None and shape[1:] == (2,):
            feed[f.alias] = np.tile(np.asarray(image[2:], dtype=f.dtype), (batch_size, 1))
        else:
            feed[f.alias] = np.zeros(shape, dtype=f.dtype)
    return feed


def warmup(predictor: Any, batch_size: int = 1) -> bool:
    """Run one inference on `warmup_feed` inputs; False (nothing run) if a rank is unknown."""
    feed = warmup_feed(predictor, batch_size)
    if feed is None:
        return False
    predictor.predict(feed, batch=True, log_id=-1)
    return True


def warm_up(op_name: str, predictor: Any) -> None:
    """One inference on the predictor's warm-up inputs. Raises PredictorError when the outputs
    are empty, not finite, or not of the shape the model declares (`warmup_check`: a truncated
    or mismatched weights file); an input the model rejects is only a warning."""
    feed_of = getattr(predictor, "warmup_feed", None)
    feed = feed_of() if feed_of is not None else None
    if feed is None:
        return
    try:
        out = predictor.predict(feed, batch=True, log_id=-1)
    except Exception as exc:  # noqa: BLE001 - the synthetic input may not suit the model
        logger.warning("[%s] warm-up inference failed (not checked): %s", op_name, exc)
        return
    problem = malformed_outputs(out, getattr(predictor, "fetch_vars", []),
                                getattr(predictor, "program_output_shapes", None))
    if problem:
        raise PredictorError(
            f"Op '{op_name}': the model at {getattr(predictor, 'model_dir', '?')} gives "
            f"{problem} for a valid warm-up input ({', '.join(f'{k} {v.shape}' for k, v in feed.items())}); "
            "its weights file may be truncated or not match the program: re-export the model")
