"""The two-stage OCR service (`scaffold new --model-dir DET --model-dir REC`) under `scaffold
bench`: QPS and latency at 1/4/16 clients over gRPC and HTTP, against the in-process OCR
pipeline (the same stages, models and backends, one image at a time) measured in the same run.

Models: the tests' PP-OCRv5 mobile det/rec stand-ins (tests/helpers/toolkit_exports.py: the
real models' inputs, outputs and inference.yml, small random-weight networks; no weights are
downloaded), so the figures show what the service adds around small models, not PP-OCRv5's
own speed. Image: a 640x480 page of 8 drawn text lines (PNG), decoded on every request.

    .venv/bin/python benchmarks/ocr_service.py [--duration 5] [--concurrency 1,4,16]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import cv2

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per level")
    parser.add_argument("--concurrency", default="1,4,16")
    args = parser.parse_args()

    from click.testing import CliRunner

    from generator.cli import main as scaffold
    from generator.quality.bench import BenchOptions, bench_service
    from tests.helpers.services import free_port
    from tests.helpers.toolkit_exports import draw_text_lines, save_ppocr_det, save_ppocr_rec

    with tempfile.TemporaryDirectory(prefix="ocr-bench-") as tmp:
        root = Path(tmp)
        det, rec = save_ppocr_det(root / "det"), save_ppocr_rec(root / "rec")
        out = root / "ocr_serving"
        res = CliRunner().invoke(scaffold, [
            "new", "--model-dir", str(det.model_dir), "--model-dir", str(rec.model_dir),
            "--output", str(out), "--no-vendor", "--http-port", str(free_port()),
            "--rpc-port", str(free_port())], catch_exceptions=False)
        print(res.output)
        if res.exit_code:
            return 1
        page = draw_text_lines(640, 480, ["hello 42", "serving", "ab12 cd", "paddle ocr",
                                          "2026", "text line six", "x", "last line 8"])
        image = cv2.imencode(".png", page)[1].tobytes()
        levels = tuple(int(c) for c in args.concurrency.split(","))
        report = bench_service(out, BenchOptions(image=image, concurrency=levels,
                                                 duration=args.duration,
                                                 protocols=("grpc", "http")))
        print(report.table())
    return 0


if __name__ == "__main__":
    sys.exit(main())
