"""Stand-in Paddle 3 toolkit exports for tests: small networks in each toolkit's exact export format.

Every `save_*` function writes a folder as the toolkit's exporter writes it for PaddleX
(`inference.json` + `inference.pdiparams` from `paddle.jit.save` under PIR, and `inference.yml`
with the layout, key order and YAML style of that exporter, training-only ops included) and
returns a `StandInExport`. The networks are tiny (KBs, built in well under a second each) but
keep the real models' input/output names, shapes and dtypes, and their weights are not
degenerate: each one responds to dark ink on a light background, so the drawn test images
(`draw_text_lines`, `draw_shapes`) give distinct boxes, texts, classes and scores.

| function | model_name | toolkit (exporter) | input -> output |
|---|---|---|---|
| `save_ppocr_det` | PP-OCRv5_mobile_det | PaddleOCR 3 `ppocr/utils/export_model.py` | x [-1,3,-1,-1] -> DB map [-1,1,H,W] (sigmoid) |
| `save_ppocr_rec` | PP-OCRv5_mobile_rec | PaddleOCR 3 | x [-1,3,48,-1] -> softmax [-1,W/8,len(dict)+2] |
| `save_textline_ori` | PP-LCNet_x0_25_textline_ori | PaddleClas (`export_for_fd`) | x [-1,3,80,160] -> softmax [-1,2] |
| `save_picodet` | PicoDet-S | PaddleDetection `--for_fd` | image [-1,3,416,416], scale_factor [1,2] -> bbox [N,6], bbox_num [B] |
| `save_ppyoloe` | PP-YOLOE_plus-S | PaddleDetection `--for_fd` | image [-1,3,640,640], scale_factor [-1,2] -> bbox [N,6], bbox_num [B] |
| `save_paddleclas` | PP-LCNet_x1_0 | PaddleClas (`export_for_fd`) | x [-1,3,224,224] -> softmax [-1,1000] |
| `save_paddleseg` | PP-LiteSeg-T | PaddleSeg `--for_fd` | x [-1,3,-1,-1] -> argmax int32 [-1,H,W] |

The rec dict is `REC_DICT` unless given; CTC classes are blank + dict + " " (PaddleOCR's
`use_space_char`). PicoDet's graph ends in `multiclass_nms3` with the thresholds the exporter
bakes in (score 0.3, IoU 0.5) and, like a real random-weight PicoDet, gives boxes that extend
past the image border (PaddleX clips them). `scale_factor` is `[1, 2]` as PaddleDetection writes
it for a 4-element `image_shape`.

    det = save_ppocr_det(tmp_path / "det")
    img = draw_text_lines(640, 480, ["ab12", "hello"])  # BGR uint8
"""

from __future__ import annotations

import copy
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from tests.helpers.tiny_models import VarSpec

REC_DICT = list("0123456789abcdefghijklmnopqrstuvwxyz") + ["é", "中", "文", "-", ":"]
COCO_LABELS = (
    "person,bicycle,car,motorcycle,airplane,bus,train,truck,boat,traffic light,fire hydrant,"
    "stop sign,parking meter,bench,bird,cat,dog,horse,sheep,cow,elephant,bear,zebra,giraffe,"
    "backpack,umbrella,handbag,tie,suitcase,frisbee,skis,snowboard,sports ball,kite,baseball bat,"
    "baseball glove,skateboard,surfboard,tennis racket,bottle,wine glass,cup,fork,knife,spoon,bowl,"
    "banana,apple,sandwich,orange,broccoli,carrot,hot dog,pizza,donut,cake,chair,couch,potted plant,"
    "bed,dining table,toilet,tv,laptop,mouse,remote,keyboard,cell phone,microwave,oven,toaster,sink,"
    "refrigerator,book,clock,vase,scissors,teddy bear,hair drier,toothbrush"
).split(",")
CITYSCAPES_CLASSES = 19
IMAGENET_CLASSES = 1000
MEAN, STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]


