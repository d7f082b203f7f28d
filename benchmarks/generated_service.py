"""A generated PP-LCNet_x1_0-class classification service end to end, as a user gets it: a
PaddleClas-style export (PIR `inference.json` + `inference.yml`), `scaffold new --model-dir`
(backend choice and serving sweep on this machine, printed), then `scaffold bench` at 1/4/16
gRPC clients against the in-process baseline (one predictor of the chosen backend on all the
threads the service's instances share).

Model: the PP-LCNet_x1_0 layout of benchmarks/throughput.py (non-degenerate random weights:
BatchNorm statistics from one train-mode pass), exported with the stand-in's `inference.yml`
(tests/helpers/toolkit_exports.py: PaddleClas' ResizeImage 256, CropImage 224, topk 5). Image: a
500x375 JPEG.

    .venv/bin/python benchmarks/generated_service.py [--duration 5] [--concurrency 1,4,16]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def export(work: Path) -> Path:
    """The PP-LCNet-class network saved as PaddleClas exports it."""
    import paddle

    from benchmarks.throughput import calibrated, lcnet
    from tests.helpers import toolkit_exports as te

    stand_in = te.save_paddleclas(work / "stand_in")
    out = work / "PP-LCNet_x1_0"
    out.mkdir()
    paddle.seed(0)
    net = calibrated(lcnet())
    paddle.jit.save(net, str(out / "inference"),
                    input_spec=[paddle.static.InputSpec([None, 3, 224, 224], "float32", "x")])
    shutil.copy(stand_in.model_dir / "inference.yml", out / "inference.yml")
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", default="5")
    parser.add_argument("--concurrency", default="1,4,16")
    args = parser.parse_args()
    from click.testing import CliRunner

    from benchmarks.throughput import jpeg
    from generator.cli import main as cli
    from tests.helpers.services import free_port

    with tempfile.TemporaryDirectory(prefix="gen-svc-") as tmp:
        work = Path(tmp)
        model = export(work)
        svc = work / "svc"
        res = CliRunner().invoke(cli, ["new", "--model-dir", str(model), "--output", str(svc),
                                       "--no-vendor", "--http-port", str(free_port()),
                                       "--rpc-port", str(free_port())])
        print(res.output, flush=True)
        if res.exit_code:
            return 1
        import base64

        _, b64_file = jpeg(work)
        image = work / "image.jpg"
        image.write_bytes(base64.b64decode(b64_file.read_text()))
        res = CliRunner().invoke(cli, ["bench", str(svc), "--concurrency", args.concurrency,
                                       "--duration", args.duration, "--protocol", "grpc",
                                       "--baseline-seconds", "8", "--image", str(image)])
        print(res.output, flush=True)
        return res.exit_code


if __name__ == "__main__":
    sys.exit(main())
