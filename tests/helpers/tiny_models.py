"""Tiny Paddle inference models for tests (a few KB each, built in well under a second).

Every `save_*` function writes a model directory and returns a `SavedModel` describing it:
the files written, the input/output variable names as `paddle.inference` reports them, the
dtypes and shapes, and (for the linear model) the weights, so tests can compute expected
outputs with numpy.

Formats (`fmt`):

- ``"pir"``: what `paddle.jit.save` writes in Paddle 3 (`model.json` + `model.pdiparams`).
  Built in this process.
- ``"legacy"``: legacy ProgramDesc `model.pdmodel` + `model.pdiparams`.
- ``"legacy_separate"`` (linear model only): `__model__` + one file per parameter, the old
  `fluid.io.save_inference_model` layout of Paddle Serving's uci_housing example.
- ``"legacy_combined"`` (linear model only): `__model__` + `__params__`.

The legacy formats need `FLAGS_enable_pir_api=0` before paddle is imported, so they are built
in a subprocess running this file (about 3-5 s per call; `save_linear_models` builds several
in one subprocess).

`write_serving_server` adds Paddle Serving's `serving_server_conf.prototxt` to a model.

Example::

    m = save_linear_model(tmp_path / "lin", fmt="legacy_separate")
    write_serving_server(m, fetch_alias_names=["price"])
    feed = m.example_feed(batch=2)
    expected = linear_reference(feed["x"], m)
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

PIR_FORMATS = ("pir",)
LEGACY_FORMATS = ("legacy", "legacy_separate", "legacy_combined")
ALL_FORMATS = PIR_FORMATS + LEGACY_FORMATS


@dataclass(frozen=True)
class VarSpec:
    """A model input or output: variable name, numpy dtype name, shape with None for
    dynamic dims (the leading dim is the batch), and whether it is a LoD tensor."""

    name: str
    dtype: str
    shape: tuple[int | None, ...]
    is_lod: bool = False


@dataclass
class SavedModel:
    """A model directory written by one of the `save_*` functions."""

    model_dir: Path
    fmt: str
    files: list[Path]
    inputs: list[VarSpec]
    outputs: list[VarSpec]
    weights: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def input_names(self) -> list[str]:
        return [v.name for v in self.inputs]

    @property
    def output_names(self) -> list[str]:
        return [v.name for v in self.outputs]

    def example_feed(self, batch: int = 2, seed: int = 0) -> dict[str, np.ndarray]:
        """Random inputs keyed by input name. Dynamic non-batch dims become 32; inputs named
        `im_shape` get the image size and `scale_factor` gets ones, as a detector expects."""
        rng = np.random.default_rng(seed)
        feed: dict[str, np.ndarray] = {}
        image_hw = (32, 32)
        for v in self.inputs:
            if v.name == "image":
                dims = [32 if d is None else d for d in v.shape[1:]]
                image_hw = (dims[-2], dims[-1])
        for v in self.inputs:
            dims = [batch] + [32 if d is None else d for d in v.shape[1:]]
            if v.name == "im_shape":
                arr = np.tile(np.asarray(image_hw, dtype=v.dtype), (batch, 1))
            elif v.name == "scale_factor":
                arr = np.ones(dims, dtype=v.dtype)
            else:
                arr = rng.standard_normal(dims).astype(v.dtype)
            feed[v.name] = arr
        return feed


# ----------------------------------------------------------------------------- weights


def linear_weights(in_dim: int = 13, out_dim: int = 1, seed: int = 0) -> dict[str, np.ndarray]:
    """Deterministic weights of the linear model: `w` [in_dim, out_dim], `b` [out_dim]."""
    rng = np.random.default_rng(seed)
    return {
        "w": (rng.standard_normal((in_dim, out_dim)) * 0.5).astype("float32"),
        "b": (rng.standard_normal((out_dim,)) * 0.1).astype("float32"),
    }


def linear_reference(x: np.ndarray, model: SavedModel) -> np.ndarray:
    """The linear model's output computed with numpy (float32)."""
    return np.asarray(x, dtype="float32") @ model.weights["w"] + model.weights["b"]


def _seed_layer(layer: Any, seed: int) -> None:
    rng = np.random.default_rng(seed)
    for p in layer.parameters():
        p.set_value((rng.standard_normal(p.shape) * 0.1).astype("float32"))


# ----------------------------------------------------------------------------- layers
# Built lazily so that importing this module does not import paddle.


