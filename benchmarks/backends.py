"""CPU inference backends, measured in one run (ratios; these machines are shared and noisy).

In-process, each backend in its own process (generator.runtime.inference.probe), rounds
interleaved backend by backend: batch-1 latency (median per round) and best throughput over
batch sizes, as ratios to Paddle Inference with oneDNN off, plus output parity against it
(generator.quality.backend_parity), for
  - YOLOv3-MobileNetV1 608x608 (serving_configs/yolov3.yml) with non-degenerate random weights
    (generator.quality.realistic_weights), PIR and legacy programs;
  - paddle.vision ResNet50 and MobileNetV3-small at 224 (random weights).
Served: the default `scaffold new` YOLOv3 service (backend chosen by the probe) against the same
service generated with `--backend paddle -o service.use_mkldnn=false`, and `--backend openvino`
with its default concurrency 2 against concurrency 1; throughput over HTTP at 2 concurrent
clients, windows alternating between the services.

Targets: served default YOLOv3 >= 3x the oneDNN-off service; served/in-process >= 0.9 for the
backend the default service uses.

`--pir-only`: PIR-only programs like the Paddle 3 toolkit exports (benchmarks/pir_models.py:
LCNet-like classifier, DB-like text detector, CRNN-like recogniser; plus our YOLOv3 PIR export
unless --quick), which reach OpenVINO and ONNX Runtime only through the ONNX conversion with the
PIR misreads corrected (generator/export/pir_fixups.py). Per model: what paddle2onnx alone does
(uncorrected) and with the corrections, then all backends in one probe child, interleaved
round by round (as `scaffold new` measures), batch 1, ratios to oneDNN off, parity.

    .venv/bin/python benchmarks/backends.py [--rounds 3] [--quick] [--pir-only]
"""

from __future__ import annotations

import argparse
import base64
import concurrent.futures
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from generator.quality.backend_parity import outputs_equivalent  # noqa: E402
from generator.runtime.inference.predictor import PredictorOptions  # noqa: E402
from generator.runtime.inference.probe import measure_backends  # noqa: E402
from generator.scaffold.backend_choice import by_position, sample_feed  # noqa: E402

IMAGE = REPO / "tests" / "data" / "shapes_320x240.jpg"
BACKENDS = [  # label, backend, oneDNN, program
    ("paddle oneDNN off", "paddle", False, "pir"),
    ("paddle oneDNN PIR", "paddle", True, "pir"),
    ("paddle oneDNN legacy", "paddle", True, "legacy"),
    ("openvino fp32", "openvino", False, "legacy"),
    ("onnxruntime fp32", "onnxruntime", False, "onnx"),
]


def log(msg: str) -> None:
    print(msg, flush=True)


def export(config: Path, overrides: list[str], out: Path, fmt: str) -> Path:
    from generator.export.exporter import export_config

    result = export_config(config, out, overrides, model_format=fmt, export_serving_model=True,
                           verify=False)
    return result.serving_server


def prepare(tmp: Path, quick: bool) -> dict[str, dict]:
    """Serving folders per model and program format, and a preprocessed feed."""
    from generator.quality.realistic_weights import make_realistic_detector_weights

    models = {}
    yolo = REPO / "serving_configs" / "yolov3.yml"
    side = 320 if quick else 608
    w = tmp / "yolo.pdparams"
    report = make_realistic_detector_weights(yolo, [f"model.args.image_shape=[3,{side},{side}]"],
                                             w)
    log(f"YOLOv3 weights: {report}")
    yo = [f"model.args.image_shape=[3,{side},{side}]", f"weights={w}"]
    cls = REPO / "serving_configs" / "resnet50_cls.yml"
    specs = {f"yolov3_mbv1_{side}": (yolo, yo),
             "resnet50_224": (cls, []),
             "mobilenet_v3_small_224": (cls, ["model.arch=mobilenet_v3_small"])}
    for name, (config, overrides) in specs.items():
        folders = {fmt: export(config, overrides, tmp / name / fmt, fmt)
                   for fmt in ("pir", "legacy")}
        deploy = next(folders["pir"].parent.glob("infer_cfg.yml"), None) or \
            next(folders["pir"].parent.glob("*.yml"))
        feed = sample_feed(folders["pir"], deploy)
        try:  # checked as scaffold new checks it: on the feed, with the backend parity rules
            from generator.export.onnx_export import convert_to_onnx
            from generator.serving_model import read_model_config

            names = {v.alias_name: v.name for v in read_model_config(folders["pir"]).feed_vars}
            convert_to_onnx(folders["pir"], folders["pir"] / "model.onnx",
                            samples={names.get(k, k): v for k, v in feed.items()},
                            judge=outputs_equivalent)
            folders["onnx"] = folders["pir"]
        except Exception as exc:  # noqa: BLE001 - reported, the backend is skipped
            log(f"{name}: no ONNX ({' '.join(str(exc).split())[:300]})")
        models[name] = {"folders": folders, "feed": feed}
    return models