@dataclass
class StandInExport:
    """A stand-in export folder: what was written and what a reader should find in it."""

    model_dir: Path
    model_name: str
    toolkit: str  # "PaddleOCR", "PaddleDetection", "PaddleClas", "PaddleSeg"
    kind: str  # text_detection, text_recognition, textline_orientation, detection, ...
    inputs: list[VarSpec]
    outputs: list[VarSpec]
    labels: list[str] = field(default_factory=list)  # class names, or the rec dict

    @property
    def yml(self) -> dict[str, Any]:
        """The written inference.yml, parsed."""
        return yaml.safe_load((self.model_dir / "inference.yml").read_text(encoding="utf-8"))


# ----------------------------------------------------------------------------- yaml writers


class _OrderedDumper(yaml.Dumper):
    """yaml.Dumper that keeps OrderedDict order (the toolkits' `setup_orderdict`); plain dicts
    are written with sorted keys, as `yaml.dump` does by default."""


_OrderedDumper.add_representer(
    OrderedDict, lambda d, data: d.represent_mapping("tag:yaml.org,2002:map", data.items())
)


def _dump(path: Path, data: Any, **kw: Any) -> None:
    with open(path, "w", encoding="utf-8") as f:
        yaml.dump(data, f, Dumper=_OrderedDumper, **kw)


def _hpi_ppocr(shapes: list[list[int]]) -> dict[str, Any]:
    """PaddleOCR's `Hpi` block (uniform_output_enabled): one dynamic-shape dict shared by both
    backends, so YAML writes it once with an anchor, as in the real files."""
    common = {"x": shapes}
    return {"backend_configs": {"paddle_infer": {"trt_dynamic_shapes": common},
                                "tensorrt": {"dynamic_shapes": common}}}


def _hpi_paddlex(input_name: str, shape: list[int]) -> dict[str, Any]:
    """The `Hpi` block PaddleDetection/PaddleClas/PaddleSeg copy from PaddleX's hpi config."""
    return {
        "backend_config": {
            "paddle_infer": {"cpu_num_threads": 8, "enable_log_info": False},
            "tensorrt": {"dynamic_shapes": {input_name: [shape, shape, shape]},
                         "max_batch_size": 1},
        },
        "selected_backends": {"cpu": "paddle_infer", "gpu": "paddle_infer"},
        "supported_backends": {"cpu": ["paddle_infer"], "gpu": ["paddle_infer", "tensorrt"]},
    }


# ----------------------------------------------------------------------------- networks
# Built lazily so that importing this module does not import paddle.


def _bilinear_up4(paddle: Any) -> Any:
    """A Conv2DTranspose that upsamples one channel 4x bilinearly (DB heads upsample with
    transposed convs)."""
    up = paddle.nn.Conv2DTranspose(1, 1, 8, stride=4, padding=2, bias_attr=False)
    f = 1 - np.abs(np.arange(8) - 3.5) / 4
    up.weight.set_value(np.outer(f, f).reshape(1, 1, 8, 8).astype("float32"))
    return up


def _darkness(paddle: Any, x: Any) -> Any:
    """Mean over channels of -x: about +2 on black ink, -2 on white (normalized input)."""
    return -paddle.mean(x, axis=1, keepdim=True)