def _layers() -> dict[str, Any]:
    import paddle
    from paddle import nn

    class TinyClassifier(nn.Layer):
        """image [N,3,H,W] -> softmax probabilities [N,k]."""

        def __init__(self, num_classes: int) -> None:
            super().__init__()
            self.conv = nn.Conv2D(3, 8, 3, stride=2, padding=1)
            self.pool = nn.AdaptiveAvgPool2D(1)
            self.fc = nn.Linear(8, num_classes)

        def forward(self, x):
            y = self.pool(nn.functional.relu(self.conv(x)))
            return nn.functional.softmax(self.fc(paddle.flatten(y, 1)), axis=-1)

    class TinyDetector(nn.Layer):
        """(image, im_shape, scale_factor) -> bbox [N,6] float32, bbox_num [B] int32,
        with the same graph ops as a PaddleDetection YOLOv3 export (yolo_box + NMS)."""

        def __init__(self, num_classes: int) -> None:
            super().__init__()
            self.num_classes = num_classes
            self.anchors = [10, 13, 16, 30, 33, 23]
            self.conv = nn.Conv2D(3, 3 * (5 + num_classes), 3, stride=32, padding=1)

        def _nms(self, boxes, scores):
            args = (0.01, 1000, 100, 0.45, True, 1.0, -1)
            if paddle.in_dynamic_mode() or paddle.framework.in_pir_mode():
                out, _index, num = paddle._C_ops.multiclass_nms3(boxes, scores, None, *args)
                return out, num
            from paddle.base.layer_helper import LayerHelper

            helper = LayerHelper("multiclass_nms3")
            out = helper.create_variable_for_type_inference(dtype=boxes.dtype)
            index = helper.create_variable_for_type_inference(dtype="int32")
            num = helper.create_variable_for_type_inference(dtype="int32")
            helper.append_op(
                type="multiclass_nms3",
                inputs={"BBoxes": boxes, "Scores": scores},
                attrs={
                    "score_threshold": args[0], "nms_top_k": args[1], "keep_top_k": args[2],
                    "nms_threshold": args[3], "normalized": args[4], "nms_eta": args[5],
                    "background_label": args[6],
                },
                outputs={"Out": out, "Index": index, "NmsRoisNum": num},
            )
            return out, num

        def forward(self, image, im_shape, scale_factor):
            feat = self.conv(image)
            origin = paddle.cast(im_shape / scale_factor, "int32")
            boxes, scores = paddle.vision.ops.yolo_box(
                feat, origin, self.anchors, self.num_classes, 0.005, 32, True, scale_x_y=1.0
            )
            return self._nms(boxes, paddle.transpose(scores, [0, 2, 1]))

    class TinyYolo(TinyDetector):
        """TinyDetector's IO with YOLOv3's op mix: conv + leaky_relu (stride 16 and 32), a
        nearest 2x upsample, concat, a 1x1 head, yolo_box and multiclass_nms3. Paddle 3.3.1
        stores leaky_relu's slope and the upsample scale as doubles, so with oneDNN and all
        passes this program crashes Paddle (the detectors' oneDNN bug)."""

        def __init__(self, num_classes: int) -> None:
            super().__init__(num_classes)
            self.conv1 = nn.Conv2D(3, 8, 3, stride=16, padding=1)
            self.conv2 = nn.Conv2D(8, 8, 3, stride=2, padding=1)
            self.conv = nn.Conv2D(16, 3 * (5 + num_classes), 1)

        def after_seed(self) -> None:
            """Objectness mostly background, as with a trained detector on a photo."""
            bias = self.conv.bias.numpy().reshape(3, 5 + self.num_classes)
            bias[:, 4] -= 2.5
            self.conv.bias.set_value(bias.reshape(-1))

        def forward(self, image, im_shape, scale_factor):
            f16 = nn.functional.leaky_relu(self.conv1(image), 0.1)
            f32 = nn.functional.leaky_relu(self.conv2(f16), 0.1)
            up = nn.functional.interpolate(f32, scale_factor=2, mode="nearest")
            feat = self.conv(paddle.concat([f16, up], axis=1))
            origin = paddle.cast(im_shape / scale_factor, "int32")
            boxes, scores = paddle.vision.ops.yolo_box(
                feat, origin, self.anchors, self.num_classes, 0.005, 16, True, scale_x_y=1.0
            )
            return self._nms(boxes, paddle.transpose(scores, [0, 2, 1]))

    return {"classifier": TinyClassifier, "detector": TinyDetector, "yolo": TinyYolo}


