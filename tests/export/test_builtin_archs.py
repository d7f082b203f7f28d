"""Built-in segmentation (`lraspp`) and embedding (`reid_embedding`) architectures, and the
shipped `serving_configs/*.yml`: they load, build, export at small sizes, and their
Preprocess gives inputs of the model's shape."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import yaml

from generator.export import specs as specs_mod
from generator.export.errors import ConfigError
from generator.export.exporter import export_built_model, export_config
from generator.export.native_config import build_model, load_native_config
from generator.export.predictor import create_predictor, run_predictor
from generator.models import ARCHITECTURES
from generator.preprocess import build_preprocess, decode_rgb
from generator.serving_model.model_config import CODE_TO_DTYPE, read_model_config

ROOT = Path(__file__).resolve().parents[2]
SERVING_CONFIGS = ROOT / "serving_configs"
IMAGE = ROOT / "tests" / "data" / "shapes_320x240.jpg"
TOOLKIT = {"detection": "ppdet", "classification": "ppcls", "embedding": "ppcls",
           "segmentation": "ppseg"}
CITYSCAPES_FIRST = ["road", "sidewalk", "building"]


@pytest.fixture(scope="module")
def image_rgb() -> np.ndarray:
    return decode_rgb(IMAGE.read_bytes())


def _build(path: Path, overrides: list[str] | None = None):
    cfg = load_native_config(path, overrides)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return cfg, build_model(cfg, path)


def _image_spec(built) -> dict:
    plain = specs_mod.from_paddle_specs(built.input_spec)
    return next(s for s in specs_mod.iter_tensor_specs(plain) if len(s["shape"]) == 4)


def test_architectures_are_registered_with_the_vision_ones():
    from generator.export import sources  # noqa: F401  (what native_config imports)

    assert {"lraspp", "reid_embedding", "resnet50", "mobilenet_v3_small"} <= set(ARCHITECTURES)


# --- segmentation -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def seg_export(tmp_path_factory):
    """serving_configs/segmentation.yml with a small backbone, exported at 64x64."""
    out = tmp_path_factory.mktemp("seg")
    res = export_config(SERVING_CONFIGS / "segmentation.yml", out,
                        ["model.args.backbone=mobilenet_v3_small"], fixed_input_shape=[64, 64])
    return res


def test_segmentation_export_io_and_infer_cfg(seg_export):
    res = seg_export
    assert res.feed_names == ["x"] and len(res.fetch_names) == 1
    assert res.parity is not None and res.parity.ok
    assert res.parity.outputs[0].exported_shape == (1, 64, 64)
    served = read_model_config(res.serving_server)
    assert [v.name for v in served.feed_vars] == ["x"]
    assert list(served.feed_vars[0].shape) == [3, 64, 64]
    assert CODE_TO_DTYPE[served.fetch_vars[0].dtype_code] == "int32"
    infer = yaml.safe_load(res.infer_cfg_path.read_text())
    assert infer["task"] == "segmentation" and infer["arch"] == "lraspp"
    assert infer["input_shape"] == [None, 3, 64, 64]
    assert infer["Preprocess"][0] == {"type": "Resize", "target_size": [64, 64]}
    assert infer["label_list"][:3] == CITYSCAPES_FIRST and len(infer["label_list"]) == 19


def test_segmentation_served_on_a_real_image(seg_export, image_rgb):
    infer = yaml.safe_load(seg_export.infer_cfg_path.read_text())
    chw, info = build_preprocess(infer["Preprocess"], "ppseg")(image_rgb)
    assert chw.shape == (3, 64, 64) and chw.dtype == np.float32
    assert -1.0 <= chw.min() and chw.max() <= 1.0  # Normalize mean/std 0.5
    batch = np.stack([chw, chw[:, ::-1, :]])
    (name, label_map), = run_predictor(create_predictor(seg_export.model_dir), {"x": batch})
    assert label_map.dtype == np.int32 and label_map.shape == (2, 64, 64)
    assert 0 <= label_map.min() and label_map.max() < 19


def test_lraspp_dynamic_size_and_output_ops(tmp_path):
    import paddle

    from generator.export.arch_segmentation import build_lraspp

    net = build_lraspp(num_classes=3, backbone="mobilenet_v3_small", backbone_scale=0.5,
                       output_op="softmax", decoder_channels=8)
    net.eval()
    probs = net(paddle.rand([1, 3, 40, 72]))
    assert probs.shape == [1, 3, 40, 72]
    np.testing.assert_allclose(probs.sum(axis=1).numpy(), 1.0, rtol=1e-5)
    built = ARCHITECTURES["lraspp"]({"args": {"num_classes": 3, "backbone": "mobilenet_v3_small",
                                              "backbone_scale": 0.5, "input_size": None,
                                              "decoder_channels": 8}}, {})
    assert _image_spec(built)["shape"] == [None, 3, None, None]
    res = export_built_model(built, tmp_path / "dyn", export_serving_model=False)
    predictor = create_predictor(res.model_dir)
    for h, w in ((48, 64), (64, 96)):
        (_, out), = run_predictor(predictor, {"x": np.random.rand(1, 3, h, w).astype("float32")})
        assert out.shape == (1, h, w) and out.dtype == np.int32


def test_lraspp_argument_errors():
    build = ARCHITECTURES["lraspp"]
    with pytest.raises(ConfigError, match="did you mean 'num_classes'"):
        build({"args": {"num_class": 3}}, {})
    with pytest.raises(ConfigError, match="backbone 'resnet5' .*did you mean 'resnet50'"):
        build({"args": {"backbone": "resnet5"}}, {})
    with pytest.raises(ConfigError, match="output_op"):
        build({"args": {"output_op": "max"}}, {})
    with pytest.raises(ConfigError, match="input_size"):
        build({"args": {"input_size": [64, 0]}}, {})


# --- embedding ----------------------------------------------------------------------------

EMB_YML = """\
version: 1
task: embedding
model:
  arch: reid_embedding
  args: {backbone: resnet18, embedding_dim: 16, input_size: [64, 32]}
