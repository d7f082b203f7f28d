"""Common pieces of the toolkit preprocessing ops: the `im_info` record, errors and the
parameter handling every op shares."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["ImInfo", "PreprocessConfigError", "PreprocessOp", "new_im_info", "rescale_info"]

#: `{"im_shape": float32 [h, w] of the resized image, "scale_factor": float32 [sy, sx],
#: "ori_shape": (h, w) of the decoded image}`.
ImInfo = dict[str, Any]


class PreprocessConfigError(ValueError):
    """A `Preprocess` list names an unknown op or gives an op invalid parameters."""


def new_im_info(image: np.ndarray) -> ImInfo:
    """im_info of a freshly decoded image: its own shape, scale 1 (PaddleDetection
    `decode_image`)."""
    h, w = image.shape[:2]
    return {"im_shape": np.array([h, w], dtype=np.float32),
            "scale_factor": np.array([1.0, 1.0], dtype=np.float32),
            "ori_shape": (int(h), int(w))}


def rescale_info(info: ImInfo, before: tuple[int, int], after: tuple[int, int]) -> None:
    """Record a resize from `before` to `after` (h, w): the new shape and the accumulated
    per-axis factors `after / before` (for toolkits whose resize op does not report factors)."""
    sy = after[0] / float(before[0])
    sx = after[1] / float(before[1])
    info["im_shape"] = np.array(after, dtype=np.float32)
    info["scale_factor"] = (np.asarray(info["scale_factor"], dtype=np.float64)
                            * np.array([sy, sx])).astype(np.float32)


class PreprocessOp:
    """One configured op: `op(image, im_info) -> (image, im_info)`. Subclasses set `name`
    and validate their parameters in `__init__` (unknown parameters raise TypeError)."""

    name = "?"
    #: The op turns HWC into CHW (the model input layout).
    to_chw = False

    def __call__(self, im: np.ndarray, info: ImInfo) -> tuple[np.ndarray, ImInfo]:
        raise NotImplementedError

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{self.name}({params})"