def _model_specs(kind: str, params: dict[str, Any]) -> tuple[list[VarSpec], list[VarSpec]]:
    """Input and output specs of a model kind (output names are filled in after saving)."""
    if kind == "linear":
        return (
            [VarSpec("x", "float32", (None, params["in_dim"]))],
            [VarSpec("", "float32", (None, params["out_dim"]))],
        )
    if kind == "classifier":
        hw = params["image_size"]
        return (
            [VarSpec(params["input_name"], "float32", (None, 3, hw, hw))],
            [VarSpec("", "float32", (None, params["num_classes"]))],
        )
    if kind in ("detector", "yolo"):
        hw = params["image_size"]
        return (
            [
                VarSpec("image", "float32", (None, 3, hw, hw)),
                VarSpec("im_shape", "float32", (None, 2)),
                VarSpec("scale_factor", "float32", (None, 2)),
            ],
            [VarSpec("", "float32", (None, 6)), VarSpec("", "int32", (None,))],
        )
    raise ValueError(f"unknown tiny model kind {kind!r}")


def _jit_save(kind: str, params: dict[str, Any], model_dir: Path, seed: int) -> None:
    """Build the dynamic layer, set deterministic weights and `paddle.jit.save` it as
    `model_dir/model.*` (PIR or legacy, depending on FLAGS_enable_pir_api)."""
    import paddle

    inputs, _ = _model_specs(kind, params)
    if kind == "linear":
        layer = paddle.nn.Linear(params["in_dim"], params["out_dim"])
        w = linear_weights(params["in_dim"], params["out_dim"], seed)
        layer.weight.set_value(w["w"])
        layer.bias.set_value(w["b"])
    else:
        layer = _layers()[kind](params["num_classes"])
        _seed_layer(layer, seed)
        if hasattr(layer, "after_seed"):
            layer.after_seed()
    layer.eval()
    spec = [paddle.static.InputSpec(list(v.shape), v.dtype, v.name) for v in inputs]
    static = paddle.jit.to_static(layer, input_spec=spec, full_graph=True)
    paddle.jit.save(static, str(model_dir / "model"))


def _static_linear_save(job: dict[str, Any]) -> None:
    """Legacy static-graph linear model (`fc` op: params fc_0.w_0/fc_0.b_0, output
    fc_0.tmp_1, like Paddle Serving's uci_housing model). Needs FLAGS_enable_pir_api=0."""
    import paddle

    paddle.enable_static()
    d = Path(job["model_dir"])
    main, startup = paddle.static.Program(), paddle.static.Program()
    with paddle.static.program_guard(main, startup), paddle.utils.unique_name.guard():
        x = paddle.static.data("x", [None, job["in_dim"]], "float32")
        y = paddle.static.nn.fc(x, job["out_dim"])
    exe = paddle.static.Executor(paddle.CPUPlace())
    scope = paddle.static.Scope()
    with paddle.static.scope_guard(scope):
        exe.run(startup)
        w = linear_weights(job["in_dim"], job["out_dim"], job["seed"])
        scope.find_var("fc_0.w_0").get_tensor().set(w["w"], paddle.CPUPlace())
        scope.find_var("fc_0.b_0").get_tensor().set(w["b"], paddle.CPUPlace())
        fmt = job["fmt"]
        if fmt == "legacy":
            paddle.static.save_inference_model(str(d / "model"), [x], [y], exe, program=main)
            return
        program = paddle.static.normalize_program(main, [x], [y])
        (d / "__model__").write_bytes(paddle.static.serialize_program([x], [y], program=program))
        persistables = [v for v in program.list_vars() if paddle.static.io.is_persistable(v)]
        filename = "__params__" if fmt == "legacy_combined" else None
        paddle.static.save_vars(exe, str(d), program, vars=persistables, filename=filename)


def _run_job(job: dict[str, Any]) -> None:
    d = Path(job["model_dir"])
    d.mkdir(parents=True, exist_ok=True)
    if job["kind"] == "linear" and job["fmt"] != "pir":
        _static_linear_save(job)
    else:
        _jit_save(job["kind"], job, d, job["seed"])