def batched(feed: dict[str, np.ndarray], n: int) -> dict[str, np.ndarray]:
    return {k: np.repeat(v, n, axis=0) for k, v in feed.items()}


def in_process(models: dict[str, dict], rounds: int, quick: bool) -> dict[str, dict]:
    table: dict[str, dict] = {}
    for name, m in models.items():
        detector = name.startswith("yolo")
        batches = [1] if detector else [1, 4]
        cands = [b for b in BACKENDS if b[3] in m["folders"]]
        lat: dict[str, list[float]] = {b[0]: [] for b in cands}
        thr: dict[str, dict[int, list[float]]] = {b[0]: {n: [] for n in batches} for b in cands}
        parity: dict[str, str] = {}
        ref_out = None
        for r in range(rounds):
            for label, backend, onednn, program in cands:
                opts = PredictorOptions(thread_num=2, backend=backend, use_mkldnn=onednn,
                                        mem_optim=False, ir_optim=True, startup_probe=False)
                for n in batches:
                    res = measure_backends([(m["folders"][program], opts)], batched(m["feed"], n),
                                           runs=2 if quick else 4, min_seconds=0.5 if quick
                                           else 2.0)[0]
                    if not res.ok:
                        parity[label] = "failed: " + res.failure[:100]
                        continue
                    thr[label][n].append(n / res.median_s)
                    if n == 1:
                        lat[label].append(res.median_s)
                        if r == 0:
                            if ref_out is None:
                                ref_out = res.outputs
                            ok, note = outputs_equivalent(by_position(res.outputs, ref_out),
                                                          ref_out)
                            parity[label] = "same" if ok else "DIFFERENT: " + note[:80]
            log(f"  {name}: round {r + 1}/{rounds} done")
        ref = "paddle oneDNN off"
        rows = {}
        for label in lat:
            if not lat[label]:
                rows[label] = {"parity": parity.get(label, "?")}
                continue
            ratio_lat = [a / b for a, b in zip(lat[ref], lat[label], strict=False)]
            best = max(float(np.median(v)) for v in thr[label].values() if v)
            best_ref = max(float(np.median(v)) for v in thr[ref].values() if v)
            rows[label] = {"lat_ms": 1e3 * float(np.median(lat[label])),
                           "lat_ratio_rounds": ratio_lat, "thr": best,
                           "thr_ratio": best / best_ref, "parity": parity.get(label, "?")}
        table[name] = rows
        log(f"\n{name} (ratios to paddle oneDNN off, per-round batch-1 medians)")
        for label, row in rows.items():
            if "lat_ms" not in row:
                log(f"  {label:<22} {row['parity']}")
                continue
            rr = " / ".join(f"{x:.2f}" for x in row["lat_ratio_rounds"])
            log(f"  {label:<22} batch-1 {row['lat_ms']:8.1f} ms  x{rr:<18}  best throughput "
                f"{row['thr']:7.2f}/s x{row['thr_ratio']:.2f}  parity: {row['parity']}")
    return table


