"""Reading Paddle 3 toolkit exports' inference.yml: the kind of each stand-in export (in each
exporter's exact layout), training-only ops ignored, and unknown kinds refused with an error
naming model_name / PostProcess and the supported kinds — before `scaffold new` writes
anything."""

from __future__ import annotations

import shutil

import pytest
import yaml
from click.testing import CliRunner

from generator.cli import main
from generator.ocr import TextDetector, TextlineOrientation, TextRecognizer, load_ocr_model
from generator.service.deploy_config import DeployConfigError, read_deploy_config
from generator.toolkit import KINDS, ToolkitExportError, read_toolkit_export
from tests.helpers import toolkit_exports as te


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    """Every stand-in export (det, rec, textline ori, PicoDet, PaddleClas, PaddleSeg)."""
    return te.save_all(tmp_path_factory.mktemp("exports"))


def _edited(src, dst, edit):
    """A copy of an export folder whose inference.yml went through `edit(dict)`."""
    shutil.copytree(src.model_dir, dst)
    data = yaml.safe_load((dst / "inference.yml").read_text(encoding="utf-8"))
    edit(data)
    (dst / "inference.yml").write_text(yaml.safe_dump(data, allow_unicode=True),
                                       encoding="utf-8")
    return dst


def test_each_stand_in_is_read_as_its_kind(exports):
    for name, made in exports.items():
        export = read_toolkit_export(made.model_dir)
        assert export.kind == made.kind, name
        assert export.model_name == name
        assert read_deploy_config(made.model_dir / "inference.yml").task == made.kind


def test_training_only_ops_are_dropped_and_decode_image_is_kept(exports):
    det = read_toolkit_export(exports["PP-OCRv5_mobile_det"].model_dir)
    assert det.ignored_ops == ["DetLabelEncode", "KeepKeys"]
    assert [next(iter(op)) for op in det.preprocess] == \
        ["DecodeImage", "DetResizeForTest", "NormalizeImage", "ToCHWImage"]
    assert det.op("DecodeImage") == {"img_mode": "BGR", "channel_first": False}
    rec = read_toolkit_export(exports["PP-OCRv5_mobile_rec"].model_dir)
    assert rec.ignored_ops == ["MultiLabelEncode", "KeepKeys"]
    assert rec.op("RecResizeImg") == {"image_shape": [3, 48, 320]}
    assert rec.postprocess["character_dict"] == te.REC_DICT


def test_ocr_models_take_their_settings_from_the_yml(exports):
    det = TextDetector.from_model_dir(exports["PP-OCRv5_mobile_det"].model_dir)
    assert det.color == "BGR"
    assert det.resize == {"limit_side_len": 960, "limit_type": "max", "max_side_limit": 4000}
    assert (det.post.thresh, det.post.box_thresh, det.post.unclip_ratio,
            det.post.max_candidates) == (0.3, 0.6, 1.5, 1000)
    rec = TextRecognizer.from_model_dir(exports["PP-OCRv5_mobile_rec"].model_dir)
    assert rec.image_shape == (3, 48, 320) and rec.max_width == 3200
    assert rec.decoder.characters == ["blank", *te.REC_DICT, " "]
    ori = load_ocr_model(exports["PP-LCNet_x0_25_textline_ori"].model_dir)
    assert isinstance(ori, TextlineOrientation)
    assert ori.labels == ["0_degree", "180_degree"]


def test_v4_server_and_other_db_models_get_paddlex_limits(exports, tmp_path):
    src = exports["PP-OCRv5_mobile_det"]

    def rename(name, resize):
        def edit(data):
            data["Global"]["model_name"] = name
            for op in data["PreProcess"]["transform_ops"]:
                if "DetResizeForTest" in op:
                    op["DetResizeForTest"] = resize
        return edit

    v4 = _edited(src, tmp_path / "v4", rename("PP-OCRv4_server_det", {"resize_long": 1280}))
    assert TextDetector.from_model_dir(v4).resize["limit_side_len"] == 1280
    # a model outside PaddleX's list: shorter side at least 736; the yml's own limit keys are
    # ignored as PaddleX ignores them
    other = _edited(src, tmp_path / "other",
                    rename("my_DB_det", {"limit_side_len": 64, "limit_type": "max"}))
    assert TextDetector.from_model_dir(other).resize == \
        {"limit_side_len": 736, "limit_type": "min", "max_side_limit": 4000}