def _networks() -> dict[str, Any]:
    import paddle
    from paddle import nn
    from paddle.nn import functional as F

    class DBDet(nn.Layer):
        """The DB map: ink pooled at stride 4, plus conv noise computed at stride 8 and
        upsampled 2x by `interpolate(scale_factor=2)` as PP-OCRv5's RSEFPN neck does (the op
        whose double-array attribute Paddle 3.3.1's oneDNN cannot run), then a transposed-conv
        4x upsampling as DB heads have."""

        def __init__(self, backbone: bool = False) -> None:
            super().__init__()
            self.c1 = nn.Conv2D(3, 8, 3, stride=2, padding=1)
            self.c2 = nn.Conv2D(8, 1, 3, stride=4, padding=1)
            self.up = _bilinear_up4(paddle)
            self.backbone = None
            if backbone:  # benchmarks: a real detector's compute (see PicoDet)
                from paddle.vision.models import MobileNetV3Large

                paddle.seed(21)
                self.backbone = MobileNetV3Large(num_classes=0, with_pool=False)
                self.proj = nn.Conv2D(960, 1, 1)

        def forward(self, x):
            # glyphs of a line merge: the ink is pooled over 4x12 px (a line's gaps are ~3 px)
            ink = F.avg_pool2d(_darkness(paddle, x), (4, 12), 4, (0, 4), ceil_mode=True)
            noise = F.interpolate(self.c2(F.relu(self.c1(x))), scale_factor=2, mode="nearest")
            if self.backbone is not None:  # stride 32 -> 4 (inputs are multiples of 32)
                noise = noise + F.interpolate(self.proj(self.backbone(x)), scale_factor=8,
                                              mode="nearest")
            return F.sigmoid(self.up(4.0 * ink + noise + 2.0))

    class CTCRec(nn.Layer):
        """Smooth features (means of 8x4 blocks, then a 1x3 conv of stride 2), so a crop
        warped by another OpenCV build (a few grey levels on edge pixels) reads the same."""

        def __init__(self, num_classes: int) -> None:
            super().__init__()
            self.c1 = nn.Conv2D(18, 48, (1, 3), stride=(1, 2), padding=(0, 1))
            self.fc = nn.Linear(48, num_classes)

        def forward(self, x):
            blocks = F.avg_pool2d(x, (8, 4), ceil_mode=True)  # [N, 3, 6, W/4]
            y = F.relu(self.c1(paddle.reshape(blocks, [0, 18, 1, -1])))  # [N, 48, 1, W/8]
            logits = self.fc(paddle.transpose(paddle.squeeze(y, axis=2), [0, 2, 1]))
            light = F.avg_pool2d(paddle.mean(x, axis=1, keepdim=True), (48, 8), ceil_mode=True)
            light = paddle.transpose(paddle.squeeze(light, axis=2), [0, 2, 1])
            blank = logits[:, :, :1] + 6.0 * light
            return F.softmax(paddle.concat([blank, logits[:, :, 1:]], axis=-1), axis=-1)

    class Classifier(nn.Layer):
        def __init__(self, num_classes: int, ink_gain: float = 0.0) -> None:
            super().__init__()
            self.c1 = nn.Conv2D(3, 16, 3, stride=4, padding=1)
            self.c2 = nn.Conv2D(16, 32, 3, stride=2, padding=1)
            self.fc = nn.Linear(32, num_classes)
            self.ink_gain = ink_gain

        def forward(self, x):
            y = F.adaptive_avg_pool2d(F.relu(self.c2(F.relu(self.c1(x)))), 1)
            logits = self.fc(paddle.flatten(y, 1))
            if self.ink_gain:  # text-line orientation: ink low in the line -> class 1
                ink = _darkness(paddle, x)
                h = ink.shape[2] // 2
                diff = paddle.mean(ink[:, :, h:, :], axis=[1, 2, 3]) - paddle.mean(
                    ink[:, :, :h, :], axis=[1, 2, 3])
                logits = logits + self.ink_gain * paddle.stack([-diff, diff], axis=1)
            return F.softmax(logits, axis=-1)

    class PicoDet(nn.Layer):
        """Anchor-free head on one stride-16 level, decoded to original pixels with
        scale_factor, then multiclass_nms3 (score threshold, top k, keep k, IoU threshold)."""

        stride = 16

        def __init__(self, num_classes: int, nms: tuple[float, int, int, float],
                     in_affine: tuple[float, float] = (1.0, 0.0), backbone: bool = False) -> None:
            super().__init__()
            self.nms = nms
            # benchmarks: PicoDet-S's compute class (~0.8 GFLOPs at 416: MobileNetV3-large at
            # stride 32 with Paddle's own seeded init, whose output is tiny, projected into the
            # stride-16 map: the answers still come from the small head)
            self.backbone = None
            if backbone:
                from paddle.vision.models import MobileNetV3Large

                paddle.seed(20)
                self.backbone = MobileNetV3Large(num_classes=0, with_pool=False)
                self.proj = nn.Conv2D(960, 32, 1)
            self.in_affine = in_affine  # image * a + b: fed 0..1 (norm_type none) -> ~N(0, 1)
            self.c1 = nn.Conv2D(3, 16, 3, stride=4, padding=1)
            self.c2 = nn.Conv2D(16, 32, 3, stride=4, padding=1)
            self.c3 = nn.Conv2D(32, 32, 3, stride=2, padding=1)
            self.cls = nn.Conv2D(32, num_classes, 1)
            self.reg = nn.Conv2D(32, 4, 1)

        def forward(self, image, scale_factor):
            if self.in_affine != (1.0, 0.0):
                image = image * self.in_affine[0] + self.in_affine[1]
            feat = F.relu(self.c2(F.relu(self.c1(image))))
            # a stride-32 level upsampled into stride 16, as PicoDet's LCPAN neck does (with
            # the oneDNN-incompatible interpolate)
            feat = feat + F.interpolate(F.relu(self.c3(feat)), scale_factor=2, mode="nearest")
            if self.backbone is not None:
                deep = self.proj(self.backbone(image))
                feat = feat + 0.05 * F.interpolate(deep, size=feat.shape[2:], mode="nearest")
            ink = F.avg_pool2d(_darkness(paddle, image), self.stride)
            scores = F.sigmoid(self.cls(feat) + 2.0 * ink - 1.5)  # [N,C,h,w]
            n, c, h, w = scores.shape
            ys = (paddle.arange(h, dtype="float32") + 0.5) * self.stride
            xs = (paddle.arange(w, dtype="float32") + 0.5) * self.stride
            cy = paddle.expand(paddle.reshape(ys, [1, h, 1]), [1, h, w])
            cx = paddle.expand(paddle.reshape(xs, [1, 1, w]), [1, h, w])
            d = paddle.exp(self.reg(feat)) * (2.0 * self.stride)  # distances l, t, r, b
            boxes = paddle.stack([cx - d[:, 0], cy - d[:, 1], cx + d[:, 2], cy + d[:, 3]], -1)
            sy, sx = scale_factor[:, 0:1], scale_factor[:, 1:2]
            scale = paddle.reshape(paddle.concat([sx, sy, sx, sy], axis=1), [-1, 1, 4])
            boxes = paddle.reshape(boxes, [-1, h * w, 4]) / scale
            scores = paddle.reshape(scores, [-1, c, h * w])
            out, _index, num = paddle._C_ops.multiclass_nms3(
                boxes, scores, None, *self.nms, True, 1.0, -1)
            return out, num

    class LiteSeg(nn.Layer):
        def __init__(self, num_classes: int) -> None:
            super().__init__()
            self.c1 = nn.Conv2D(3, 16, 3, stride=2, padding=1)
            self.c2 = nn.Conv2D(16, num_classes, 3, padding=1)

        def forward(self, x):
            logit = self.c2(F.relu(self.c1(x)))
            ink = F.avg_pool2d(_darkness(paddle, x), 2, ceil_mode=True)
            logit = paddle.concat([logit[:, :1] + 3.0 * ink, logit[:, 1:]], axis=1)
            logit = F.interpolate(logit, paddle.shape(x)[2:], mode="bilinear")
            return paddle.argmax(logit, axis=1, dtype="int32")

    return {"det": DBDet, "rec": CTCRec, "cls": Classifier, "picodet": PicoDet, "seg": LiteSeg}


