"""Build a weight-compatible YOLOv3 from a PaddleDetection config or from a native config.

* `build_ppdet_model(cfg, config_path)`: a config loaded by `load_ppdet_config`.
* `build_native_yolov3(model_section, config)`: registered as architecture `YOLOv3` for the
  native schema (`model: {arch: YOLOv3, args: {...}, weights: ...}`); see `serving_configs/`.

Both go through `YOLOv3Spec`, so the same network comes out of both descriptions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from generator.models import BuiltModel, register_architecture

from .config import export_options as read_export_options
from .config import input_shapes, section
from .errors import PpdetConfigError, UnsupportedArchitectureError
from .infer_cfg import build_infer_cfg, preprocess_list
from .labels import default_labels
from .spec import (
    BACKBONES,
    DEFAULT_ANCHOR_MASKS,
    DEFAULT_ANCHORS,
    NMSParams,
    Normalization,
    YOLOBoxParams,
    YOLOv3Spec,
)
from .weights import load_weights, warn_random_weights

_BACKBONE_DEFAULTS: dict[str, dict[str, Any]] = {
    "DarkNet": {"depth": 53, "return_idx": [2, 3, 4], "num_stages": 5},
    "MobileNet": {
        "scale": 1,
        "feature_maps": [4, 6, 13],
        "with_extra_blocks": False,
        "extra_block_filters": [[256, 512], [128, 256], [128, 256], [64, 128]],
    },
}
_YOLOBOX_KEYS = ("conf_thresh", "downsample_ratio", "clip_bbox", "scale_x_y")
_NMS_KEYS = (
    "score_threshold", "nms_top_k", "keep_top_k", "nms_threshold", "normalized", "nms_eta",
)  # fmt: skip
#: keys that do not change the network (training-only, device placement, export switches)
_IGNORED_NMS_KEYS = ("name", "cpu", "trt", "return_index", "return_rois_num")


def _check_format(data_format: Any, where: str) -> None:
    if data_format not in (None, "NCHW"):
        raise UnsupportedArchitectureError("YOLOv3", f"{where} data_format {data_format!r}")


def _decode_params(sec: Mapping[str, Any]) -> YOLOBoxParams:
    if sec.get("name", "YOLOBox") != "YOLOBox":
        raise UnsupportedArchitectureError("YOLOv3", f"decode {sec.get('name')!r}")
    kw = {k: sec[k] for k in _YOLOBOX_KEYS if k in sec and sec[k] is not None}
    return YOLOBoxParams(
        conf_thresh=float(kw.get("conf_thresh", 0.005)),
        downsample_ratio=int(kw.get("downsample_ratio", 32)),
        clip_bbox=bool(kw.get("clip_bbox", True)),
        scale_x_y=float(kw.get("scale_x_y", 1.0)),
    )


def _nms_params(sec: Mapping[str, Any], background_label: int) -> NMSParams:
    if sec.get("name", "MultiClassNMS") != "MultiClassNMS":
        raise UnsupportedArchitectureError("YOLOv3", f"nms {sec.get('name')!r}")
    unknown = sorted(set(sec) - set(_NMS_KEYS) - set(_IGNORED_NMS_KEYS) - {"background_label"})
    if unknown:
        raise PpdetConfigError(f"MultiClassNMS has unknown keys {unknown}")
    defaults = NMSParams()
    return NMSParams(
        score_threshold=float(sec.get("score_threshold", defaults.score_threshold)),
        nms_top_k=int(sec.get("nms_top_k", defaults.nms_top_k)),
        keep_top_k=int(sec.get("keep_top_k", defaults.keep_top_k)),
        nms_threshold=float(sec.get("nms_threshold", defaults.nms_threshold)),
        normalized=bool(sec.get("normalized", defaults.normalized)),
        nms_eta=float(sec.get("nms_eta", defaults.nms_eta)),
        background_label=int(sec.get("background_label", background_label)),
    )


def _normalization(transforms: list[Any]) -> Normalization:
    """Mean/std of the first NormalizeImage (PaddleDetection's `load_meanstd` defaults else)."""
    for item in transforms:
        if isinstance(item, Mapping) and "NormalizeImage" in item:
            p = item["NormalizeImage"] or {}
            return Normalization(
                mean=tuple(float(v) for v in p.get("mean", Normalization.mean)),
                std=tuple(float(v) for v in p.get("std", Normalization.std)),
                is_scale=bool(p.get("is_scale", True)),
            )
    return Normalization()


def _backbone(name: Any, args: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    if name not in BACKBONES:
        raise UnsupportedArchitectureError("YOLOv3", f"backbone {name!r}")
    _check_format(args.get("data_format"), str(name))
    if name == "DarkNet" and int(args.get("depth", 53)) != 53:
        raise UnsupportedArchitectureError("YOLOv3", f"DarkNet depth {args.get('depth')}")
    merged = dict(_BACKBONE_DEFAULTS[name])
    merged.update({k: v for k, v in args.items() if k in merged})
    return name, merged


def _head_args(head: Mapping[str, Any]) -> tuple[list[list[int]], list[list[int]]]:
    if head.get("iou_aware"):
        raise UnsupportedArchitectureError("YOLOv3", "YOLOv3Head with iou_aware (PP-YOLO)")
    _check_format(head.get("data_format"), "YOLOv3Head")
    anchors = [[int(v) for v in a] for a in head.get("anchors", DEFAULT_ANCHORS)]
    masks = [[int(v) for v in m] for m in head.get("anchor_masks", DEFAULT_ANCHOR_MASKS)]
    return anchors, masks


def spec_from_ppdet(cfg: Mapping[str, Any], config_path: Path | None = None) -> YOLOv3Spec:
    """Read a YOLOv3 spec from a loaded PaddleDetection config (PaddleDetection's `create`)."""
    where = str(config_path) if config_path else None
    architecture = cfg.get("architecture")
    if architecture != "YOLOv3":
        raise UnsupportedArchitectureError(str(architecture), config_path=where)
    arch = cfg.get("YOLOv3") or {}
    parts = {
        "backbone": arch.get("backbone", "DarkNet"),
        "neck": arch.get("neck", "YOLOv3FPN"),
        "yolo_head": arch.get("yolo_head", "YOLOv3Head"),
        "post_process": arch.get("post_process", "BBoxPostProcess"),
    }
    expected = {"neck": "YOLOv3FPN", "yolo_head": "YOLOv3Head", "post_process": "BBoxPostProcess"}
    names = {k: (v.get("name") if isinstance(v, Mapping) else v) for k, v in parts.items()}
    odd = [f"{k} {names[k]}" for k, v in expected.items() if names[k] != v]
    if names["backbone"] not in BACKBONES:
        odd.insert(0, f"backbone {names['backbone']}")
    if odd:
        raise UnsupportedArchitectureError("YOLOv3", "with " + ", ".join(odd), where)
    norm_type = cfg.get("norm_type", "bn")
    if norm_type not in ("bn", "sync_bn"):
        raise UnsupportedArchitectureError("YOLOv3", f"norm_type {norm_type!r}", where)
    _check_format(cfg.get("data_format"), "model")
    bb = section(cfg, parts["backbone"], {})
    backbone, bb_args = _backbone(bb["name"], bb)
    section(cfg, parts["neck"], {})  # YOLOv3FPN's in_channels come from the backbone
    anchors, masks = _head_args(section(cfg, parts["yolo_head"], {}))
    num_classes = int(cfg.get("num_classes", 80))
    post = section(cfg, parts["post_process"], {})
    decode = section(cfg, post.get("decode") or "YOLOBox", {})
    nms_ref = post.get("nms")
    if nms_ref is None:
        raise UnsupportedArchitectureError("YOLOv3", "BBoxPostProcess without nms", where)
    nms = section(cfg, nms_ref, {})
    reader = cfg.get("TestReader") or {}
    normalization = None
    if reader.get("fuse_normalize"):
        normalization = _normalization(list(reader.get("sample_transforms") or []))
    return YOLOv3Spec(
        backbone=backbone,
        backbone_args=bb_args,
        num_classes=num_classes,
        anchors=anchors,
        anchor_masks=masks,
        decode=_decode_params(decode),
        nms=_nms_params(nms, background_label=num_classes),
        normalization=normalization,
    )


def _input_spec(image_shape: list[int | None], batch: int | None = None) -> list[Any]:
    from paddle.static import InputSpec

    return [
        InputSpec(shape=list(image_shape), dtype="float32", name="image"),
        InputSpec(shape=[batch, 2], dtype="float32", name="im_shape"),
        InputSpec(shape=[batch, 2], dtype="float32", name="scale_factor"),
    ]


def _sample_inputs(image_shape: list[int | None], normalized: bool):
    """Callable giving one image (with a non-unit scale_factor) for parity checks."""
    import numpy as np

    h = image_shape[2] if image_shape[2] not in (None, -1) else 320
    w = image_shape[3] if image_shape[3] not in (None, -1) else 320

    def make() -> dict[str, Any]:
        rng = np.random.default_rng(0)
        img = rng.random((1, 3, h, w), dtype=np.float32)
        img = img * 255.0 if not normalized else (img - 0.45) / 0.225
        return {
            "image": img.astype(np.float32),
            "im_shape": np.array([[h, w]], dtype=np.float32),
            "scale_factor": np.array([[h / 480.0, w / 640.0]], dtype=np.float32),
        }

    return make


def _finish(
    spec: YOLOv3Spec,
    weights: Any,
    name: str,
    image_shape: list[int | None],
    batch: int | None,
    infer_cfg: dict[str, Any],
    fuse_bn: bool = False,
    load: bool = True,
) -> BuiltModel:
    from .yolov3 import YOLOv3, fuse_conv_bn

    layer = YOLOv3(spec)
    if weights in (None, ""):
        warn_random_weights(name)
    elif load:
        load_weights(layer, weights)
    layer.eval()
    if fuse_bn:
        fuse_conv_bn(layer)
    return BuiltModel(
        layer=layer,
        input_spec=_input_spec(image_shape, batch),
        infer_cfg=infer_cfg,
        label_list=list(infer_cfg.get("label_list") or []),
        task="detection",
        fixed_input_shape_target="image",
        sample_inputs=_sample_inputs(image_shape, normalized=spec.normalization is None),
    )


def build_ppdet_model(cfg: dict[str, Any], config_path: Path) -> BuiltModel:
    """Build YOLOv3 (DarkNet53 / MobileNetV1) from a loaded PaddleDetection config.

    Weights come from `cfg["weights"]` (strict key/shape check, `WeightsMismatchError` with a
    key-by-key report); no weights -> random parameters and a `RandomWeightsWarning`.
    Other architectures raise `UnsupportedArchitectureError` naming the ways forward.
    """
    config_path = Path(config_path)
    spec = spec_from_ppdet(cfg, config_path)
    shapes = input_shapes(cfg)
    search = [Path.cwd()]
    for parent in config_path.resolve().parents:
        if parent.name == "configs":
            search.append(parent.parent)
            break
    infer_cfg = build_infer_cfg(cfg, search)
    opts = read_export_options(cfg)
    return _finish(
        spec,
        cfg.get("weights"),
        str(cfg.get("filename") or config_path.stem),
        shapes.image,
        shapes.im_shape[0],
        infer_cfg,
        fuse_bn=opts.fuse_conv_bn,
    )


# ---------------------------------------------------------------------------------------------
# native schema


def spec_from_native(args: Mapping[str, Any]) -> YOLOv3Spec:
    """Read a YOLOv3 spec from the native `model.args` (see `serving_configs/yolov3*.yml`)."""
    known = {
        "num_classes", "image_shape", "backbone", "neck", "head", "decode", "nms",
        "fuse_normalize", "metric", "draw_threshold",
    }  # fmt: skip
    unknown = sorted(set(args) - known)
    if unknown:
        raise PpdetConfigError(
            f"model.args of YOLOv3 has unknown keys {unknown}; known: {sorted(known)}"
        )
    bb = dict(args.get("backbone") or {"name": "DarkNet"})
    backbone, bb_args = _backbone(bb.get("name"), bb)
    neck = dict(args.get("neck") or {})
    if neck.get("name", "YOLOv3FPN") != "YOLOv3FPN":
        raise UnsupportedArchitectureError("YOLOv3", f"neck {neck.get('name')!r}")
    head = dict(args.get("head") or {})
    if head.get("name", "YOLOv3Head") != "YOLOv3Head":
        raise UnsupportedArchitectureError("YOLOv3", f"head {head.get('name')!r}")
    anchors, masks = _head_args(head)
    num_classes = int(args.get("num_classes", 80))
    return YOLOv3Spec(
        backbone=backbone,
        backbone_args=bb_args,
        num_classes=num_classes,
        anchors=anchors,
        anchor_masks=masks,
        decode=_decode_params(dict(args.get("decode") or {})),
        nms=_nms_params(dict(args.get("nms") or {}), background_label=num_classes),
    )


def _native_image_shape(args: Mapping[str, Any]) -> list[int | None]:
    shape = args.get("image_shape", [3, -1, -1])
    if not isinstance(shape, list) or len(shape) != 3:
        raise PpdetConfigError(f"model.args.image_shape must be [3, H, W], got {shape!r}")
    return [None, *[int(v) for v in shape]]


def native_infer_cfg(args: Mapping[str, Any], config: Mapping[str, Any]) -> dict[str, Any]:
    """infer_cfg.yml content for a native YOLOv3 config, by PaddleDetection's rules."""
    image_shape = _native_image_shape(args)
    steps = config.get("preprocess")
    if not isinstance(steps, list) or not steps:
        raise PpdetConfigError(
            "a native YOLOv3 config needs a `preprocess:` list in infer_cfg vocabulary, e.g. "
            "[{type: Resize, target_size: [608, 608], keep_ratio: false, interp: 2}, "
            "{type: NormalizeImage, ...}, {type: Permute}]"
        )
    transforms: list[dict[str, Any]] = [{"Decode": {}}]
    for step in steps:
        if not isinstance(step, Mapping) or "type" not in step:
            raise PpdetConfigError(f"preprocess step {step!r} needs a `type:`")
        transforms.append({step["type"]: {k: v for k, v in step.items() if k != "type"}})
    from .config import InputShapes

    shapes = InputShapes(image=image_shape, im_shape=[None, 2], scale_factor=[None, 2])
    reader = {"sample_transforms": transforms, "fuse_normalize": bool(args.get("fuse_normalize"))}
    metric = str(args.get("metric", config.get("metric", "COCO")))
    labels = config.get("labels")
    if labels is None or isinstance(labels, str):
        label_list = default_labels(labels or metric)
    else:
        label_list = [str(v) for v in labels]
    return {
        "mode": "paddle",
        "draw_threshold": float(args.get("draw_threshold", config.get("draw_threshold", 0.5))),
        "metric": metric,
        "use_dynamic_shape": image_shape[2] == -1,
        "arch": "YOLO",
        "min_subgraph_size": 3,
        "Preprocess": preprocess_list(reader, shapes),
        "label_list": label_list,
    }


@register_architecture("YOLOv3")
def build_native_yolov3(model_section: dict[str, Any], config: dict[str, Any]) -> BuiltModel:
    """Native-schema builder: `model: {arch: YOLOv3, args: {...}, weights: path|null}`.

    `model.weights` is NOT loaded here: the export layer (`generator.export.native_config`)
    resolves it relative to the config file and loads it into `BuiltModel.layer` (state_dict
    names are PaddleDetection's). With no weights a `RandomWeightsWarning` is issued.
    `args.metric` / `args.draw_threshold` (or the same top-level keys) go to infer_cfg.yml.
    """
    args = dict(model_section.get("args") or {})
    spec = spec_from_native(args)
    if args.get("fuse_normalize"):
        steps = [
            {s["type"]: {k: v for k, v in s.items() if k != "type"}}
            for s in config.get("preprocess") or []
            if isinstance(s, Mapping) and "type" in s
        ]
        spec = replace(spec, normalization=_normalization(steps))
    infer_cfg = native_infer_cfg(args, config)
    return _finish(
        spec,
        model_section.get("weights"),
        str(config.get("name", "yolov3")),
        _native_image_shape(args),
        None,
        infer_cfg,
        load=False,
    )