def served(tmp: Path, quick: bool, windows: int, weights_side: int) -> dict[str, float]:
    """Default generated YOLOv3 service vs the oneDNN-off one, HTTP, alternating windows."""
    import requests

    from tests.helpers.services import free_port, start_service, stop_service

    side = weights_side
    w = tmp / "yolo.pdparams"
    common = ["-o", f"model.args.image_shape=[3,{side},{side}]", "-o", f"weights={w}",
              "--no-vendor", "--name", "det"]
    services = {}
    for label, extra in (("default", ["--backend", "auto"]),
                         ("openvino", ["--backend", "openvino"]),
                         ("openvino, concurrency 1", ["--backend", "openvino", "-o",
                                                      "service.concurrency=1"]),
                         ("oneDNN off", ["--backend", "paddle", "-o",
                                         "service.use_mkldnn=false"])):
        out = tmp / f"svc_{label.replace(' ', '_').replace(',', '')}"
        port = free_port()
        proc = subprocess.run([str(Path(sys.executable).with_name("scaffold")), "new",
                               "--config",
                               str(REPO / "serving_configs" / "yolov3.yml"), *common, *extra,
                               "--output", str(out), "--http-port", str(port), "--rpc-port",
                               str(free_port())], capture_output=True, text=True, cwd=REPO)
        if proc.returncode != 0:
            raise SystemExit(f"scaffold new failed:\n{proc.stderr[-2000:]}")
        table = proc.stdout[proc.stdout.find("backend:"):].split("created")[0].rstrip()
        log(f"\nscaffold new ({label}):\n{table}")
        services[label] = (out, port)
        if label == "default":
            star = next((ln for ln in table.splitlines() if ln.startswith("* ")), "")
            found = re.match(r"\* (.+?)\s+[\d.]+ ms", star)
            chosen = found.group(1).replace("(", "").replace(")", "") if found else "?"
    body = json.dumps({"key": ["image"], "value": [base64.b64encode(IMAGE.read_bytes())
                                                   .decode()]})
    procs = {label: start_service(["web_service.py"], out, port)
             for label, (out, port) in services.items()}
    rates: dict[str, list[float]] = {label: [] for label in services}
    answers: dict[str, str] = {}
    try:
        for _ in range(windows):
            for label, (_out, port) in services.items():
                url = f"http://127.0.0.1:{port}/det/prediction"
                session_answer = requests.post(url, data=body, timeout=120).json()  # warm
                answers[label] = session_answer["value"][0]
                deadline = time.perf_counter() + (4 if quick else 12)
                counts = [0, 0]

                def client(i: int, url: str = url, deadline: float = deadline,
                           counts: list[int] = counts) -> None:
                    with requests.Session() as s:
                        while time.perf_counter() < deadline:
                            a = s.post(url, data=body, timeout=120).json()
                            assert a["err_no"] == 0, a
                            counts[i] += 1
                t0 = time.perf_counter()
                with concurrent.futures.ThreadPoolExecutor(2) as pool:
                    list(pool.map(client, range(2)))
                rates[label].append(sum(counts) / (time.perf_counter() - t0))
    finally:
        for p in procs.values():
            stop_service(p)
    from generator.quality.bench import inprocess_throughput
    from generator.quality.service_dir import open_service_dir

    sd = open_service_dir(services["default"][0])  # the same Op, model and backend in-process
    ips = inprocess_throughput(sd.served_op(), sd.model_dir, IMAGE.read_bytes(),
                               8 if quick else 30, False, sd.backend_conf)
    ratios = [a / b for a, b in zip(rates["default"], rates["oneDNN off"], strict=True)]
    from generator.quality.compare import Tolerance, compare_detections

    same = compare_detections("served", json.loads(answers["default"]),
                              json.loads(answers["oneDNN off"]),
                              Tolerance(iou=0.98, score_atol=2e-3))
    overlap = [a / b for a, b in zip(rates["openvino"], rates["openvino, concurrency 1"],
                                     strict=True)]
    log(f"\nserved YOLOv3 {side}: openvino with concurrency 2 (its default) / with concurrency 1 "
        f"(the released GIL overlapping requests): {' / '.join(f'{r:.2f}' for r in overlap)}; "
        + ", ".join(f"{k} {np.median(v):.2f} img/s" for k, v in rates.items()))
    log(f"served YOLOv3 {side}: default {np.median(rates['default']):.2f} img/s, oneDNN off "
        f"{np.median(rates['oneDNN off']):.2f} img/s; per-window ratio "
        f"{' / '.join(f'{r:.2f}' for r in ratios)} (median {np.median(ratios):.2f}, target >= 3)"
        f"; same detections: {same.ok} ({same.note})")
    log(f"served default / in-process Op on the same backend ({sd.backend_conf}): "
        f"{np.median(rates['default']) / max(ips.values()):.2f} (best in-process "
        f"{max(ips.values()):.2f} img/s over batch sizes {sorted(ips)}; target >= 0.9)")
    return {"default": float(np.median(rates["default"])),
            "off": float(np.median(rates["oneDNN off"])), "ratio": float(np.median(ratios)),
            "chosen": chosen}


PIR_BACKENDS = [  # label, backend, oneDNN
    ("paddle oneDNN off", "paddle", False),
    ("paddle oneDNN PIR", "paddle", True),
    ("openvino fp32 (ONNX)", "openvino", False),
    ("onnxruntime fp32", "onnxruntime", False),
]


