"""Served vs in-process throughput of small classifiers, measured in one run (ratios only: the
machine is shared and noisy).

Models (random but non-degenerate weights: BatchNorm statistics set from one train-mode pass
over synthetic images, so activations neither vanish nor saturate):
  mbv3    paddle.vision MobileNetV3-small, 224x224, 1000 classes
  lcnet   a PP-LCNet_x1_0-class network (depthwise-separable blocks, hardswish, SE at the end)

Each is served like a generated classification service (`ClassificationOp`, ppcls preprocess:
resize_short 256, crop 224, normalise) in a subprocess, Paddle Inference with oneDNN. Served
configurations (each its own service, all up at once, measured window by window):
  py-switch-5ms  thread Op, 1 instance x 2 threads, batch 16 (auto-batching 10 ms), Python's
                 default 5 ms GIL switch interval: the request path before issue 22
  threads        the same with the server's 0.5 ms switch interval (`gil_switch_interval_ms`)
  processes      `worker_kind: auto` (Paddle holds the GIL -> processes), 2 instances x 1
                 thread, batch 4
The baseline is the best of one predictor in this process (2 threads; decode + preprocess +
predict of the same JPEG, batch 1 and 8), re-measured in every round. Load: 16 closed-loop gRPC
clients (grpc.aio, one request encoded once, key `image` = base64 JPEG, as a generated client
sends it) in a child process.

    .venv/bin/python benchmarks/throughput.py [--models mbv3,lcnet] [--rounds 3] [--seconds 4]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.runtime_overhead import save_model, start_service, stop  # noqa: E402

SERVICE = '''
import sys

from generator.runtime import WebService
from generator.service import ClassificationOp


class Svc(WebService):
    def get_pipeline_response(self, read_op):
        return ClassificationOp(name="model", input_ops=[read_op], top_k=5,
                                deploy_config="infer_cfg.yml")


svc = Svc(name="model")
svc.prepare_pipeline_config(sys.argv[1])
svc.run_service()
'''

CLIENT = r'''
import asyncio, json, sys
import grpc
from generator.runtime.proto import INFERENCE_METHOD_PATH, Request, Response
port, image_file, clients, seconds = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
req = Request(); req.key.append("image"); req.value.append(open(image_file).read())
payload = req.SerializeToString()
async def run():
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as ch:
        call = ch.unary_unary(INFERENCE_METHOD_PATH, request_serializer=None,
                              response_deserializer=Response.FromString)
        loop = asyncio.get_running_loop()
        await asyncio.gather(*(call(payload) for _ in range(clients)))  # warm
        end = loop.time() + seconds; n = err = 0; lat = []
        async def client():
            nonlocal n, err
            while loop.time() < end:
                t = loop.time(); r = await call(payload); lat.append(loop.time() - t)
                n += 1; err += bool(r.err_no)
        t0 = loop.time()
        await asyncio.gather(*(client() for _ in range(clients)))
        lat.sort()
        print(json.dumps({"ips": n / (loop.time() - t0), "errors": err,
                          "p50_ms": 1000 * lat[len(lat) // 2]}))
asyncio.run(run())
'''

PREPROCESS = [{"type": "ResizeImage", "resize_short": 256}, {"type": "CropImage", "size": 224},
              {"type": "NormalizeImage", "scale": 1 / 255, "mean": [0.485, 0.456, 0.406],
               "std": [0.229, 0.224, 0.225], "order": ""}, {"type": "ToCHWImage"}]

CONFIGS = {
    "py-switch-5ms": ({"batch_size": 16, "auto_batching_timeout": 10}, 2,
                      {"gil_switch_interval_ms": 5}),
    "threads": ({"batch_size": 16, "auto_batching_timeout": 10}, 2, {}),
    "processes": ({"worker_kind": "auto", "concurrency": 2, "batch_size": 4,
                   "auto_batching_timeout": 10}, 1, {}),
}


def lcnet(num_classes: int = 1000):
    """PP-LCNet_x1_0's layout: stem conv, 13 depthwise-separable blocks (3x3, then 5x5 in the
    last stages, SE in the last two), global pool, 1280-wide 1x1 conv head, FC."""
    from paddle import nn

    class ConvBN(nn.Sequential):
        def __init__(self, cin, cout, k, stride=1, groups=1):
            super().__init__(nn.Conv2D(cin, cout, k, stride, (k - 1) // 2, groups=groups,
                                       bias_attr=False), nn.BatchNorm2D(cout), nn.Hardswish())

    class SE(nn.Layer):
        def __init__(self, c):
            super().__init__()
            self.pool = nn.AdaptiveAvgPool2D(1)
            self.fc1, self.fc2 = nn.Conv2D(c, c // 4, 1), nn.Conv2D(c // 4, c, 1)

        def forward(self, x):
            return x * nn.functional.hardsigmoid(self.fc2(nn.functional.relu(self.fc1(self.pool(x)))))

    blocks = [(3, 32, 64, 1, False), (3, 64, 128, 2, False), (3, 128, 128, 1, False),
              (3, 128, 256, 2, False), (3, 256, 256, 1, False), (3, 256, 512, 2, False),
              *[(5, 512, 512, 1, False)] * 5, (5, 512, 1024, 2, True), (5, 1024, 1024, 1, True)]
    layers = [ConvBN(3, 16, 3, 2), ConvBN(16, 32, 3, 1, 16), ConvBN(32, 32, 1)]
    for k, cin, cout, s, se in blocks:
        layers += [ConvBN(cin, cin, k, s, cin), *([SE(cin)] if se else []), ConvBN(cin, cout, 1)]
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2D(1), nn.Conv2D(1024, 1280, 1),
                         nn.Hardswish(), nn.Flatten(), nn.Linear(1280, num_classes),
                         nn.Softmax())


def calibrated(layer, seed: int = 0):
    """BatchNorm statistics from one train-mode pass over 8 synthetic images (momentum 0)."""
    import paddle

    bns = [m for m in layer.sublayers() if isinstance(m, paddle.nn.BatchNorm2D)]
    for bn in bns:
        bn._momentum = 0.0
    x = np.random.default_rng(seed).standard_normal((8, 3, 224, 224)).astype(np.float32)
    layer.train()
    with paddle.no_grad():
        layer(paddle.to_tensor(x))
    layer.eval()
    return layer


def build(name: str, work: Path) -> Path:
    import paddle
    import yaml

    paddle.seed(0)
    net = (paddle.vision.models.mobilenet_v3_small(num_classes=1000) if name == "mbv3"
           else lcnet())
    out = work / name
    out.mkdir()
    save_model(calibrated(net), [paddle.static.InputSpec([None, 3, 224, 224], "float32", "x")],
               out, ["softmax"])
    (work / "infer_cfg.yml").write_text(yaml.safe_dump(
        {"mode": "paddle", "arch": name, "task": "classification", "Preprocess": PREPROCESS,
         "label_list": [f"c{i}" for i in range(1000)]}, sort_keys=False))
    return out


def jpeg(work: Path) -> tuple[str, Path]:
    import cv2

    rng = np.random.default_rng(1)
    small = (rng.random((24, 32, 3)) * 255).astype(np.uint8)  # smooth: a photo-like JPEG size
    img = cv2.resize(small, (500, 375), interpolation=cv2.INTER_CUBIC)
    b64 = base64.b64encode(cv2.imencode(".jpg", img)[1].tobytes()).decode()
    (work / "image.b64").write_text(b64)
    return b64, work / "image.b64"


def served(port: int, image_file: Path, seconds: float, clients: int = 16) -> dict:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    out = subprocess.run([sys.executable, "-c", CLIENT, str(port), str(image_file), str(clients),
                          str(seconds)], capture_output=True, text=True, env=env, timeout=300)
    if out.returncode:
        raise SystemExit(out.stderr[-2000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def bench_model(name: str, work: Path, rounds: int, seconds: float) -> dict:
    from generator.preprocess import build_preprocess, make_feed
    from generator.runtime.inference.predictor import LocalPredictor
    from generator.service.deploy_config import read_deploy_config

    model_dir = build(name, work)
    b64, image_file = jpeg(work)
    services = {}
    try:
        for label, (op_conf, threads, top) in CONFIGS.items():
            d = work / f"{name}-{label}"
            d.mkdir()
            (d / "infer_cfg.yml").write_text((work / "infer_cfg.yml").read_text())
            proc, rpc, _ = start_service(d, model_dir, op_conf, threads, extra=top,
                                         service=SERVICE, local={"use_mkldnn": True})
            services[label] = (proc, rpc)
        deploy = read_deploy_config(work / "infer_cfg.yml")
        pre = build_preprocess(deploy.preprocess, deploy.toolkit)
        pred = LocalPredictor(str(model_dir), thread_num=2, use_mkldnn=True, ir_optim=True)

        def inprocess(bs: int, secs: float) -> float:
            n, t0 = 0, time.perf_counter()
            while n == 0 or time.perf_counter() - t0 < secs:
                feed = make_feed([pre.process_encoded(b64, is_base64=True) for _ in range(bs)],
                                 pred.feed_names)
                pred.predict(feed)
                n += bs
            return n / (time.perf_counter() - t0)

        inprocess(8, 1.0)
        base: dict[int, list[float]] = {1: [], 8: []}
        got: dict[str, list[dict]] = {label: [] for label in services}
        for _, rpc in services.values():
            served(rpc, image_file, 1.0)  # warm every service
        for _ in range(rounds):
            for bs in base:
                base[bs].append(inprocess(bs, seconds / 2))
            for label, (_, rpc) in services.items():
                got[label].append(served(rpc, image_file, seconds))
    finally:
        for proc, _ in services.values():
            stop(proc)
    best_bs = max(base, key=lambda b: np.mean(base[b]))
    best = float(np.mean(base[best_bs]))
    result = {"inprocess_ips": {bs: float(np.mean(v)) for bs, v in base.items()},
              "best_batch": best_bs, "served": {}}
    for label, runs in got.items():
        ips = float(np.mean([r["ips"] for r in runs]))
        result["served"][label] = {"ips": ips, "ratio": ips / best,
                                   "p50_ms": float(np.median([r["p50_ms"] for r in runs])),
                                   "errors": sum(r["errors"] for r in runs),
                                   "per_round": [round(r["ips"], 1) for r in runs]}
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="mbv3,lcnet")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=4.0, help="seconds per served window")
    args = ap.parse_args()
    print(f"{os.cpu_count()} cores; load average before: {os.getloadavg()[0]:.1f}")
    for name in args.models.split(","):
        with tempfile.TemporaryDirectory() as tmp:
            r = bench_model(name, Path(tmp), args.rounds, args.seconds)
        ips = r["inprocess_ips"]
        print(f"{name}: in-process, one predictor x 2 threads: "
              + ", ".join(f"batch {bs}: {v:.1f}" for bs, v in ips.items())
              + f" images/s (best: batch {r['best_batch']})")
        for label, s in r["served"].items():
            print(f"  served {label:14s} {s['ips']:7.1f} images/s  x{s['ratio']:.2f} of in-process"
                  f"  p50 {s['p50_ms']:6.0f} ms  errors {s['errors']}  rounds {s['per_round']}")
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