"""


def test_embedding_export_features_and_default_preprocess(tmp_path, image_rgb):
    path = tmp_path / "reid_tiny.yml"
    path.write_text(EMB_YML)
    res = export_config(path, tmp_path / "out")
    assert res.feed_names == ["x"] and res.parity is not None and res.parity.ok
    served = read_model_config(res.serving_server)
    assert list(served.feed_vars[0].shape) == [3, 64, 32]
    assert CODE_TO_DTYPE[served.fetch_vars[0].dtype_code] == "float32"
    infer = yaml.safe_load(res.infer_cfg_path.read_text())
    assert infer["task"] == "embedding" and infer["input_shape"] == [None, 3, 64, 32]
    # ReID resizes straight to [w, h]: no short-side resize, no centre crop
    assert infer["Preprocess"][0] == {"type": "ResizeImage", "size": [32, 64]}
    assert [op["type"] for op in infer["Preprocess"]] == ["ResizeImage", "NormalizeImage",
                                                           "ToCHWImage"]
    chw, _ = build_preprocess(infer["Preprocess"], "ppcls")(image_rgb)
    assert chw.shape == (3, 64, 32)
    (_, feats), = run_predictor(create_predictor(res.model_dir), {"x": np.stack([chw, chw])})
    assert feats.dtype == np.float32 and feats.shape == (2, 16)
    np.testing.assert_allclose(np.linalg.norm(feats, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(feats[0], feats[1], rtol=1e-5, atol=1e-6)


def test_reid_backbone_last_stride_neck_and_state_dict():
    import paddle
    import paddle.vision.models as pvm

    from generator.export.arch_embedding import build_reid_embedding

    net = build_reid_embedding("resnet18", normalize=False, bn_neck=False)
    assert net.backbone.out_stride == 16 and net.embedding_dim == 512
    net.eval()
    x = paddle.rand([2, 3, 64, 32])
    fmap = net.backbone(x, (16,))[0]
    assert fmap.shape == [2, 512, 4, 2]  # last stride 1: 64x32 / 16
    feats = net(x)
    assert feats.shape == [2, 512]
    assert float(paddle.linalg.norm(feats, axis=1).min()) > 0
    # a paddle.vision ImageNet state dict loads into the backbone (classifier left out)
    ref = set(pvm.resnet18(pretrained=False).state_dict()) - {"fc.weight", "fc.bias"}
    mine = {k[len("backbone."):] for k in net.state_dict() if k.startswith("backbone.")}
    assert mine == ref
    necked = build_reid_embedding("resnet18", last_stride=2)
    assert necked.backbone.out_stride == 32
    bias = dict(necked.named_parameters())["bn_neck.bias"]
    assert bias.stop_gradient  # BNNeck shift is frozen
    with pytest.raises(ConfigError, match="only available for ResNet"):
        build_reid_embedding("mobilenet_v3_small", last_stride=1)
    with pytest.raises(ConfigError, match="embedding_dim"):
        build_reid_embedding("resnet18", embedding_dim=0)


# --- the shipped serving_configs ------------------------------------------------------------

#: the configs that build a network (an OCR config composes exported model folders instead:
#: tests/ocr covers serving_configs/ocr.yml)
CONFIGS = sorted(p.name for p in SERVING_CONFIGS.glob("*.yml")
                 if yaml.safe_load(p.read_text()).get("task") != "ocr")


def test_all_six_configs_are_shipped():
    assert {"yolov3.yml", "yolov3_darknet53.yml", "yolov3_mobilenet_v1.yml", "resnet50_cls.yml",
            "segmentation.yml", "embedding.yml"} <= set(CONFIGS)


@pytest.mark.parametrize("name", CONFIGS)
def test_serving_config_builds_and_preprocess_matches_input(name, image_rgb):
    path = SERVING_CONFIGS / name
    assert path.read_text().startswith("#"), f"{name} needs a header comment"
    cfg, built = _build(path)
    assert cfg["version"] == 1 and built.task == cfg["task"]
    assert built.infer_cfg is not None
    spec = _image_spec(built)
    pre = build_preprocess(built.infer_cfg["Preprocess"], TOOLKIT[built.task])
    chw, info = pre(image_rgb)
    assert [3, *chw.shape[1:]] == spec["shape"][1:], (name, chw.shape, spec)
    assert chw.dtype == np.float32
    assert info["ori_shape"] == (240, 320)
    if built.task == "detection":  # what the service feeds as scale_factor
        h, w = spec["shape"][2:]
        np.testing.assert_allclose(info["scale_factor"], [h / 240, w / 320], rtol=1e-6)


@pytest.mark.parametrize("name", ["resnet50_cls.yml", "segmentation.yml", "embedding.yml"])
def test_config_header_says_how_to_use_it(name):
    header = SERVING_CONFIGS.joinpath(name).read_text().split("\nversion:")[0]
    assert f"scaffold new --config serving_configs/{name} -o weights=" in header


def test_task_specific_config_contents():
    cfg, built = _build(SERVING_CONFIGS / "resnet50_cls.yml")
    assert cfg["model"]["arch"] == "resnet50" and _image_spec(built)["shape"] == [None, 3, 224, 224]
    assert built.label_list == []  # ImageNet names are not shipped (see the file header)
    assert built.infer_cfg["Preprocess"][:2] == [{"type": "ResizeImage", "resize_short": 256},
                                                 {"type": "CropImage", "size": 224}]
    cfg, built = _build(SERVING_CONFIGS / "embedding.yml")
    assert built.layer.embedding_dim == 2048 and built.layer.backbone.out_stride == 16
    assert _image_spec(built)["shape"] == [None, 3, 256, 128]
    cfg, built = _build(SERVING_CONFIGS / "segmentation.yml")
    assert built.label_list[:3] == CITYSCAPES_FIRST and len(built.label_list) == 19
    assert built.layer.num_classes == 19 and built.layer.output_op == "argmax"
