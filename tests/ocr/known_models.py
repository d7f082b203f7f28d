"""OCR networks whose outputs are known by construction, saved as PaddleOCR 3 exports
(`inference.json` + `inference.pdiparams` + `inference.yml`), and pages drawn for them.

The "script": a text line is a dark-gray (100) bar 32 px high on white paper; each character
is a 32 x 32 block inside it whose colour encodes the character: channel c (BGR) is 0 when bit
c of the character's code is set, 255 otherwise (code 7 is black). Blocks are 24 px apart,
16 px from the bar's ends.

- detector (`save_dark_det`): the probability map is `sigmoid(40 * (darkness - 0.25))` with
  `darkness = 1 - min over channels` of the de-normalised pixel: the whole bar (gray and
  blocks) is text, the paper is not, so each bar is one DB box.
- recognizer (`save_code_rec`): per time step (an 8-pixel column window over the 48 rows) each
  channel's share of "off" pixels (< 64) gives one bit (share > 0.12); the three bits pick the class whose
  code they spell (all bits clear: the CTC blank). A blurred block edge only fades bits out
  together, so a step reads its block's character or blank, never another one; gray, paper
  and the zero padding of a batch read blank. `CODES` maps codes to characters of `DICT`.
- text-line orientation (`save_top_ori`): a line may carry a black 4-px stripe along its top
  edge; 180_degree when the bottom half of the 80 x 160 input is darker than the top half
  (the stripe is below: the line is upside down), else 0_degree. The stripe is too thin to
  set a recognizer bit.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import yaml

MEAN, STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
#: the recognizer's dictionary (CTC classes: blank + DICT + " ")
DICT = list("0123456789") + ["中", "文", "-", "x"]
#: code (bits: B, G, R channel off) -> character; positions in DICT deliberately scattered
CODES = {1: "4", 2: "中", 3: "7", 4: "1", 5: "9", 6: "0", 7: "-"}
CHAR_CODE = {ch: code for code, ch in CODES.items()}
LINE_H, BLOCK, GAP, END, BAR_GRAY, STRIPE = 32, 32, 24, 16, 100, 4


def _dump_yml(path: Path, data: OrderedDict) -> None:
    class Dumper(yaml.Dumper):
        pass

    Dumper.add_representer(OrderedDict,
                           lambda d, v: d.represent_mapping("tag:yaml.org,2002:map", v.items()))
    path.write_text(yaml.dump(data, Dumper=Dumper, allow_unicode=True, default_flow_style=False),
                    encoding="utf-8")


def _save(layer, shape: list[int | None], model_dir: Path) -> None:
    import paddle

    layer.eval()
    spec = [paddle.static.InputSpec([-1 if d is None else d for d in shape], "float32", "x")]
    model_dir.mkdir(parents=True, exist_ok=True)
    paddle.jit.save(paddle.jit.to_static(layer, input_spec=spec, full_graph=True),
                    str(model_dir / "inference"))


def _constant(layer, name: str, value: np.ndarray):
    import paddle

    p = layer.create_parameter(list(value.shape), dtype="float32",
                               default_initializer=paddle.nn.initializer.Assign(
                                   value.astype("float32")))
    layer.add_parameter(name, p)
    return p


def save_dark_det(model_dir: str | Path, model_name: str = "PP-OCRv5_mobile_det") -> Path:
    """The detector (module docstring) in PaddleOCR 3's det export format."""
    import paddle
    from paddle.nn import functional as F

    class DarkDet(paddle.nn.Layer):
        def __init__(self) -> None:
            super().__init__()
            self.std = _constant(self, "std", np.array(STD).reshape(1, 3, 1, 1))
            self.mean = _constant(self, "mean", np.array(MEAN).reshape(1, 3, 1, 1))

        def forward(self, x):
            pixel = x * self.std + self.mean  # back to [0, 1]
            darkness = 1.0 - paddle.min(pixel, axis=1, keepdim=True)
            return F.sigmoid(40.0 * (darkness - 0.25))

    d = Path(model_dir)
    _save(DarkDet(), [None, 3, None, None], d)
    norm = OrderedDict([("mean", MEAN), ("order", "hwc"), ("scale", "1./255."), ("std", STD)])
    _dump_yml(d / "inference.yml", OrderedDict([
        ("Global", {"model_name": model_name}),
        ("PreProcess", {"transform_ops": [
            {"DecodeImage": {"channel_first": False, "img_mode": "BGR"}},
            {"DetLabelEncode": None},
            {"DetResizeForTest": None},
            {"NormalizeImage": norm},
            {"ToCHWImage": None},
            {"KeepKeys": {"keep_keys": ["image", "shape", "polys", "ignore_tags"]}}]}),
        ("PostProcess", OrderedDict([("name", "DBPostProcess"), ("thresh", 0.3),
                                     ("box_thresh", 0.6), ("max_candidates", 1000),
                                     ("unclip_ratio", 1.5)]))]))
    return d


