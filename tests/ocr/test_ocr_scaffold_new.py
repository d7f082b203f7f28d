"""`scaffold new` for the OCR service: which folders make one (kinds from inference.yml), the
`task: ocr` config (serving_configs/ocr.yml), and clear errors before anything is written."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from generator.scaffold.ocr_service import _read_config
from tests.helpers.services import REPO_ROOT
from tests.ocr.known_models import save_code_rec, save_dark_det

YMLS = {
    "det": {"Global": {"model_name": "PP-OCRv5_mobile_det"},
            "PreProcess": {"transform_ops": [{"DecodeImage": {"img_mode": "BGR"}},
                                             {"DetResizeForTest": None}]},
            "PostProcess": {"name": "DBPostProcess", "thresh": 0.3}},
    "rec": {"Global": {"model_name": "PP-OCRv5_mobile_rec"},
            "PreProcess": {"transform_ops": [{"RecResizeImg": {"image_shape": [3, 48, 320]}}]},
            "PostProcess": {"name": "CTCLabelDecode", "character_dict": ["a", "b"]}},
    "ori": {"Global": {"model_name": "PP-LCNet_x0_25_textline_ori"},
            "PreProcess": {"transform_ops": [{"ResizeImage": {"size": [160, 80]}}]},
            "PostProcess": {"Topk": {"topk": 1, "label_list": ["0_degree", "180_degree"]}}},
    "cls": {"Global": {"model_name": "PP-LCNet_x1_0"},
            "PreProcess": {"transform_ops": [{"ResizeImage": {"resize_short": 256}}]},
            "PostProcess": {"Topk": {"topk": 5}}},
}


def _yml_only(root: Path, kind: str, name: str | None = None) -> Path:
    d = root / (name or kind)
    d.mkdir()
    (d / "inference.yml").write_text(yaml.safe_dump(YMLS[kind]), encoding="utf-8")
    return d


def _new(*args: str):
    from generator.cli import main

    return CliRunner().invoke(main, ["new", *args, "--no-vendor"], catch_exceptions=False)


@pytest.mark.parametrize("kinds, message", [
    (("det", "det2"), "two text detection models"),
    (("det", "ori"), "needs a text recognition model too"),
    (("rec", "ori"), "needs a text detection model too"),
    (("det", "cls"), "is a classification model (PP-LCNet_x1_0)"),
])
def test_wrong_sets_of_model_folders_are_refused_before_writing(tmp_path, kinds, message):
    dirs = [_yml_only(tmp_path, k.rstrip("2"), k) for k in kinds]
    out = tmp_path / "out"
    res = _new(*[a for d in dirs for a in ("--model-dir", str(d))], "--output", str(out))
    assert res.exit_code != 0
    assert message in res.output, res.output
    assert not out.exists()


def test_a_folder_that_is_not_an_export_and_overrides_are_refused(tmp_path):
    det = _yml_only(tmp_path, "det")
    res = _new("--model-dir", str(det), "--model-dir", str(tmp_path / "missing"))
    assert res.exit_code != 0 and "missing: not a directory" in res.output
    res = _new("--model-dir", str(det), "--model-dir", str(tmp_path))
    assert res.exit_code != 0 and "no inference.yml" in res.output
    rec = _yml_only(tmp_path, "rec")
    res = _new("--model-dir", str(det), "--model-dir", str(rec), "-o", "service.top_k=3")
    assert res.exit_code != 0 and "-o overrides do not apply to an OCR service" in res.output
    res = _new("--model-dir", str(det), "--model-dir", str(rec), "--trt", "fp16")
    assert res.exit_code != 0 and "TensorRT is not supported by the OCR service" in res.output


def test_the_repository_ocr_config_names_its_folders_and_settings():
    cfg, dirs = _read_config(REPO_ROOT / "serving_configs" / "ocr.yml")
    assert cfg["task"] == "ocr" and cfg["ocr"] == {"rec_batch_size": 6, "score_thresh": 0.0}
    assert [d.name for d in dirs] == ["PP-OCRv5_mobile_det_infer", "PP-OCRv5_mobile_rec_infer"]
    assert all(d.parent == REPO_ROOT / "serving_configs" / "models" for d in dirs)
    res = _new("--config", str(REPO_ROOT / "serving_configs" / "ocr.yml"), "--dry-run")
    assert res.exit_code != 0  # the models are the user's to export or download
    assert "PP-OCRv5_mobile_det_infer: not a directory; give a toolkit export folder" in \
        res.output


@pytest.mark.parametrize("edit, message", [
    ({"ocr": {"score_thresh": 2}}, "ocr.score_thresh: expected a number in [0, 1]"),
    ({"ocr": {"rec_batch": 6}}, "`ocr:` takes rec_batch_size, score_thresh"),
    ({"model": {}}, "unknown key(s) model"),
    ({"models": {"text_detection": "det", "layout": "x"}}, "models.layout: unknown kind"),
    ({"service": {"http_port": 0}}, "service.http_port: expected an integer 1..65535"),
])
def test_ocr_config_errors(tmp_path, edit, message):
    _yml_only(tmp_path, "det")
    _yml_only(tmp_path, "rec")
    cfg = {"name": "reader", "task": "ocr",
           "models": {"text_detection": "det", "text_recognition": "rec"}, **edit}
    path = tmp_path / "reader.yml"
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    res = _new("--config", str(path), "--dry-run")
    assert res.exit_code != 0 and message in res.output, res.output


@pytest.mark.slow
def test_ocr_config_plans_one_folder_per_stage(tmp_path):
    save_dark_det(tmp_path / "models" / "det")
    save_code_rec(tmp_path / "models" / "rec")
    path = tmp_path / "reader.yml"
    path.write_text(yaml.safe_dump({
        "name": "reader", "task": "ocr",
        "models": {"text_detection": "models/det", "text_recognition": "models/rec",
                   "textline_orientation": None},
        "ocr": {"rec_batch_size": 4}, "service": {"http_port": 18111, "rpc_port": 18112}}),
        encoding="utf-8")
    res = _new("--config", str(path), "--dry-run", "--output", str(tmp_path / "out"))
    assert res.exit_code == 0, res.output
    assert "would write" in res.output and "(ocr service 'reader')" in res.output
    listed = [ln.strip() for ln in res.output.splitlines() if ln.startswith("  ")]
    for rel in ("det/", "rec/", "web_service.py", "config.yml", "infer.py", "README.md",
                "pipeline_http_client.py", "k8s/deployment.yaml"):
        assert rel in listed
    assert "ori/" not in listed and not (tmp_path / "out").exists()


@pytest.mark.slow
def test_update_regenerates_when_a_model_named_by_the_config_changes(tmp_path):
    save_dark_det(tmp_path / "models" / "det")
    rec = save_code_rec(tmp_path / "models" / "rec")
    path = tmp_path / "reader.yml"
    path.write_text(yaml.safe_dump({
        "name": "reader", "task": "ocr",
        "models": {"text_detection": "models/det", "text_recognition": "models/rec"},
        "service": {"http_port": 18121, "rpc_port": 18122}}), encoding="utf-8")
    out = tmp_path / "out"
    args = ("--config", str(path), "--output", str(out), "--backend", "paddle")
    assert _new(*args).exit_code == 0
    assert "up to date" in _new(*args, "--update").output
    record = yaml.safe_load((out / ".scaffold.yml").read_text())
    assert record["task"] == "ocr" and set(record["stages"]) == {"det", "rec"}
    # both stages on Paddle: the image installs Paddle and no other backend runtime
    assert "paddle-serving-scaffold[paddle-cpu]==" in (out / "requirements.txt").read_text()
    assert record["inputs"]["model_dirs"] == [str((tmp_path / "models" / d).resolve())
                                              for d in ("det", "rec")]
    yml = rec / "inference.yml"
    yml.write_text(yml.read_text(encoding="utf-8") + "\n# re-exported\n", encoding="utf-8")
    res = _new(*args, "--update")
    assert res.exit_code == 0 and "created" in res.output, res.output


def test_requirements_carry_the_runtime_of_every_stage_backend_once():
    from generator.scaffold.backend_choice import service_extras

    assert service_extras("cpu", "paddle", "paddle") == "paddle-cpu"
    assert service_extras("cpu", "onnxruntime", "paddle", "openvino", "onnxruntime") == \
        "paddle-cpu,onnxruntime,openvino"
    assert service_extras("gpu", "paddle", "paddle") == "gpu"