def _run_legacy_jobs(jobs: list[dict[str, Any]]) -> None:
    """Run save jobs in one subprocess with FLAGS_enable_pir_api=0."""
    env = dict(os.environ, FLAGS_enable_pir_api="0", GLOG_minloglevel="2")
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), json.dumps(jobs)],
        env=env, capture_output=True, text=True, timeout=300,
    )
    if proc.returncode != 0:
        raise RuntimeError(
            f"building legacy tiny models failed (rc {proc.returncode}):\n{proc.stderr[-3000:]}"
        )


def _probe_output_names(model_dir: Path, fmt: str) -> list[str]:
    """Output variable names as paddle.inference reports them."""
    import paddle.inference as pi

    if fmt == "legacy_separate":
        config = pi.Config(str(model_dir))
    elif fmt == "legacy_combined":
        config = pi.Config(str(model_dir / "__model__"), str(model_dir / "__params__"))
    else:
        ext = ".json" if fmt == "pir" else ".pdmodel"
        config = pi.Config(str(model_dir / f"model{ext}"), str(model_dir / "model.pdiparams"))
    if fmt != "pir":
        config.enable_new_ir(False)
    config.disable_glog_info()
    config.disable_mkldnn()
    config.switch_ir_optim(False)
    return list(pi.create_predictor(config).get_output_names())


def _finish(job: dict[str, Any]) -> SavedModel:
    d = Path(job["model_dir"])
    inputs, outputs = _model_specs(job["kind"], job)
    names = _probe_output_names(d, job["fmt"])
    outputs = [VarSpec(n, o.dtype, o.shape, o.is_lod) for n, o in zip(names, outputs, strict=True)]
    weights = (
        linear_weights(job["in_dim"], job["out_dim"], job["seed"]) if job["kind"] == "linear"
        else {}
    )
    files = sorted(p for p in d.iterdir() if p.is_file())
    return SavedModel(d, job["fmt"], files, inputs, outputs, weights)


def _save(jobs: list[dict[str, Any]]) -> list[SavedModel]:
    for job in jobs:
        if job["fmt"] not in ALL_FORMATS:
            raise ValueError(f"fmt must be one of {ALL_FORMATS}, got {job['fmt']!r}")
        if job["kind"] != "linear" and job["fmt"] in ("legacy_separate", "legacy_combined"):
            raise ValueError(f"fmt {job['fmt']!r} is only available for the linear model")
        Path(job["model_dir"]).mkdir(parents=True, exist_ok=True)
    legacy = [j for j in jobs if j["fmt"] != "pir"]
    if legacy:
        _run_legacy_jobs(legacy)
    for job in jobs:
        if job["fmt"] == "pir":
            _run_job(job)
    return [_finish(j) for j in jobs]


# ----------------------------------------------------------------------------- public API


def save_linear_model(model_dir: str | Path, in_dim: int = 13, out_dim: int = 1,
                      fmt: str = "pir", seed: int = 0) -> SavedModel:
    """Save a `y = x @ w + b` model with input `x` [N, in_dim] float32.

    Legacy formats use the static `fc` op, giving Paddle Serving uci_housing names
    (`fc_0.w_0`, `fc_0.b_0`, output `fc_0.tmp_1`); "pir" gives output `fetch_name_0`.
    """
    job = {"kind": "linear", "model_dir": str(model_dir), "fmt": fmt, "seed": seed,
           "in_dim": in_dim, "out_dim": out_dim}
    return _save([job])[0]


def save_linear_models(root: str | Path, fmts: tuple[str, ...] = ALL_FORMATS, in_dim: int = 13,
                       out_dim: int = 1, seed: int = 0) -> dict[str, SavedModel]:
    """Save the linear model in several formats under `root/<fmt>/`, with the same weights,
    starting at most one subprocess."""
    jobs = [{"kind": "linear", "model_dir": str(Path(root) / f), "fmt": f, "seed": seed,
             "in_dim": in_dim, "out_dim": out_dim} for f in fmts]
    return dict(zip(fmts, _save(jobs), strict=True))


def save_conv_classifier(model_dir: str | Path, num_classes: int = 4,
                         image_size: int | None = 32, fmt: str = "pir", seed: int = 0,
                         input_name: str = "x") -> SavedModel:
    """Save a conv classifier: `input_name` [N,3,H,W] float32 -> softmax [N, num_classes].
    `image_size=None` makes H and W dynamic."""
    job = {"kind": "classifier", "model_dir": str(model_dir), "fmt": fmt, "seed": seed,
           "num_classes": num_classes, "image_size": image_size, "input_name": input_name}
    return _save([job])[0]


