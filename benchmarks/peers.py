"""Our generated services vs PaddleX 3.7.2 basic serving (`paddlex --serve`), both measured
through PaddleX's own HTTP API (`POST /object-detection`, `/image-classification`, `/ocr`), on
the same model folders and images: throughput and latency at 1/4/16 clients, in interleaved
windows (ours, PaddleX, ours, ... per level), after checking that both give the same answer
and that the weights are not degenerate.

Models: the tests' stand-ins (tests/helpers/toolkit_exports.py: the real exports' graphs'
inputs/outputs and inference.yml, small seeded networks; no downloads): PicoDet-S,
PP-LCNet_x1_0, and PP-OCRv5 mobile det + rec as the OCR pipeline. PaddleX runs in the oracle's
side venv (`make paddlex-oracle`; benchmark-only, never a product dependency), on CPU with
Paddle Inference without oneDNN and 2 threads (its oneDNN mode crashes on these graphs); ours
with the configuration `scaffold new` writes.

`--real-compute`: the PicoDet-S and OCR det stand-ins carry a MobileNetV3-large branch (Paddle's
seeded init; its output is tiny, so the answers still come from the small head) — the compute of
a real detector, where the backend `scaffold new` picks matters as it does on the real models.

    .venv/bin/python benchmarks/peers.py [--window 3] [--rounds 2] [--concurrency 1,4,16]
                                         [--models picodet,lcnet,ocr] [--real-compute]
"""

from __future__ import annotations

import argparse
import base64
import statistics
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import cv2
import requests

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.helpers import toolkit_exports as te  # noqa: E402
from tests.helpers.paddlex_serve import (  # noqa: E402
    ocr_config,
    paddlex_server,
    pipeline_config,
    serving_unavailable,
)
from tests.helpers.parity import generate, running  # noqa: E402