def _seed(layer: Any, seed: int, gains: dict[str, float] | None = None) -> None:
    """He-normal weights from a numpy RNG (reproducible across Paddle versions), zero biases;
    `gains` multiplies the weights of parameters whose name starts with a key. Fixed parameters
    (the bilinear upsampler) are left alone."""
    rng = np.random.default_rng(seed)
    for name, p in layer.named_parameters():
        if name.startswith(("up.", "backbone.")):  # fixed / Paddle's own init (benchmarks)
            continue
        shape = list(p.shape)
        if name.endswith("bias"):
            value = np.zeros(shape)
        else:
            fan_in = shape[0] if len(shape) == 2 else int(np.prod(shape[1:]))
            value = rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)
            for key, g in (gains or {}).items():
                if name.startswith(key):
                    value = value * g
        p.set_value(value.astype("float32"))


def _jit_save(layer: Any, specs: list[VarSpec], model_dir: Path) -> None:
    import paddle

    layer.eval()
    spec = [paddle.static.InputSpec([-1 if d is None else d for d in v.shape], v.dtype, v.name)
            for v in specs]
    static = paddle.jit.to_static(layer, input_spec=spec, full_graph=True)
    model_dir.mkdir(parents=True, exist_ok=True)
    paddle.jit.save(static, str(model_dir / "inference"))


