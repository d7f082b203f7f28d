"""Helpers of the scaffold tests: `scaffold new` run in-process (CliRunner; Paddle is imported
once), scripts run in a generated folder, and the per-task configs used by `conftest.py`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from tests.helpers.services import REPO_ROOT, service_env

CONFIGS = REPO_ROOT / "serving_configs"
IMAGE = REPO_ROOT / "tests" / "data" / "shapes_320x240.jpg"
NORMALIZE = "{type: NormalizeImage, scale: 0.00392156862745098, mean: [0.485, 0.456, 0.406], " \
            "std: [0.229, 0.224, 0.225], order: ''}"

#: kind -> (config, overrides): small inputs so each export takes a few seconds
SERVICES: dict[str, tuple[Path, list[str]]] = {
    "detection": (CONFIGS / "yolov3.yml", [
        "model.args.image_shape=[3,64,64]", "service.draw_threshold=0.0"]),
    "detection_darknet53": (CONFIGS / "yolov3_darknet53.yml", [
        "model.args.image_shape=[3,64,64]", "service.draw_threshold=0.0"]),
    "classification": (CONFIGS / "resnet50_cls.yml", [
        "inputs=[{name: x, shape: [null, 3, 32, 32], dtype: float32}]",
        f"preprocess=[{{type: ResizeImage, resize_short: 36}}, {{type: CropImage, size: 32}}, "
        f"{NORMALIZE}, {{type: ToCHWImage}}]", "service.top_k=3"]),
    "segmentation": (CONFIGS / "segmentation.yml", [
        "model.args.backbone=mobilenet_v3_small", "model.args.input_size=[64,64]",
        "preprocess=[{type: Resize, target_size: [64, 64]}, "
        "{type: Normalize, mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5]}]"]),
    "embedding": (CONFIGS / "embedding.yml", [
        "model.args.backbone=resnet18", "model.args.input_size=[64,32]",
        f"preprocess=[{{type: ResizeImage, size: [32, 64]}}, {NORMALIZE}, {{type: ToCHWImage}}]"]),
}


#: What `scaffold new` gets in tests that are not about the backend choice: Paddle with
#: oneDNN off, as before the choice existed, so that each generation skips the measurements
#: (tests/scaffold/test_backend_choice.py covers the default).
FIXED_BACKEND = ("--backend", "paddle", "-o", "service.use_mkldnn=false")


def scaffold(*args: str, cwd: Path | None = None):
    """Run `scaffold <args>` in-process; returns click's Result (exit_code, output, stderr).
    `new` gets FIXED_BACKEND unless the test names a backend."""
    from generator.cli import main

    if args and args[0] == "new" and "--backend" not in args:
        args = (*args, *FIXED_BACKEND)

    old = Path.cwd()
    if cwd is not None:
        os.chdir(cwd)
    try:
        return CliRunner().invoke(main, list(args), catch_exceptions=False)
    finally:
        os.chdir(old)


def run_script(folder: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """`python <args>` in a generated service folder (the repo importable)."""
    return subprocess.run([sys.executable, *args], cwd=folder, env=service_env(),
                          capture_output=True, text=True, timeout=timeout)
