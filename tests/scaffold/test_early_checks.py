"""Every config error before anything is written, as a message: preprocess ops checked by
`new` and `export` with the service's own builder, `-o` typos on PaddleDetection configs
(warning, or an error with --strict-overrides), override value types, a truncated
`--model-dir` model, an unwritable export folder."""

from __future__ import annotations

import shutil

import pytest
from scaffold_helpers import CONFIGS, scaffold

from tests.helpers.services import REPO_ROOT

CLS = CONFIGS / "resnet50_cls.yml"
TINY_PPDET = REPO_ROOT / "tests" / "fixtures" / "ppdet" / "configs" / "tinyyolo" / \
    "tiny_yolov3_mbv1.yml"
BAD_OPS = "preprocess=[{type: ResizeImage, resize_short: 36}, {type: CropImg, size: 32}, " \
          "{type: ToCHWImage}]"


def _siblings(path):
    return sorted(p.name for p in path.iterdir())


@pytest.mark.parametrize("command", ["new", "export"])
def test_a_typo_in_a_preprocess_op_is_refused_before_writing(tmp_path, command):
    out = tmp_path / "out"
    args = ["new", "--config", str(CLS), "--output", str(out)] if command == "new" else \
        ["export", "-c", str(CLS), "--output_dir", str(out)]
    res = scaffold(*args, "-o", BAD_OPS, cwd=tmp_path)
    assert res.exit_code == 2, res.output
    assert "preprocess: unsupported ppcls preprocess op #1 'CropImg'" in res.output
    assert "CropImage" in res.output  # the supported ops are listed
    assert _siblings(tmp_path) == []


@pytest.mark.parametrize("command", ["new", "export"])
def test_a_typo_in_a_paddledetection_transform_is_refused(tmp_path, command):
    transforms = "TestReader.sample_transforms=[{Decode: {}}, {Resize: {target_size: [64, 64], " \
                 "keep_ratio: false}}, {NormalizeImg: {}}, {Permute: {}}]"
    args = ["new", "--config", str(TINY_PPDET), "--output", str(tmp_path / "o")] \
        if command == "new" else ["export", "-c", str(TINY_PPDET), "--output_dir",
                                  str(tmp_path / "o")]
    res = scaffold(*args, "-o", transforms, cwd=tmp_path)
    assert res.exit_code == 2, res.output
    assert "TestReader: preprocess: unsupported ppdet preprocess op #1 'NormalizeImg'" \
        in res.output
    assert _siblings(tmp_path) == []


def test_bad_preprocess_arguments_are_refused(tmp_path):
    res = scaffold("new", "--config", str(CLS), "--output", str(tmp_path / "o"), "-o",
                   "preprocess=[{type: ResizeImage, resize_shrot: 36}, {type: ToCHWImage}]")
    assert res.exit_code == 2, res.output
    assert "ResizeImage" in res.output and "resize_shrot" in res.output
    assert _siblings(tmp_path) == []


def test_override_types_are_checked(tmp_path):
    res = scaffold("new", "--config", str(CONFIGS / "yolov3.yml"), "--output",
                   str(tmp_path / "o"), "-o", "model.args.num_classes=abc")
    assert res.exit_code == 2, res.output
    assert "-o model.args.num_classes=abc: expected an integer like the config's " \
           "model.args.num_classes: 80, found 'abc'" in res.output
    assert "Traceback" not in res.output and _siblings(tmp_path) == []
    res = scaffold("new", "--config", str(CONFIGS / "yolov3.yml"), "--output",
                   str(tmp_path / "o"), "-o", "model.args=[1]")
    assert res.exit_code == 2 and "expected a mapping like the config's model.args: {" in \
        res.output
    assert max(len(line) for line in res.output.splitlines()) < 200  # the value is shortened


def test_unknown_ppdet_override_keys_warn_or_fail(tmp_path):
    res = scaffold("new", "--config", str(TINY_PPDET), "-o", "YOLOv3.backbne=MobileNet",
                   "--dry-run", cwd=tmp_path)
    assert res.exit_code == 0, res.output
    assert "warning:" in res.output and "did you mean 'YOLOv3.backbone'?" in res.output
    assert "PaddleDetection ignores unknown keys" in res.output
    res = scaffold("new", "--config", str(TINY_PPDET), "-o", "YOLOv3.backbne=MobileNet",
                   "--dry-run", "--strict-overrides", cwd=tmp_path)
    assert res.exit_code == 2 and "did you mean 'YOLOv3.backbone'?" in res.output
    res = scaffold("export", "-c", str(TINY_PPDET), "-o", "YOLOv3.backbne=MobileNet",
                   "--strict-overrides", "--output_dir", str(tmp_path / "x"))
    assert res.exit_code == 2 and "did you mean 'YOLOv3.backbone'?" in res.output
    assert _siblings(tmp_path) == []


def test_a_truncated_model_dir_is_refused(generated, tmp_path):
    seg, _, _ = generated("segmentation")
    src = tmp_path / "model"
    src.mkdir()
    for name in ("model.json", "model.pdiparams", "infer_cfg.yml"):
        shutil.copy(seg / ("infer_cfg.yml" if name == "infer_cfg.yml" else
                           f"serving_server/{name}"), src / name)
    params = src / "model.pdiparams"
    params.write_bytes(params.read_bytes()[: params.stat().st_size // 2])
    res = scaffold("new", "--model-dir", str(src), "--output", str(tmp_path / "o"))
    assert res.exit_code == 2, res.output
    assert f"the model files in {src} do not load" in res.output
    assert _siblings(tmp_path) == ["model"]


def test_unwritable_export_folder_fails_before_exporting(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    res = scaffold("export", "-c", str(CONFIGS / "segmentation.yml"), "--output_dir",
                   str(blocker / "out"))
    assert res.exit_code == 2, res.output
    assert f"{blocker} is a file, not a folder" in res.output
    assert "[export]" not in res.output


def test_a_paddle_error_during_the_export_is_one_line(tmp_path):
    res = scaffold("new", "--config", str(CONFIGS / "yolov3.yml"), "--no-vendor", "--output",
                   str(tmp_path / "o"), "-o", "model.args.image_shape=[3,64,64]", "-o",
                   "model.args.num_classes=-3")
    assert res.exit_code == 1, res.output
    error = next(line for line in res.output.splitlines() if line.startswith("Error: "))
    assert "ValueError: (InvalidArgument) Attr(class_num)" in error
    assert "In transformed code" not in res.output and 'File "' not in res.output
    assert "scaffold --verbose" in error
    assert _siblings(tmp_path) == []