def measure(url: str, body: dict, clients: int, seconds: float) -> dict[str, float]:
    """`clients` threads posting `body` for `seconds`: QPS, p50/p90 latency (ms), errors."""
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def client() -> None:
        with requests.Session() as session:
            while time.monotonic() < stop:
                start = time.perf_counter()
                ok = session.post(url, json=body, timeout=120).status_code == 200
                took = time.perf_counter() - start
                with lock:
                    if ok:
                        latencies.append(took)
                    else:
                        errors[0] += 1

    threads = [threading.Thread(target=client) for _ in range(clients)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    lat = sorted(latencies) or [float("nan")]
    return {"qps": len(latencies) / elapsed, "p50": 1000 * statistics.median(lat),
            "p90": 1000 * lat[int(0.9 * (len(lat) - 1))], "errors": errors[0]}


def same_answer(kind: str, ours: dict, pdx: dict) -> str:
    """'' when the two results agree (tolerances of the parity tests), else why not."""
    if kind == "detection":
        a, b = ours["detectedObjects"], pdx["detectedObjects"]
        if len(a) != len(b) or len(b) < 3 or len({round(o["score"], 4) for o in b}) < 3:
            return f"{len(a)} vs {len(b)} objects (or degenerate)"
        key = sorted((o["categoryId"], round(o["score"], 3)) for o in a)
        if key != sorted((o["categoryId"], round(o["score"], 3)) for o in b):
            return "different objects"
        return ""
    a = ours["ocrResults"][0]["prunedResult"]
    b = pdx["ocrResults"][0]["prunedResult"]
    if len(b["rec_texts"]) < 2 or a["rec_texts"] != b["rec_texts"]:
        return f"texts {a['rec_texts']} vs {b['rec_texts']}"
    worst = max((abs(x - y) for p, q in zip(a["rec_polys"], b["rec_polys"], strict=True)
                 for u, v in zip(p, q, strict=True) for x, y in zip(u, v, strict=True)),
                default=0)
    return "" if worst <= 2 else f"polygons differ by {worst}px"


def cases(root: Path, image: Path, page: Path, real_compute: bool = False,
          ) -> dict[str, dict[str, Any]]:
    b64 = base64.b64encode(image.read_bytes()).decode()
    return {
        "picodet": {"kind": "detection", "path": "/object-detection",
                    "body": {"image": b64, "visualize": False},
                    "make": lambda: [te.save_picodet(root / "PicoDet-S",
                                                     backbone=real_compute).model_dir],
                    "config": lambda d: pipeline_config("detection", "PicoDet-S", d[0])},
        "lcnet": {"kind": "classification", "path": "/image-classification",
                  "body": {"image": b64, "visualize": False},
                  "make": lambda: [te.save_paddleclas(root / "PP-LCNet_x1_0").model_dir],
                  "config": lambda d: pipeline_config("classification", "PP-LCNet_x1_0", d[0])},
        "ocr": {"kind": "ocr", "path": "/ocr",
                "body": {"file": base64.b64encode(page.read_bytes()).decode(), "fileType": 1,
                         "visualize": False},
                "make": lambda: [te.save_ppocr_det(root / "det", backbone=real_compute).model_dir,
                                 te.save_ppocr_rec(root / "rec").model_dir],
                "config": lambda d: ocr_config(("PP-OCRv5_mobile_det", d[0]),
                                               ("PP-OCRv5_mobile_rec", d[1]))},
    }


def served_settings(folder: Path) -> str:
    """What `scaffold new` wrote for each model Op: backend, instances, threads, batch."""
    import yaml

    conf = yaml.safe_load((folder / "config.yml").read_text())
    parts = []
    for name, op in conf["op"].items():
        local = op.get("local_service_conf") or {}
        if local.get("model_config"):
            parts.append(f"{name}: {local.get('backend', 'paddle')} "
                         f"mkldnn={local.get('use_mkldnn')} {op.get('concurrency', 1)} x "
                         f"{local.get('thread_num')} threads ({op.get('worker_kind', 'thread')})"
                         f", batch {op.get('batch_size', 1)}")
    return "; ".join(parts)


def run_case(name: str, case: dict, root: Path, levels: list[int], window: float,
             rounds: int) -> list[str]:
    dirs = case["make"]()
    folder, port, _ = generate(dirs, root / f"svc_{name}", name=name)
    print(f"[{name}] ours: {served_settings(folder)}", flush=True)
    rows = []
    with ExitStack() as stack:
        stack.enter_context(running(folder, port))
        pdx = stack.enter_context(paddlex_server(case["config"](dirs), root / f"pdx_{name}"))
        urls = {"ours": f"http://127.0.0.1:{port}{case['path']}", "paddlex": pdx + case["path"]}
        answers = {k: requests.post(u, json=case["body"], timeout=300) for k, u in urls.items()}
        note = ""
        if answers["paddlex"].status_code != 200:
            log = (root / f"pdx_{name}" / "paddlex-serve.log").read_text(errors="replace")
            cause = [line.strip() for line in log.splitlines() if "Input should be" in line]
            note = f"PaddleX answers {answers['paddlex'].status_code}: " \
                   f"{(cause or [answers['paddlex'].text[:120]])[0]}"
            print(f"[{name}] {note}", flush=True)
            urls.pop("paddlex")
        else:
            why = same_answer(case["kind"], answers["ours"].json()["result"],
                              answers["paddlex"].json()["result"])
            if why:
                raise SystemExit(f"[{name}] answers differ: {why}")
        assert answers["ours"].status_code == 200, answers["ours"].text[:500]
        for clients in levels:
            got: dict[str, list[dict]] = {k: [] for k in urls}
            for _ in range(rounds):
                for k, url in urls.items():  # interleaved: ours, PaddleX, ours, PaddleX
                    got[k].append(measure(url, case["body"], clients, window))
            best = {k: max(v, key=lambda m: m["qps"]) for k, v in got.items()}
            ours = best["ours"]
            if "paddlex" in best:
                p = best["paddlex"]
                rows.append(f"| {name} | {clients} | {ours['qps']:.1f} | {ours['p50']:.0f} | "
                            f"{p['qps']:.1f} | {p['p50']:.0f} | {ours['qps'] / p['qps']:.2f} |")
            else:
                rows.append(f"| {name} | {clients} | {ours['qps']:.1f} | {ours['p50']:.0f} | "
                            f"fails | — | — |")
            print(rows[-1], flush=True)
        if note:
            rows.append(f"<!-- {name}: {note} -->")
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--window", type=float, default=3.0, help="seconds per window")
    parser.add_argument("--rounds", type=int, default=2, help="windows per server and level")
    parser.add_argument("--concurrency", default="1,4,16")
    parser.add_argument("--models", default="picodet,lcnet,ocr")
    parser.add_argument("--real-compute", action="store_true",
                        help="PicoDet-S and OCR det stand-ins with a real detector's compute "
                             "(a MobileNetV3-large branch: ~0.8 GFLOPs at 416x416, ~1.3 at "
                             "640x480) instead of the tests' small networks")
    args = parser.parse_args()
    reason = serving_unavailable()
    if reason:
        print(f"paddlex --serve unavailable: {reason}", file=sys.stderr)
        return 1
    levels = [int(c) for c in args.concurrency.split(",")]
    rows = ["| model | clients | ours QPS | ours p50 ms | PaddleX QPS | PaddleX p50 ms | "
            "ours / PaddleX |", "|---|---|---|---|---|---|---|"]
    with tempfile.TemporaryDirectory(prefix="peers-") as tmp:
        root = Path(tmp)
        image, page = root / "shapes.png", root / "page.png"
        cv2.imwrite(str(image), te.draw_shapes(640, 480, n=6, seed=0))
        cv2.imwrite(str(page), te.draw_text_lines(640, 480, ["hello 42", "serving", "ab12 cd",
                                                              "paddle ocr", "x", "last 8"]))
        all_cases = cases(root, image, page, args.real_compute)
        for name in args.models.split(","):
            rows += run_case(name, all_cases[name], root, levels, args.window, args.rounds)
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