def _output_specs(model_dir: Path, dtypes: list[str], shapes: list[tuple]) -> list[VarSpec]:
    import paddle.inference as pi

    config = pi.Config(str(model_dir / "inference.json"), str(model_dir / "inference.pdiparams"))
    config.disable_glog_info()
    config.disable_mkldnn()
    names = pi.create_predictor(config).get_output_names()
    return [VarSpec(n, t, s) for n, t, s in zip(names, dtypes, shapes, strict=True)]


# ----------------------------------------------------------------------------- PaddleOCR


def _ppocr_yml(model_name: str, hpi: dict[str, Any], transforms: list[dict[str, Any]],
               postprocess: OrderedDict) -> OrderedDict:
    return OrderedDict([("Global", {"model_name": model_name}), ("Hpi", hpi),
                        ("PreProcess", {"transform_ops": transforms}),
                        ("PostProcess", postprocess)])


def save_ppocr_det(model_dir: str | Path, model_name: str = "PP-OCRv5_mobile_det",
                   seed: int = 0, backbone: bool = False) -> StandInExport:
    """A DB text detector as PaddleOCR 3 exports it (Eval transforms with `DetLabelEncode` and
    `KeepKeys`, `DBPostProcess` params). Ink maps to ~1, paper to ~0, with conv noise;
    `backbone`: with a real detector's compute (benchmarks)."""
    d = Path(model_dir)
    layer = _networks()["det"](backbone)
    _seed(layer, seed, {"c2": 0.15})
    inputs = [VarSpec("x", "float32", (None, 3, None, None))]
    _jit_save(layer, inputs, d)
    norm = {"scale": "1./255.", "mean": MEAN, "std": STD, "order": "hwc"}
    transforms = [
        {"DecodeImage": {"img_mode": "BGR", "channel_first": False}},
        {"DetLabelEncode": None},
        {"DetResizeForTest": None},
        {"NormalizeImage": norm},
        {"ToCHWImage": None},
        {"KeepKeys": {"keep_keys": ["image", "shape", "polys", "ignore_tags"]}},
    ]
    post = OrderedDict([("name", "DBPostProcess"), ("thresh", 0.3), ("box_thresh", 0.6),
                        ("max_candidates", 1000), ("unclip_ratio", 1.5)])
    hpi = _hpi_ppocr([[1, 3, 160, 160], [1, 3, 640, 640], [1, 3, 1280, 1280]])
    _dump(d / "inference.yml", _ppocr_yml(model_name, hpi, transforms, post),
          default_flow_style=False, allow_unicode=True)
    outputs = _output_specs(d, ["float32"], [(None, 1, None, None)])
    return StandInExport(d, model_name, "PaddleOCR", "text_detection", inputs, outputs)


def save_ppocr_rec(model_dir: str | Path, model_name: str = "PP-OCRv5_mobile_rec",
                   character_dict: list[str] | None = None, seed: int = 0) -> StandInExport:
    """A CTC text recognizer as PaddleOCR 3 exports it (`MultiLabelEncode`, `RecResizeImg`,
    `KeepKeys`; `CTCLabelDecode` with `character_dict`). Paper columns decode to blank."""
    d = Path(model_dir)
    chars = list(character_dict or REC_DICT)
    layer = _networks()["rec"](len(chars) + 2)
    _seed(layer, seed, {"fc": 3.0})
    inputs = [VarSpec("x", "float32", (None, 3, 48, None))]
    _jit_save(layer, inputs, d)
    transforms = [
        {"DecodeImage": {"img_mode": "BGR", "channel_first": False}},
        {"MultiLabelEncode": {"gtc_encode": "NRTRLabelEncode"}},
        {"RecResizeImg": {"image_shape": [3, 48, 320]}},
        {"KeepKeys": {"keep_keys": ["image", "label_ctc", "label_gtc", "length", "valid_ratio"]}},
    ]
    post = OrderedDict([("name", "CTCLabelDecode"), ("character_dict", chars)])
    hpi = _hpi_ppocr([[1, 3, 48, 160], [1, 3, 48, 320], [8, 3, 48, 3200]])
    _dump(d / "inference.yml", _ppocr_yml(model_name, hpi, transforms, post),
          default_flow_style=False, allow_unicode=True)
    outputs = _output_specs(d, ["float32"], [(None, None, len(chars) + 2)])
    return StandInExport(d, model_name, "PaddleOCR", "text_recognition", inputs, outputs, chars)