def save_code_rec(model_dir: str | Path, model_name: str = "PP-OCRv5_mobile_rec") -> Path:
    """The recognizer (module docstring) in PaddleOCR 3's rec export format."""
    import paddle
    from paddle.nn import functional as F

    classes = len(DICT) + 2
    weights = np.zeros((3, classes))
    bias = np.full(classes, -10.0)  # characters no code spells never win
    weights[:, 0], bias[0] = -1.0, 3.0  # blank: all three bits clear
    for code, ch in CODES.items():
        bits = np.array([(code >> c) & 1 for c in range(3)], dtype=float)
        k = 1 + DICT.index(ch)
        weights[:, k], bias[k] = 2 * bits - 1, float((1 - bits).sum())

    class CodeRec(paddle.nn.Layer):
        def __init__(self) -> None:
            super().__init__()
            self.w = _constant(self, "w", weights)
            self.b = _constant(self, "b", bias)

        def forward(self, x):
            off = F.sigmoid(30.0 * (-0.5 - x))  # channel below 64 (x = p / 127.5 - 1)
            share = F.avg_pool2d(off, kernel_size=[48, 8], stride=[48, 8])  # [N, 3, 1, T]
            bits = F.sigmoid(40.0 * (share - 0.12))
            bits = paddle.transpose(paddle.squeeze(bits, axis=2), [0, 2, 1])  # [N, T, 3]
            return F.softmax(12.0 * (paddle.matmul(bits, self.w) + self.b), axis=-1)

    d = Path(model_dir)
    _save(CodeRec(), [None, 3, 48, None], d)
    _dump_yml(d / "inference.yml", OrderedDict([
        ("Global", {"model_name": model_name}),
        ("PreProcess", {"transform_ops": [
            {"DecodeImage": {"channel_first": False, "img_mode": "BGR"}},
            {"MultiLabelEncode": {"gtc_encode": "NRTRLabelEncode"}},
            {"RecResizeImg": {"image_shape": [3, 48, 320]}},
            {"KeepKeys": {"keep_keys": ["image", "label_ctc", "label_gtc", "length",
                                        "valid_ratio"]}}]}),
        ("PostProcess", OrderedDict([("name", "CTCLabelDecode"), ("character_dict", DICT)]))]))
    return d


def save_top_ori(model_dir: str | Path,
                 model_name: str = "PP-LCNet_x0_25_textline_ori") -> Path:
    """The orientation classifier (module docstring) in PaddleClas' export format."""
    import paddle
    from paddle.nn import functional as F

    class TopOri(paddle.nn.Layer):
        def __init__(self) -> None:
            super().__init__()
            self.std = _constant(self, "std", np.array(STD).reshape(1, 3, 1, 1))
            self.mean = _constant(self, "mean", np.array(MEAN).reshape(1, 3, 1, 1))
            self.sign = _constant(self, "sign", np.array([[1.0, -1.0]]))

        def forward(self, x):
            darkness = 1.0 - paddle.min(x * self.std + self.mean, axis=1)  # [N, 80, 160]
            top = paddle.mean(darkness[:, :40, :], axis=[1, 2])
            bottom = paddle.mean(darkness[:, 40:, :], axis=[1, 2])
            return F.softmax(200.0 * paddle.unsqueeze(top - bottom, 1) * self.sign, axis=-1)

    d = Path(model_dir)
    _save(TopOri(), [None, 3, 80, 160], d)
    _dump_yml(d / "inference.yml", OrderedDict([
        ("Global", {"model_name": model_name}),
        ("PreProcess", {"transform_ops": [
            {"ResizeImage": {"size": [160, 80]}},
            {"NormalizeImage": {"channel_num": 3, "mean": MEAN, "order": "", "scale": 1 / 255,
                                "std": STD}},
            {"ToCHWImage": None}]}),
        ("PostProcess", {"Topk": OrderedDict([("topk", 1),
                                              ("label_list", ["0_degree", "180_degree"])])})]))
    return d


