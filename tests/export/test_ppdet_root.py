"""`--ppdet-root`: an architecture scaffold does not rebuild (Faster R-CNN here) is exported by a
PaddleDetection checkout's own tools/export_model.py, then served. The checkout is a stand-in
script with PaddleDetection's CLI and output layout (model.json, model.pdiparams, infer_cfg.yml
under <output_dir>/<config stem>/); it produces a real small detector."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from generator.cli import main

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "ppdet" / "configs"
RCNN = FIXTURES / "other" / "tiny_rcnn.yml"
TINY_YOLO = FIXTURES / "tinyyolo" / "tiny_yolov3_mbv1.yml"
REPO = Path(__file__).resolve().parents[2]

STAND_IN = textwrap.dedent(f'''
    """Stand-in for PaddleDetection's tools/export_model.py (same flags, same output layout)."""
    import argparse
    import shutil
    import sys
    from pathlib import Path

    sys.path.insert(0, {str(REPO)!r})
    parser = argparse.ArgumentParser()
    parser.add_argument("-c", "--config", required=True)
    parser.add_argument("-o", "--opt", nargs="*", default=[])
    parser.add_argument("--output_dir", default="output_inference")
    args = parser.parse_args()
    assert "use_gpu=false" in args.opt, args.opt  # scaffold asks for CPU without a GPU
    Path("called_with.txt").write_text(" ".join(sys.argv[1:]))
    from generator.export.exporter import export_config

    name = Path(args.config).stem
    tmp = Path(args.output_dir) / "_tmp"
    res = export_config({str(TINY_YOLO)!r}, tmp, ["TestReader.inputs_def.image_shape=[3,32,32]"],
                        export_serving_model=False, verify=False)
    shutil.move(str(res.model_dir), str(Path(args.output_dir) / name))
    shutil.rmtree(tmp)
''')


@pytest.fixture
def ppdet_root(tmp_path):
    root = tmp_path / "PaddleDetection"
    (root / "tools").mkdir(parents=True)
    (root / "tools" / "export_model.py").write_text(STAND_IN)
    return root


def test_export_with_ppdet_root_writes_the_serving_folders(ppdet_root, tmp_path):
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["export", "-c", str(RCNN), "--ppdet-root", str(ppdet_root),
                                       "--output_dir", str(out)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    model = out / "tiny_rcnn"
    assert (model / "model.json").is_file() and (model / "infer_cfg.yml").is_file()
    assert (model / "serving_server" / "serving_server_conf.prototxt").is_file()
    assert (model / "serving_client" / "serving_client_conf.prototxt").is_file()
    assert "-c " + str(RCNN) in (ppdet_root / "called_with.txt").read_text()
    assert not list(out.glob(".*tmp*")), "no temporary folder left behind"


def test_new_with_ppdet_root_serves_the_exported_model(ppdet_root, tmp_path):
    from generator.quality.service_dir import open_service_dir
    from generator.service import LocalService

    svc = tmp_path / "rcnn_serving"
    result = CliRunner().invoke(main, ["new", "--config", str(RCNN), "--ppdet-root",
                                       str(ppdet_root), "--output", str(svc)],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert yaml.safe_load((svc / ".scaffold.yml").read_text())["task"] == "detection"
    op = open_service_dir(svc).served_op()
    out = LocalService(op, svc / "serving_server").predict_images(
        {"image": (REPO / "tests" / "data" / "shapes_320x240.jpg").read_bytes()})
    assert isinstance(out["image"], list)


def test_without_ppdet_root_the_error_names_both_ways_forward(tmp_path):
    result = CliRunner().invoke(main, ["new", "--config", str(RCNN), "--output",
                                       str(tmp_path / "x")])
    assert result.exit_code != 0
    assert "FasterRCNN" in result.output and "--ppdet-root" in result.output
    assert "--model-dir" in result.output
    assert not (tmp_path / "x").exists()