# ----------------------------------------------------------------------------- PaddleClas


def _ppcls_yml(model_name: str, size: list[int], resize: dict[str, Any],
               labels: list[str], topk: int) -> OrderedDict:
    """PaddleClas `dump_infer_config`: Infer transforms minus DecodeImage, NormalizeImage's
    scale as a float and `channel_num: 3`, `PostProcess: {Topk: {topk, label_list}}`."""
    ops = [resize]
    if size[0] == size[1] and "ResizeImage" in resize and "resize_short" in resize["ResizeImage"]:
        ops.append({"CropImage": {"size": size[0]}})
    ops += [
        {"NormalizeImage": {"scale": 1.0 / 255.0, "mean": MEAN, "std": STD, "order": "",
                            "channel_num": 3}},
        {"ToCHWImage": None},
    ]
    return OrderedDict([
        ("Global", {"model_name": model_name}),
        ("Hpi", _hpi_paddlex("x", [1, 3, size[0], size[1]])),
        ("PreProcess", {"transform_ops": ops}),
        ("PostProcess", {"Topk": OrderedDict([("topk", topk), ("label_list", labels)])}),
    ])


def _save_ppcls(d: Path, model_name: str, kind: str, hw: tuple[int, int], labels: list[str],
                resize: dict[str, Any], topk: int, seed: int, ink_gain: float) -> StandInExport:
    layer = _networks()["cls"](len(labels), ink_gain)
    _seed(layer, seed, {"fc": 0.5 if ink_gain else 2.0})
    inputs = [VarSpec("x", "float32", (None, 3, hw[0], hw[1]))]
    _jit_save(layer, inputs, d)
    _dump(d / "inference.yml", _ppcls_yml(model_name, list(hw), resize, labels, topk))
    outputs = _output_specs(d, ["float32"], [(None, len(labels))])
    return StandInExport(d, model_name, "PaddleClas", kind, inputs, outputs, labels)


def save_paddleclas(model_dir: str | Path, model_name: str = "PP-LCNet_x1_0",
                    num_classes: int = IMAGENET_CLASSES, seed: int = 0) -> StandInExport:
    """An ImageNet classifier as PaddleClas exports it with `Global.export_for_fd=True`
    (ResizeImage resize_short 256, CropImage 224, softmax output)."""
    # ImageNet names have spaces and commas ("tench, Tinca tinca")
    labels = [f"class {i}, alias {i}" for i in range(num_classes)]
    return _save_ppcls(Path(model_dir), model_name, "classification", (224, 224), labels,
                       {"ResizeImage": {"resize_short": 256}}, 5, seed, 0.0)


def save_textline_ori(model_dir: str | Path, model_name: str = "PP-LCNet_x0_25_textline_ori",
                      seed: int = 0) -> StandInExport:
    """PaddleClas' text-line orientation classifier (ResizeImage size [160, 80], labels
    0_degree/180_degree, topk 1). Ink in the lower half of the line favours 180_degree."""
    return _save_ppcls(Path(model_dir), model_name, "textline_orientation", (80, 160),
                       ["0_degree", "180_degree"], {"ResizeImage": {"size": [160, 80]}}, 1,
                       seed, 20.0)


# ----------------------------------------------------------------------------- PaddleDetection