def save_tiny_detector(model_dir: str | Path, num_classes: int = 2, image_size: int | None = 64,
                       fmt: str = "pir", seed: int = 0) -> SavedModel:
    """Save a detector-like model with PaddleDetection's IO: inputs `image` [N,3,H,W],
    `im_shape` [N,2], `scale_factor` [N,2] (float32); outputs bbox [M,6] float32
    (`[class, score, x1, y1, x2, y2]`) and bbox_num [N] int32 (boxes per image, sum = M)."""
    job = {"kind": "detector", "model_dir": str(model_dir), "fmt": fmt, "seed": seed,
           "num_classes": num_classes, "image_size": image_size}
    return _save([job])[0]


def save_tiny_yolo(model_dir: str | Path, num_classes: int = 3, image_size: int | None = 64,
                   fmt: str = "pir", seed: int = 0) -> SavedModel:
    """Like `save_tiny_detector`, with YOLOv3's op mix (leaky_relu, nearest upsample): the
    program oneDNN crashes on under Paddle 3.3.1 PIR unless the workaround passes are deleted."""
    job = {"kind": "yolo", "model_dir": str(model_dir), "fmt": fmt, "seed": seed,
           "num_classes": num_classes, "image_size": image_size}
    return _save([job])[0]


def _serving_shape(v: VarSpec, dynamic_dims: bool) -> list[int]:
    """Paddle Serving's converter: LoD -> [-1], else the program's dims >= 0 in order (batch
    and dynamic dims dropped); `dynamic_dims` keeps them as -1 after the batch dim instead."""
    if v.is_lod:
        return [-1]
    if dynamic_dims:
        return [-1 if d is None else int(d) for d in v.shape[1:]]
    return [int(d) for d in v.shape if d is not None and d >= 0]


def write_serving_server(model: SavedModel, out_dir: str | Path | None = None, *,
                         feed_alias_names: list[str] | None = None,
                         fetch_alias_names: list[str] | None = None,
                         sort_fetch: bool = True, client_dir: str | Path | None = None,
                         dynamic_dims: bool = False) -> Path:
    """Write `serving_server_conf.prototxt` (+ `.stream.prototxt`) for `model`.

    With `out_dir` None the config is written into the model directory; otherwise the model
    files are copied into `out_dir` (e.g. `.../serving_server`) first. Aliases default to the
    variable names and are given in model order (outputs in the model's output order).
    Fetch vars are then sorted by variable name, as Paddle Serving's converter does, unless
    `sort_fetch` is False. Shapes are written as Paddle Serving's converter writes them: the
    dims >= 0 only (a [-1, 3, -1, -1] feed is `shape: 3`), LoD tensors as [-1];
    `dynamic_dims=True` writes the per-sample shape with -1 for dynamic dims instead (as
    hand-written prototxts do). `client_dir` also gets `serving_client_conf.prototxt`.
    Returns the directory holding the server config.
    """
    from generator.serving_model import DTYPE_TO_CODE, VarInfo, write_model_config

    def infos(specs: list[VarSpec], aliases: list[str] | None, what: str) -> list[VarInfo]:
        if aliases is not None and len(aliases) != len(specs):
            raise ValueError(f"{len(aliases)} {what} alias names for {len(specs)} variables")
        names = aliases or [v.name for v in specs]
        return [VarInfo(v.name, a, DTYPE_TO_CODE[v.dtype], tuple(_serving_shape(v, dynamic_dims)),
                        v.is_lod)
                for v, a in zip(specs, names, strict=True)]

    feeds = infos(model.inputs, feed_alias_names, "feed")
    fetches = infos(model.outputs, fetch_alias_names, "fetch")
    if sort_fetch:
        fetches.sort(key=lambda v: v.name)
    dest = Path(out_dir) if out_dir is not None else model.model_dir
    if dest.resolve() != model.model_dir.resolve():
        dest.mkdir(parents=True, exist_ok=True)
        for f in model.files:
            shutil.copy2(f, dest / f.name)
    write_model_config(dest, "serving_server", feeds, fetches)
    if client_dir is not None:
        write_model_config(client_dir, "serving_client", feeds, fetches)
    return dest


if __name__ == "__main__":  # subprocess entry: build legacy models (FLAGS_enable_pir_api=0)
    for _job in json.loads(sys.argv[1]):
        _run_job(_job)