def _conversion(folder: Path, feed: dict[str, np.ndarray], target: Path, correct: bool) -> str:
    from generator.export.onnx_export import convert_to_onnx

    try:
        conv = convert_to_onnx(folder, target, samples=feed, correct_pir=correct,
                               judge=outputs_equivalent)
    except Exception as exc:  # noqa: BLE001 - reported
        text = " ".join(str(exc).split())
        return "FAILS: " + (text.split("[ERROR]")[-1][:110] if "[ERROR]" in text
                            else text[:160])
    return f"converts, same outputs ({len(conv.corrections)} values corrected)"


def pir_only(tmp: Path, rounds: int, quick: bool) -> None:
    """The toolkit-like PIR-only programs on every backend (see the module docstring)."""
    from benchmarks.pir_models import MODELS, save
    from generator.scaffold.backend_decision import spread

    programs: dict[str, tuple[Path, dict[str, np.ndarray]]] = {}
    for name in MODELS:
        folder, x = save(name, tmp / name)
        programs[name] = (folder, {"x": x})
    if not quick:
        from generator.quality.realistic_weights import make_realistic_detector_weights

        yolo = REPO / "serving_configs" / "yolov3.yml"
        w = tmp / "yolo_pir.pdparams"
        make_realistic_detector_weights(yolo, ["model.args.image_shape=[3,608,608]"], w)
        folder = export(yolo, ["model.args.image_shape=[3,608,608]", f"weights={w}"],
                        tmp / "yolo_pir", "pir")
        programs["yolov3_mbv1_608 (PIR)"] = (folder, sample_feed(folder, next(
            folder.parent.glob("infer_cfg.yml"))))
    for name, (folder, feed) in programs.items():
        raw = _conversion(folder, feed, tmp / f"{name}_raw.onnx".replace(" ", "_"), False)
        fixed = _conversion(folder, feed, folder / "model.onnx", True)
        log(f"\n{name}: paddle2onnx alone: {raw}\n{name}: with pir_fixups: {fixed}")
        cands = PIR_BACKENDS if (folder / "model.onnx").is_file() else PIR_BACKENDS[:2]
        opts = [PredictorOptions(thread_num=2, backend=b, use_mkldnn=o, mem_optim=False,
                                 ir_optim=True, startup_probe=False) for _, b, o in cands]
        res = measure_backends([(folder, o) for o in opts], feed, runs=1,
                               min_seconds=(0.6 if quick else 2.0) * rounds, rounds=rounds)
        ref = res[0]
        log(f"{name}, batch 1, {rounds} interleaved rounds: median [fastest-slowest round], "
            "ratio to oneDNN off (median of per-round ratios), parity vs oneDNN off")
        for (label, _, _), r in zip(cands, res, strict=True):
            if not r.ok:
                log(f"  {label:<22} failed: {r.failure[:160]}")
                continue
            ratios = [a / b for a, b in zip(ref.rounds_s, r.rounds_s, strict=False)]
            ok, note = outputs_equivalent(by_position(r.outputs, ref.outputs), ref.outputs)
            log(f"  {label:<22} {spread(r.rounds_s).text()}  x{np.median(ratios):5.2f}  "
                f"parity: {'same' if ok else 'DIFFERENT'} ({note[:90]})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--windows", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="YOLOv3 at 320, short windows")
    ap.add_argument("--skip-served", action="store_true")
    ap.add_argument("--skip-in-process", action="store_true")
    ap.add_argument("--pir-only", action="store_true",
                    help="only the PIR-only toolkit-like programs (ONNX path for OpenVINO/ORT)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-backends-") as d:
        tmp = Path(d)
        if args.pir_only:
            pir_only(tmp, args.rounds, args.quick)
            return
        models = prepare(tmp, args.quick)
        if not args.skip_in_process:
            table = in_process(models, args.rounds, args.quick)
        if not args.skip_served:
            side = 320 if args.quick else 608
            s = served(tmp, args.quick, args.windows, side)
            name = f"yolov3_mbv1_{side}"
            if not args.skip_in_process:
                row = table[name].get(s["chosen"])
                if row is not None and "thr" in row:
                    log(f"served / bare in-process model ({s['chosen']}, no pre/post-"
                        f"processing): {s['default'] / row['thr']:.2f}")


if __name__ == "__main__":
    main()