def _save_ppdet(d: Path, model_name: str, size: int, seed: int, nms: tuple[float, int, int, float],
                scale_factor_batch: int | None, head: list[tuple[str, Any]],
                normalize: dict[str, Any], tail: list[tuple[str, Any]],
                in_affine: tuple[float, float] = (1.0, 0.0),
                backbone: bool = False) -> StandInExport:
    """A PaddleDetection `--for_fd` export of the PicoDet-like network: `head` (arch,
    min_subgraph_size) after Global, `tail` (e.g. PicoDet's NMS, fpn_stride) after Hpi;
    `backbone`: with the real model's compute (benchmarks)."""
    layer = _networks()["picodet"](len(COCO_LABELS), nms, in_affine, backbone)
    _seed(layer, seed, {"cls": 0.7, "reg": 0.5, "proj": 0.1})
    inputs = [VarSpec("image", "float32", (None, 3, size, size)),
              VarSpec("scale_factor", "float32", (scale_factor_batch, 2))]
    _jit_save(layer, inputs, d)
    cfg = OrderedDict([
        ("mode", "paddle"), ("draw_threshold", 0.5), ("metric", "COCO"),
        ("use_dynamic_shape", False), ("Global", {"model_name": model_name}), *head,
        ("Preprocess", [
            {"interp": 2, "keep_ratio": False, "target_size": [size, size], "type": "Resize"},
            {**normalize, "type": "NormalizeImage"},
            {"type": "Permute"},
        ]),
        ("label_list", list(COCO_LABELS)),
        ("Hpi", _hpi_paddlex("image", [1, 3, size, size])), *tail,
    ])
    _dump(d / "inference.yml", cfg)
    outputs = _output_specs(d, ["float32", "int32"], [(None, 6), (None,)])
    return StandInExport(d, model_name, "PaddleDetection", "detection", inputs, outputs,
                         list(COCO_LABELS))


def save_picodet(model_dir: str | Path, model_name: str = "PicoDet-S", size: int = 416,
                 seed: int = 0, backbone: bool = False) -> StandInExport:
    """PicoDet-S as PaddleDetection exports it with `--for_fd` and `pdx_model_name` (arch GFL,
    NMS and fpn_stride after label_list; NMS thresholds as the exporter rewrites them, in the
    yml and in the graph; scale_factor [1, 2] from the 4-element image_shape)."""
    nms = {"keep_top_k": 100, "name": "MultiClassNMS", "nms_threshold": 0.5, "nms_top_k": 1000,
           "score_threshold": 0.3}
    return _save_ppdet(
        Path(model_dir), model_name, size, seed, (0.3, 1000, 100, 0.5), 1,
        [("arch", "GFL"), ("min_subgraph_size", 3)],
        {"is_scale": True, "mean": MEAN, "std": STD},
        [("NMS", nms), ("fpn_stride", [8, 16, 32, 64])], backbone=backbone)


def save_ppyoloe(model_dir: str | Path, model_name: str = "PP-YOLOE_plus-S", size: int = 640,
                 seed: int = 1) -> StandInExport:
    """PP-YOLOE+ S as PaddleDetection exports it with `--for_fd` (its config's architecture is
    YOLOv3, so `arch: YOLO`; NormalizeImage with `norm_type: none`, mean 0, std 1; NMS score
    0.01, IoU 0.7, keep 300 in the graph)."""
    return _save_ppdet(
        Path(model_dir), model_name, size, seed, (0.01, 1000, 300, 0.7), None,
        [("arch", "YOLO"), ("min_subgraph_size", 3)],
        {"mean": [0.0, 0.0, 0.0], "norm_type": "none", "std": [1.0, 1.0, 1.0]}, [],
        in_affine=(1 / 0.226, -0.449 / 0.226))


# ----------------------------------------------------------------------------- PaddleSeg


def save_paddleseg(model_dir: str | Path, model_name: str = "PP-LiteSeg-T",
                   num_classes: int = CITYSCAPES_CLASSES, seed: int = 0) -> StandInExport:
    """A semantic segmenter as PaddleSeg exports it with `--for_fd` (`Deploy` block with
    `output_op: argmax`, int32 label map; the file names it records are PaddleSeg's own)."""
    d = Path(model_dir)
    layer = _networks()["seg"](num_classes)
    _seed(layer, seed)
    inputs = [VarSpec("x", "float32", (None, 3, None, None))]
    _jit_save(layer, inputs, d)
    info = {
        "Deploy": {"model": "inference.pdmodel", "params": "inference.pdiparams",
                   "transforms": [{"type": "Normalize"}], "input_shape": [None, 3, None, None],
                   "output_op": "argmax", "output_dtype": "int32"},
        "Global": {"model_name": model_name},
        "Hpi": _hpi_paddlex("x", [1, 3, 512, 1024]),
    }
    _dump(d / "inference.yml", info)
    outputs = _output_specs(d, ["int32"], [(None, None, None)])
    labels = [str(i) for i in range(num_classes)]
    return StandInExport(d, model_name, "PaddleSeg", "segmentation", inputs, outputs, labels)