# ------------------------------------------------------------------------------- pages


@dataclass
class Line:
    """One drawn text line: its text and the bar's corners (TL, TR, BR, BL) in pixels."""

    text: str
    corners: np.ndarray  # [4, 2] float, pixel edges


def line_length(text: str) -> int:
    return 2 * END + len(text) * BLOCK + (len(text) - 1) * GAP


def _color(ch: str) -> tuple[int, int, int]:
    code = CHAR_CODE[ch]
    return tuple(0 if (code >> c) & 1 else 255 for c in range(3))


def draw_line(page: np.ndarray, text: str, x: float, y: float, angle_deg: float = 0.0,
              vertical: bool = False, marked: bool = False) -> Line:
    """Draw `text` with the bar's top-left corner at (x, y), turned `angle_deg` clockwise
    about that corner; `vertical`: characters stacked top to bottom; `marked`: the stripe on
    the line's top edge (see the module docstring)."""
    length = line_length(text)
    along, across = (np.array([0.0, 1.0]), np.array([1.0, 0.0])) if vertical else \
        (np.array([1.0, 0.0]), np.array([0.0, 1.0]))
    t = np.deg2rad(angle_deg)
    rot = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])
    along, across = rot @ along, rot @ across
    origin = np.array([x, y], dtype=float)

    def quad(a0: float, a1: float, c0: float, c1: float) -> np.ndarray:
        return np.array([origin + a * along + c * across
                         for a, c in ((a0, c0), (a1, c0), (a1, c1), (a0, c1))])

    def fill(q: np.ndarray, color: tuple[int, int, int]) -> None:
        # pixel edges -> the pixel-centre polygon cv2 fills (no anti-aliasing)
        pts = np.round((q - 0.5) * 16).astype(np.int32)
        cv2.fillPoly(page, [pts], color, lineType=cv2.LINE_8, shift=4)

    bar = quad(0, length, 0, LINE_H)
    fill(bar, (BAR_GRAY,) * 3)
    for i, ch in enumerate(text):
        a0 = END + i * (BLOCK + GAP)
        fill(quad(a0, a0 + BLOCK, 0, LINE_H), _color(ch))
    if marked:
        fill(quad(0, length, 0, STRIPE), (0, 0, 0))
    if vertical:  # corners in reading terms of the upright page: TL, TR, BR, BL of the bar
        bar = quad(0, length, 0, LINE_H)[[0, 3, 2, 1]]
    return Line(text, bar)


def unclipped(corners: np.ndarray, ratio: float = 1.5) -> np.ndarray:
    """The DB box expected for a bar: its rectangle grown by area * ratio / perimeter on each
    side (the unclip offset), as [4, 2] corners."""
    c = np.asarray(corners, dtype=float)
    w = np.linalg.norm(c[1] - c[0])
    h = np.linalg.norm(c[3] - c[0])
    d = w * h * ratio / (2 * (w + h))
    ux, uy = (c[1] - c[0]) / w, (c[3] - c[0]) / h
    return np.array([c[0] - d * ux - d * uy, c[1] + d * ux - d * uy,
                     c[2] + d * ux + d * uy, c[3] - d * ux + d * uy])


def page_one() -> tuple[np.ndarray, list[Line]]:
    """A 640 x 480 page and its lines in reading order (top to bottom, left to right)."""
    page = np.full((480, 640, 3), 255, np.uint8)
    lines = [
        draw_line(page, "4中71", 40, 44),  # its right neighbour starts 4 px higher: same row
        draw_line(page, "90", 360, 40),
        draw_line(page, "0149-7中-71", 40, 124),  # the widest crop (wider than 320 at height 48)
        draw_line(page, "77", 60, 210, angle_deg=8),  # tilted; a repeated character
        draw_line(page, "14", 584, 230, vertical=True),  # a vertical line: read top down
        draw_line(page, "19", 40, 330),
        draw_line(page, "中中", 250, 330),
        draw_line(page, "-", 40, 410),
    ]
    return page, lines


def page_two() -> tuple[np.ndarray, list[Line]]:
    """A 480 x 320 page of marked lines, one of them upside down, in reading order."""
    page = np.full((320, 480, 3), 255, np.uint8)
    lines = [
        draw_line(page, "4中7", 40, 40, marked=True),
        draw_line(page, "901", 420, 170, angle_deg=180, marked=True),  # upside down
        draw_line(page, "-14", 40, 230, marked=True),
    ]
    return page, lines