@pytest.mark.parametrize("name, edit, words", [
    ("PP-OCRv5_mobile_rec",
     lambda d: d["PostProcess"].update(name="SARLabelDecode"),
     ["'PP-OCRv5_mobile_rec'", "'SARLabelDecode'"]),
    ("PP-LCNet_x1_0",
     lambda d: d.update(PostProcess={"ThreshOutput": {"threshold": 0.5}}),
     ["'PP-LCNet_x1_0'", "ThreshOutput"]),
    ("PP-LCNet_x1_0", lambda d: d.pop("PostProcess"), ["'PP-LCNet_x1_0'", "(none)"]),
    ("PicoDet-S", lambda d: d.update(arch="HRNet"), ["'HRNet'", "'PicoDet-S'"]),
])
def test_unknown_kind_is_refused_before_anything_is_written(exports, tmp_path, name, edit,
                                                            words):
    src = _edited(exports[name], tmp_path / "src", edit)
    with pytest.raises(ToolkitExportError) as info:
        read_toolkit_export(src)
    message = str(info.value)
    for word in [*words, "supported kinds", *KINDS]:
        assert word in message
    with pytest.raises(DeployConfigError, match="supported kinds"):
        read_deploy_config(src / "inference.yml")
    out = tmp_path / "svc"
    res = CliRunner().invoke(main, ["new", "--model-dir", str(src), "--output", str(out),
                                    "--no-vendor"])
    assert res.exit_code != 0
    assert "supported kinds" in res.output and name in res.output
    assert not out.exists() and not list(tmp_path.glob(".svc*"))


def test_bad_ocr_yml_values_are_clear_errors(exports, tmp_path):
    rec = exports["PP-OCRv5_mobile_rec"]
    no_dict = _edited(rec, tmp_path / "nodict",
                      lambda d: d["PostProcess"].pop("character_dict"))
    with pytest.raises(ToolkitExportError, match="character_dict"):
        read_toolkit_export(no_dict)

    def drop_resize(d):
        d["PreProcess"]["transform_ops"] = [op for op in d["PreProcess"]["transform_ops"]
                                            if "RecResizeImg" not in op]
    no_shape = _edited(rec, tmp_path / "noshape", drop_resize)
    with pytest.raises(ToolkitExportError, match="RecResizeImg"):
        TextRecognizer.from_model_dir(no_shape)

    def bad_mode(d):
        d["PreProcess"]["transform_ops"][0]["DecodeImage"]["img_mode"] = "CMYK"
    cmyk = _edited(exports["PP-OCRv5_mobile_det"], tmp_path / "cmyk", bad_mode)
    with pytest.raises(ToolkitExportError, match="img_mode"):
        TextDetector.from_model_dir(cmyk)
    with pytest.raises(ToolkitExportError, match="no inference.yml"):
        read_toolkit_export(tmp_path)


def test_topk_in_the_training_config_form_is_a_classifier(exports, tmp_path):
    def named(d):
        d["PostProcess"] = {"name": "Topk", "topk": 1, "label_list": ["0_degree", "180_degree"]}
    ori = _edited(exports["PP-LCNet_x0_25_textline_ori"], tmp_path / "ori", named)
    assert read_toolkit_export(ori).kind == "textline_orientation"
    assert TextlineOrientation.from_model_dir(ori).labels == ["0_degree", "180_degree"]

    def renamed(d):
        d["Global"]["model_name"] = "PP-LCNet_x1_0_doc_ori"
        named(d)
    cls = _edited(exports["PP-LCNet_x0_25_textline_ori"], tmp_path / "cls", renamed)
    deploy = read_deploy_config(cls / "inference.yml")
    assert (deploy.task, deploy.labels) == ("classification", ["0_degree", "180_degree"])
