"""Assembling a model feed from preprocessed images."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from generator import imaging
from generator.preprocess.base import ImInfo

__all__ = ["INFO_FEEDS", "make_feed"]

#: Feed names filled from `im_info` (stacked to [B, 2] float32); every other feed name is
#: the image tensor.
INFO_FEEDS = ("im_shape", "scale_factor")


def make_feed(images: Sequence[tuple[np.ndarray, ImInfo]],
              feed_names: Sequence[str]) -> dict[str, np.ndarray]:
    """Stack preprocessed `(chw, im_info)` pairs into the feed dict of a model whose inputs are
    `feed_names` (its ACTUAL input names, e.g. from the predictor or serving_server_conf).

    The image feed is the one feed not in `INFO_FEEDS`; images of different sizes are
    zero-padded bottom/right to the batch's max H, W (PaddleDetection batching). Only the
    model's feeds are returned, so no unexpected key reaches the predictor (Paddle Serving's
    err 5000 "invalid arg list")."""
    if not images:
        raise ValueError("make_feed needs at least one image")
    if not feed_names:
        raise ValueError("make_feed needs the model's input names (feed_names is empty)")
    image_feeds = [n for n in feed_names if n not in INFO_FEEDS]
    if len(image_feeds) != 1:
        raise ValueError(f"cannot tell which model input is the image among {list(feed_names)}: "
                         f"expected exactly one input besides {list(INFO_FEEDS)}, found "
                         f"{image_feeds}")
    feed: dict[str, np.ndarray] = {}
    for name in feed_names:
        if name in INFO_FEEDS:
            feed[name] = np.stack([np.asarray(info[name], dtype=np.float32).reshape(2)
                                   for _, info in images]).astype(np.float32)
        else:
            batch = imaging.stack_padded([np.asarray(im) for im, _ in images])
            feed[name] = np.ascontiguousarray(batch)
    return feed