SAVERS = {
    "PP-OCRv5_mobile_det": save_ppocr_det,
    "PP-OCRv5_mobile_rec": save_ppocr_rec,
    "PP-LCNet_x0_25_textline_ori": save_textline_ori,
    "PicoDet-S": save_picodet,
    "PP-YOLOE_plus-S": save_ppyoloe,
    "PP-LCNet_x1_0": save_paddleclas,
    "PP-LiteSeg-T": save_paddleseg,
}


def save_all(root: str | Path, seed: int = 0) -> dict[str, StandInExport]:
    """Every stand-in under `root/<model_name>/`."""
    return {name: fn(Path(root) / name, seed=seed) for name, fn in SAVERS.items()}


#: the stand-ins an OCR service is made of: text detection, text recognition, line orientation
OCR_DET, OCR_REC, OCR_ORI = "PP-OCRv5_mobile_det", "PP-OCRv5_mobile_rec", "PP-LCNet_x0_25_textline_ori"


def save_ocr_stand_ins(root: str | Path) -> dict[str, StandInExport]:
    """The OCR_DET, OCR_REC and OCR_ORI stand-ins under `root/<model_name>/`."""
    return {name: SAVERS[name](Path(root) / name) for name in (OCR_DET, OCR_REC, OCR_ORI)}


# ----------------------------------------------------------------------------- test images


def draw_text_lines(width: int, height: int, lines: list[str], seed: int = 0,
                    top: int = 30, line_height: int = 40) -> np.ndarray:
    """A white BGR page with one dark 'text line' per entry: a run of glyph-like dark blocks,
    one per character (width varying with the character), so lines have distinct lengths and
    patterns. Lines start at random x offsets; nothing is drawn past the page."""
    rng = np.random.default_rng(seed)
    img = np.full((height, width, 3), 250, np.uint8)
    y = top
    for text in lines:
        x = int(rng.integers(10, 60))
        glyph_h = int(line_height * 0.6)
        for ch in text:
            w = 6 + (ord(ch) * 7) % 11
            if x + w >= width - 5 or y + glyph_h >= height - 5:
                break
            if ch != " ":
                shade = int(20 + (ord(ch) * 13) % 60)
                img[y:y + glyph_h, x:x + w] = shade
                gap = (ord(ch) % 3) + 1  # a light cut in the glyph's lower half
                cut = y + (2 * glyph_h) // 3
                img[cut:cut + gap, x + 1:x + w - 1] = 200
            x += w + 3
        y += line_height
    return img


def draw_shapes(width: int, height: int, n: int = 6, seed: int = 0) -> np.ndarray:
    """A light BGR picture with `n` dark filled rectangles of random size and colour, some
    touching the border (so detectors produce boxes that cross it)."""
    rng = np.random.default_rng(seed)
    img = np.full((height, width, 3), 235, np.uint8)
    img[:] = img + rng.integers(0, 15, size=(height, width, 1)).astype(np.uint8)
    for i in range(n):
        w, h = int(rng.integers(width // 10, width // 3)), int(rng.integers(height // 10, height // 3))
        x = 0 if i == 0 else int(rng.integers(0, width - w))
        y = height - h if i == 1 else int(rng.integers(0, height - h))
        img[y:y + h, x:x + w] = rng.integers(0, 90, size=3).astype(np.uint8)
    return img


def rotate(img: np.ndarray, degrees: float) -> np.ndarray:
    """The image turned counter-clockwise about its centre, same size, light border (lines
    become slanted quads)."""
    import cv2

    h, w = img.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    return cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_LINEAR,
                          borderValue=(250, 250, 250))


def rotate_180(img: np.ndarray) -> np.ndarray:
    """The image turned upside down (a text line read at 180 degrees)."""
    return np.ascontiguousarray(img[::-1, ::-1])


def copy_export(src: StandInExport, dst: str | Path) -> StandInExport:
    """A copy of an export folder (e.g. to edit its inference.yml in a test)."""
    import shutil

    shutil.copytree(src.model_dir, dst)
    out = copy.copy(src)
    out.model_dir = Path(dst)
    return out
