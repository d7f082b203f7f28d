"""Building a toolkit-exact `Preprocessor` from an exported model's `Preprocess` list."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from generator import imaging
from generator.imaging import ImageDecodeError
from generator.preprocess.base import ImInfo, PreprocessConfigError, PreprocessOp, new_im_info
from generator.preprocess.ops_ppcls import PPCLS_OPS
from generator.preprocess.ops_ppdet import PPDET_OPS
from generator.preprocess.ops_ppseg import PPSEG_OPS

__all__ = ["TOOLKITS", "Preprocessor", "build_preprocess", "supported_ops"]

#: Op vocabulary per toolkit: "ppdet" (infer_cfg.yml `Preprocess`), "ppcls" (inference.yml
#: `PreProcess.transform_ops`), "ppseg" (deploy.yaml `Deploy.transforms`).
TOOLKITS: dict[str, dict[str, type[PreprocessOp]]] = {
    "ppdet": PPDET_OPS,
    "ppcls": PPCLS_OPS,
    "ppseg": PPSEG_OPS,
}

#: Ops that are part of decoding (the Preprocessor input is already decoded RGB).
_SKIPPED = {"ppdet": {"Decode", "DecodeImage"}, "ppcls": set(), "ppseg": set()}


def supported_ops(toolkit: str) -> list[str]:
    """Names of the ops `build_preprocess` accepts for `toolkit`."""
    return sorted(_vocabulary(toolkit))


def _vocabulary(toolkit: str) -> dict[str, type[PreprocessOp]]:
    try:
        return TOOLKITS[toolkit]
    except KeyError:
        raise PreprocessConfigError(f"unknown toolkit {toolkit!r}; use one of "
                                    f"{sorted(TOOLKITS)}") from None


def _split_spec(spec: Any, index: int) -> tuple[str, dict[str, Any]]:
    """`{type: Name, **params}` (PaddleDetection, PaddleSeg) or `{Name: params|None}`
    (PaddleClas) -> (name, params)."""
    if isinstance(spec, str):
        return spec, {}
    if not isinstance(spec, Mapping):
        raise PreprocessConfigError(f"Preprocess op #{index} must be a mapping, got {spec!r}")
    if "type" in spec:
        params = {k: v for k, v in spec.items() if k != "type"}
        return str(spec["type"]), params
    if len(spec) == 1:
        (name, params), = spec.items()
        if params is None:
            params = {}
        if not isinstance(params, Mapping):
            raise PreprocessConfigError(f"Preprocess op #{index} {name}: parameters must be a "
                                        f"mapping, got {params!r}")
        return str(name), dict(params)
    raise PreprocessConfigError(f"Preprocess op #{index} has no 'type' key and is not a "
                                f"single-key {{OpName: params}} mapping: {dict(spec)!r}")


class Preprocessor:
    """Decoded RGB HWC uint8 image -> (CHW model input, im_info).

    im_info: `im_shape` float32 [h, w] of the resized image, `scale_factor` float32 [sy, sx]
    (resized / original, as PaddleDetection computes it), `ori_shape` (h, w) of the input."""

    def __init__(self, toolkit: str, ops: Sequence[PreprocessOp]):
        self.toolkit = toolkit
        self.ops = list(ops)

    def __call__(self, image_rgb: np.ndarray) -> tuple[np.ndarray, ImInfo]:
        image_rgb = np.asarray(image_rgb)
        if image_rgb.ndim != 3 or image_rgb.shape[2] != 3:
            raise ValueError(f"Preprocessor expects an RGB HWC image with 3 channels, got shape "
                             f"{image_rgb.shape}; decode with decode_rgb()")
        info = new_im_info(image_rgb)
        im = image_rgb.astype(np.float32) if self.toolkit == "ppseg" else image_rgb
        for op in self.ops:
            try:
                im, info = op(im, info)
            except ValueError as exc:  # about this image (the ops' config was checked)
                raise ImageDecodeError(f"{self.toolkit} preprocess op {op.name} failed on an "
                                       f"image of shape {image_rgb.shape}: {exc}") from exc
        if self.toolkit == "ppseg":
            im = imaging.hwc_to_chw(im)
        if not np.issubdtype(im.dtype, np.floating):
            im = im.astype(np.float32)
        return np.ascontiguousarray(im), info

    def decode_rgb(self, data: bytes | str, *, is_base64: bool = False) -> np.ndarray:
        """Decode encoded image bytes (or base64 text) to RGB HWC uint8."""
        if is_base64 or isinstance(data, str):
            return imaging.decode_base64(data, to_rgb=True)
        return imaging.decode_bytes(data, to_rgb=True)

    def process_encoded(self, data: bytes | str, *, is_base64: bool = False,
                        ) -> tuple[np.ndarray, ImInfo]:
        """Decode then preprocess."""
        return self(self.decode_rgb(data, is_base64=is_base64))

    def __repr__(self) -> str:
        return f"Preprocessor({self.toolkit!r}, {self.ops!r})"


def build_preprocess(ops: Sequence[Any] | None, toolkit: str) -> Preprocessor:
    """Build a `Preprocessor` from a Preprocess list of `toolkit` ("ppdet", "ppcls", "ppseg").

    Raises `PreprocessConfigError` naming the op and listing the supported ops for an unknown
    op, and naming the bad parameter for invalid parameters."""
    vocab = _vocabulary(toolkit)
    built: list[PreprocessOp] = []
    for index, spec in enumerate(ops or []):
        name, params = _split_spec(spec, index)
        if name in _SKIPPED[toolkit]:
            continue
        cls = vocab.get(name)
        if cls is None:
            raise PreprocessConfigError(
                f"unsupported {toolkit} preprocess op #{index} {name!r}; supported ops for "
                f"{toolkit}: {', '.join(sorted(vocab))}")
        try:
            built.append(cls(**params))
        except TypeError as exc:
            raise PreprocessConfigError(f"{toolkit} preprocess op #{index} {name}: invalid "
                                        f"parameters {params!r}: {exc}") from exc
        except (ValueError, KeyError) as exc:
            raise PreprocessConfigError(f"{toolkit} preprocess op #{index} {name}: "
                                        f"{exc}") from exc
    if toolkit in ("ppdet", "ppcls") and not any(op.to_chw for op in built):
        needed = "Permute" if toolkit == "ppdet" else "ToCHWImage"
        raise PreprocessConfigError(f"the {toolkit} Preprocess list {[op.name for op in built]} "
                                    f"has no {needed}: the model input is CHW; add {needed}")
    return Preprocessor(toolkit, built)
