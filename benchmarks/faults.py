"""The runtime under faults: the cases of issue 13, each against a real service process on
loopback, each followed by a good request. Prints one line per case with its figures.

    .venv/bin/python benchmarks/faults.py            # every case (about two minutes)
    .venv/bin/python benchmarks/faults.py -k images  # cases whose name contains "images"

Services: a model-less Op that sleeps on request (process or thread mode), and a tiny conv
classifier behind the generated services' ClassificationOp (short side 256, crop 224), as
`scaffold new` writes it.
"""

from __future__ import annotations

import argparse
import base64
import concurrent.futures
import json
import os
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import requests
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from generator.runtime import PipelineClient  # noqa: E402
from tests.helpers.metrics import metric_value  # noqa: E402
from tests.helpers.services import (  # noqa: E402
    alive,
    child_pids,
    free_port,
    service_env,
    start_service,
)
from tests.runtime.test_faults_workers import SERVICE  # noqa: E402

#: the model-less service of the fault tests: sleeps on request, answers its pid
PID_SERVICE = SERVICE

CLS_SERVICE = '''
import sys
from generator.runtime import WebService
from generator.service import ClassificationOp

class Svc(WebService):
    def get_pipeline_response(self, read_op):
        return ClassificationOp(name="cls", input_ops=[read_op], deploy_config="infer_cfg.yml")

if __name__ == "__main__":
    svc = Svc(name="cls")
    svc.prepare_pipeline_config(sys.argv[1])
    svc.run_service()
'''


# ------------------------------------------------------------------------------- plumbing
class Service:
    """A service process in its own directory (config from `conf`, ports picked here)."""

    def __init__(self, root: Path, source: str, conf: dict, name: str = "pid"):
        self.dir = Path(tempfile.mkdtemp(dir=root))
        self.http, self.rpc, self.name = free_port(), free_port(), name
        conf = {"rpc_port": self.rpc, "http_port": self.http, "worker_num": 4,
                "shutdown_timeout_s": 10, **conf}
        (self.dir / "web_service.py").write_text(source)
        (self.dir / "config.yml").write_text(yaml.safe_dump(conf))
        self.proc: subprocess.Popen | None = None

    def start(self) -> Service:
        self.proc = start_service(["web_service.py", "config.yml"], self.dir, self.http)
        return self

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.http}{path}"

    def predict(self, timeout: float = 10, **values: str) -> dict:
        body = {"key": list(values), "value": list(values.values())}
        return requests.post(self.url(f"/{self.name}/prediction"), json=body,
                             timeout=timeout).json()

    def grpc(self, **values) -> tuple[int, float]:
        client = PipelineClient()
        client.connect([f"127.0.0.1:{self.rpc}"])
        started = time.monotonic()
        resp = client.predict(values, pack_tensor_format=any(
            isinstance(v, np.ndarray) for v in values.values()))
        return resp.err_no, time.monotonic() - started

    def ready(self) -> int:
        try:
            return requests.get(self.url("/health/ready"), timeout=2).status_code
        except requests.RequestException:
            return 0

    def metric(self, name: str, **labels: str) -> float:
        return metric_value(requests.get(self.url("/metrics"), timeout=5).text, name, **labels)

    def children(self) -> list[int]:
        return child_pids(self.proc.pid)

    def status(self, key: str) -> int:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
        return -1

    def terminate(self, timeout: float = 40) -> tuple[int | None, float]:
        """SIGTERM; (exit code or None if still running, seconds)."""
        started = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            code = None
        took = time.monotonic() - started
        self.kill()
        return code, took

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)


def wait_for(cond: Callable[[], object], timeout: float, step: float = 0.02) -> float | None:
    """Seconds until `cond()` is true, None if it never was."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if cond():
            return time.monotonic() - started
        time.sleep(step)
    return None


def report(case: str, figures: str) -> None:
    print(f"{case:<44} {figures}", flush=True)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png(width: int, height: int, rows: int | None = None) -> bytes:
    rows = height if rows is None else rows
    raw = (b"\x00" + b"\x80" * (3 * width)) * rows
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(raw, 9))
            + _chunk(b"IEND", b""))


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


# ---------------------------------------------------------------------------------- cases
def case_kill_idle_process_worker(root: Path) -> None:
    answered = hung = seen_503 = 0
    back, exits = [], []
    trials = 3
    for _ in range(trials):
        svc = Service(root, PID_SERVICE, {"dag": {"is_thread_op": False},
                                          "op": {"pid": {"concurrency": 3}}}).start()
        try:
            os.kill(svc.children()[0], signal.SIGKILL)
            t0 = time.monotonic()
            seen_503 += wait_for(lambda s=svc: s.ready() == 503, 2, 0.005) is not None
            for _ in range(5):
                try:
                    answered += svc.predict(timeout=5)["err_no"] == 0
                except requests.RequestException:
                    hung += 1
            up = wait_for(lambda s=svc: s.ready() == 200 and len(s.children()) == 3, 15)
            back.append((time.monotonic() - t0) if up is not None else float("nan"))
            exits.append(svc.terminate())
        finally:
            svc.kill()
    report("process mode: kill -9 one idle worker",
           f"{trials} trials: later requests answered {answered}/{5 * trials}, hung {hung}; "
           f"ready 503 seen {seen_503}/{trials}, 200 again after p50 "
           f"{statistics.median(back):.2f} s; SIGTERM: exit codes "
           f"{[c for c, _ in exits]} in max {max(t for _, t in exits):.2f} s")


def case_kill_busy_process_worker(root: Path) -> None:
    svc = Service(root, PID_SERVICE, {"dag": {"is_thread_op": False},
                                      "op": {"pid": {"concurrency": 3}}}).start()
    try:
        outcomes: list[object] = []
        stop = time.monotonic() + 3.0

        def load() -> None:
            while time.monotonic() < stop:
                try:
                    outcomes.append(svc.predict(timeout=10, sleep="0.05")["err_no"])
                except requests.RequestException as exc:
                    outcomes.append(type(exc).__name__)

        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            futures = [pool.submit(load) for _ in range(16)]
            time.sleep(1.0)
            os.kill(svc.children()[1], signal.SIGKILL)
            for f in futures:
                f.result()
        ok = sum(o == 0 for o in outcomes)
        failed = sum(o == 9000 for o in outcomes)
        lost = len(outcomes) - ok - failed
        up = wait_for(lambda: len(svc.children()) == 3 and svc.ready() == 200, 10)
        report("process mode: kill -9 one worker under load",
               f"{len(outcomes)} requests at concurrency 16: {ok} ok, {failed} err 9000 (held "
               f"by the dead worker), {lost} unanswered; restarted: {up is not None}, restarts "
               f"counted {svc.metric('pd_worker_restarts_total'):g}, in flight after "
               f"{svc.metric('pd_requests_in_flight'):g}; next request err_no "
               f"{svc.predict()['err_no']}")
    finally:
        svc.kill()


def case_build_dag_each_worker(root: Path) -> None:
    svc = Service(root, PID_SERVICE, {"build_dag_each_worker": True, "worker_num": 2}).start()
    try:
        wait_for(lambda: len(svc.children()) == 2, 10)
        kids = svc.children()
        os.kill(kids[0], signal.SIGKILL)
        t0 = time.monotonic()
        up = wait_for(lambda: kids[0] not in svc.children() and len(svc.children()) == 2
                      and svc.ready() == 200, 15)
        still = svc.proc.poll() is None
        code = svc.predict()["err_no"]
        restarts = svc.metric("pd_worker_restarts_total")
        kids = svc.children()
        os.kill(svc.proc.pid, signal.SIGKILL)
        svc.proc.wait(5)
        gone = wait_for(lambda: not any(alive(k) for k in kids), 15)
        report("build_dag_each_worker: kill -9 one, then parent",
               f"service alive after a worker's kill: {still}, restarted in "
               f"{time.monotonic() - t0 if up is not None else float('nan'):.2f} s, restarts "
               f"counted {restarts:g}, next request err_no {code}; after kill -9 of the parent "
               f"workers gone in {gone if gone is not None else float('nan'):.2f} s "
               f"({sum(alive(k) for k in kids)} left)")
    finally:
        svc.kill()


def _classifier(root: Path, size: int = 224, conf: dict | None = None) -> Service:
    from tests.helpers.tiny_models import save_conv_classifier, write_serving_server

    svc = Service(root, CLS_SERVICE, conf or {}, name="cls")
    model = save_conv_classifier(svc.dir / "serving_server", num_classes=4, image_size=size)
    write_serving_server(model, fetch_alias_names=["scores"])
    cfg = {"mode": "paddle", "arch": "TinyNet", "task": "classification",
           "Preprocess": [{"type": "ResizeImage", "resize_short": 256},
                          {"type": "CropImage", "size": size},
                          {"type": "NormalizeImage", "scale": 1 / 255, "mean": [0.485, 0.456, 0.406],
                           "std": [0.229, 0.224, 0.225], "order": ""},
                          {"type": "ToCHWImage"}],
           "label_list": ["a", "b", "c", "d"]}
    (svc.dir / "infer_cfg.yml").write_text(yaml.safe_dump(cfg))
    conf = yaml.safe_load((svc.dir / "config.yml").read_text())
    conf["op"] = {"cls": {"local_service_conf": {"model_config": "serving_server",
                                                 "client_type": "local_predictor"}}}
    (svc.dir / "config.yml").write_text(yaml.safe_dump(conf))
    return svc.start()


def case_images(root: Path) -> None:
    svc = _classifier(root)
    try:
        ok, buf = cv2.imencode(".jpg", np.full((16, 16, 3), 128, np.uint8))
        jpeg = bytearray(buf.tobytes())
        sof = jpeg.index(b"\xff\xc0")
        jpeg[sof + 5:sof + 9] = struct.pack(">HH", 60000, 60000)
        small = b64(png(64, 64))
        cases = [
            ("10000x1 PNG", {"image": b64(png(10000, 1))}),
            ("30000x30000 PNG header", {"image": b64(png(30000, 30000, rows=1))}),
            ("256 images in one request", {f"image_{i}": small for i in range(256)}),
            ("60000x60000 JPEG header", {"image": b64(bytes(jpeg))}),
        ]
        for label, values in cases:
            before = svc.status("VmHWM")
            size = sum(len(v) for v in values.values())
            answer = svc.predict(timeout=60, **values)
            grown = (svc.status("VmHWM") - before) / 1024
            report(f"classification: {label}",
                   f"{size:,} B request: err_no {answer['err_no']}, peak RSS +{grown:.0f} MB; "
                   f"'{answer['err_msg'][:90]}'")
        code, _ = svc.grpc(image=np.zeros((0, 0, 3), np.uint8))
        report("classification: [0,0,3] uint8 tensor", f"err_no {code}")
        report("classification: good image after", f"err_no {svc.predict(image=small)['err_no']}")
    finally:
        svc.kill()


def case_sigterm_grpc(root: Path) -> None:
    svc = Service(root, PID_SERVICE, {"op": {"pid": {"concurrency": 8}}}).start()
    try:
        with concurrent.futures.ThreadPoolExecutor(64) as pool:
            calls = [pool.submit(svc.grpc, sleep="0.3") for _ in range(64)]
            wait_for(lambda: svc.metric("pd_requests_in_flight") >= 64, 5)
            started = time.monotonic()
            svc.proc.send_signal(signal.SIGTERM)
            codes = [f.result()[0] for f in calls]
            code = svc.proc.wait(40)
        report("SIGTERM during 64 concurrent gRPC calls",
               f"{sum(c == 0 for c in codes)}/64 answered err_no 0 (others "
               f"{sorted({c for c in codes if c})}), exit {code} after "
               f"{time.monotonic() - started:.2f} s")
    finally:
        svc.kill()


def case_overload(root: Path) -> None:
    svc = Service(root, PID_SERVICE, {"dag": {"channel_size": 2},
                                      "op": {"pid": {"concurrency": 2}}}).start()
    try:
        def http_call() -> tuple[int, float]:
            started = time.monotonic()
            code = svc.predict(timeout=30, sleep="0.2")["err_no"]
            return code, time.monotonic() - started

        for label, call in (("gRPC", lambda: svc.grpc(sleep="0.2")), ("HTTP", http_call)):
            with concurrent.futures.ThreadPoolExecutor(128) as pool:
                results = list(pool.map(lambda _, fn=call: fn(), range(128)))
            refused = [t for c, t in results if c == 8001]
            report(f"{label} overload: channel_size 2, 128 clients",
                   f"{len(refused)} refused 8001 after p50 {statistics.median(refused) * 1000:.0f} "
                   f"ms (max {max(refused) * 1000:.0f} ms), {sum(c == 0 for c, _ in results)} "
                   "served" if refused else f"none refused: {results[:3]}")
        report("overload: in flight afterwards", f"{svc.metric('pd_requests_in_flight'):g}")
    finally:
        svc.kill()


def case_counted(root: Path) -> None:
    svc = Service(root, PID_SERVICE, {"http_header_timeout_s": 1}).start()
    try:
        url = svc.url("/pid/prediction")
        requests.post(url, data=b"{bad", timeout=5)
        requests.post(svc.url("/other/prediction"), json={}, timeout=5)
        requests.post(url, data=b"x" * (300 << 20), timeout=30)  # over max_message_size_mb
        with socket.create_connection(("127.0.0.1", svc.http)) as s:
            s.sendall(b"POST /pid/prediction HTTP/1.1\r\nHost:")
            s.recv(100)  # 408 after the header deadline
        svc.predict(sleep="0.05")
        body = b'{"key": ["sleep"], "value": ["1"]}'
        with socket.create_connection(("127.0.0.1", svc.http)) as s:
            s.sendall(b"POST /pid/prediction HTTP/1.1\r\nHost: x\r\nContent-Length: "
                      + str(len(body)).encode() + b"\r\n\r\n" + body)
            time.sleep(0.2)
        svc.grpc(sleep="0")
        time.sleep(1.2)
        figures = {f"http {s}": svc.metric("pd_http_responses_total", status=s)
                   for s in ("400", "408", "413", "dropped")}
        figures["err_no 3002"] = svc.metric("pd_requests_total", err_no="3002")
        figures["grpc OK"] = svc.metric("pd_grpc_responses_total", code="OK")
        report("counted in /metrics", ", ".join(f"{k}: {v:g}" for k, v in figures.items()))
    finally:
        svc.kill()


def case_big_value(root: Path) -> None:
    svc = Service(root, PID_SERVICE, {}).start()
    try:
        log = svc.dir / "service.log"
        before = log.stat().st_size
        answer = svc.predict(timeout=30, x="z" * (3 << 20))
        time.sleep(0.2)
        report("a 3 MiB bad value",
               f"err_no {answer['err_no']}, err_msg {len(answer['err_msg']):,} chars, log "
               f"+{log.stat().st_size - before:,} bytes; next request err_no "
               f"{svc.predict()['err_no']}")
    finally:
        svc.kill()


def case_truncated_model(root: Path) -> None:
    from tests.helpers.tiny_models import save_linear_model, write_serving_server

    svc = Service(root, PID_SERVICE.replace('return PidOp(name="pid", input_ops=[read_op])',
                                            'return Op(name="pid", input_ops=[read_op])'), {})
    model = save_linear_model(svc.dir / "model", fmt="pir", seed=1)
    write_serving_server(model, fetch_alias_names=["price"])
    params = next(model.model_dir.glob("*.pdiparams"))
    params.write_bytes(params.read_bytes()[: params.stat().st_size // 2])
    conf = yaml.safe_load((svc.dir / "config.yml").read_text())
    conf["op"] = {"pid": {"local_service_conf": {"model_config": "model"}}}
    (svc.dir / "config.yml").write_text(yaml.safe_dump(conf))
    started = time.monotonic()
    run = subprocess.run([sys.executable, "web_service.py", "config.yml"], cwd=svc.dir,
                         capture_output=True, text=True, timeout=120, env=service_env())
    line = next((ln for ln in run.stderr.splitlines() if ln.startswith("error:")), "")
    report("half of the weights file cut off",
           f"exit {run.returncode} after {time.monotonic() - started:.1f} s: '{line[:110]}'")


def case_connections(root: Path) -> None:
    svc = Service(root, PID_SERVICE, {"http_max_connections": 4000,
                                      "http_header_timeout_s": 2}).start()
    socks: list[socket.socket] = []
    try:
        base = svc.status("Threads")
        request = b"GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n"
        for _ in range(2000):
            s = socket.create_connection(("127.0.0.1", svc.http))
            s.sendall(request)
            socks.append(s)
        for s in socks:
            s.recv(1000)
        idle = svc.status("Threads")
        for s in socks:
            s.close()
        socks = []
        for _ in range(570):
            s = socket.create_connection(("127.0.0.1", svc.http))
            s.sendall(b"POST /pid/prediction HTTP/1.1\r\nHost: x\r\n")
            socks.append(s)
        time.sleep(0.5)
        slow = svc.status("Threads")
        cut = wait_for(lambda: all(_closed(s) for s in socks), 6, 0.2)
        socks2 = [socket.create_connection(("127.0.0.1", svc.http)) for _ in range(570)]
        for s in socks2:
            s.sendall(b"POST /pid/prediction HTTP/1.1\r\n")
        code, took = svc.terminate()
        for s in socks + socks2:
            s.close()
        socks = []
        report("2,000 idle keep-alive / 570 slow-header HTTP",
               f"threads {base} at rest, {idle} with 2,000 idle keep-alive connections, {slow} "
               f"with 570 slow-header clients; header deadline 2 s closed them all after "
               f"{cut if cut is not None else float('nan'):.1f} s; SIGTERM with 570 slow-header "
               f"clients: exit {code} in {took:.2f} s")
    finally:
        for s in socks:
            s.close()
        svc.kill()


def _bare_model_burst(svc: Service, protocol: str, calls: int, x: np.ndarray) -> dict:
    """`calls` concurrent ModelInfer calls on `cls-model`: counts by answer, slowest answer."""
    import asyncio

    import grpc
    from tritonclient.grpc import service_pb2, service_pb2_grpc

    started = time.monotonic()
    if protocol == "grpc":
        request = service_pb2.ModelInferRequest(model_name="cls-model")
        request.inputs.add(name="x", datatype="FP32", shape=list(x.shape))
        request.raw_input_contents.append(x.tobytes())
        with grpc.insecure_channel(f"127.0.0.1:{svc.rpc}") as channel:
            infer = service_pb2_grpc.GRPCInferenceServiceStub(channel).ModelInfer
            futures = [infer.future(request, timeout=120) for _ in range(calls)]
            codes = []
            for future in futures:
                try:
                    future.result()
                    codes.append("OK")
                except grpc.RpcError as exc:  # which refusal: the guard's, or gRPC's own
                    codes.append(f"{exc.code().name} ({exc.details()[:24]}...)")
    else:
        import aiohttp

        head = json.dumps({"inputs": [{"name": "x", "datatype": "FP32", "shape": list(x.shape),
                                       "parameters": {"binary_data_size": x.nbytes}}]}).encode()
        body = head + x.tobytes()
        headers = {"Inference-Header-Content-Length": str(len(head))}

        async def burst() -> list[str]:
            limits = aiohttp.TCPConnector(limit=calls)
            async with aiohttp.ClientSession(connector=limits) as session:
                async def one() -> str:
                    try:
                        async with session.post(svc.url("/v2/models/cls-model/infer"), data=body,
                                                headers=headers,
                                                timeout=aiohttp.ClientTimeout(120)) as reply:
                            await reply.read()
                            return str(reply.status)
                    except aiohttp.ClientError as exc:
                        return type(exc).__name__
                return await asyncio.gather(*(one() for _ in range(calls)))

        codes = asyncio.run(burst())
    counts = {code: codes.count(code) for code in sorted(set(codes))}
    return {"counts": counts, "took": time.monotonic() - started}


def case_bare_model_load(root: Path) -> None:
    svc = _classifier(root, size=128, conf={"http_max_connections": 1200})
    try:
        x = np.random.default_rng(0).standard_normal((1, 3, 128, 128)).astype(np.float32)
        _bare_model_burst(svc, "grpc", 1, x)
        _bare_model_burst(svc, "http", 1, x)
        idle = svc.status("VmRSS") / 1024
        figures = []
        for protocol in ("grpc", "grpc", "http", "http"):
            got = _bare_model_burst(svc, protocol, 1000, x)
            time.sleep(1)
            figures.append(f"{protocol}: {got['counts']} in {got['took']:.1f} s, RSS "
                           f"{svc.status('VmRSS') / 1024:.0f} MB")
        report("1000 concurrent ModelInfer on {name}-model, 4 bursts",
               f"idle RSS {idle:.0f} MB; " + "; ".join(figures)
               + f"; threads {svc.status('Threads')}")
    finally:
        svc.kill()


def _closed(s: socket.socket) -> bool:
    s.setblocking(False)
    try:
        data = s.recv(4096)
        return data == b"" or data.startswith(b"HTTP/1.1 408")
    except BlockingIOError:
        return False
    except OSError:
        return True


CASES = [case_kill_idle_process_worker, case_kill_busy_process_worker, case_build_dag_each_worker,
         case_images, case_sigterm_grpc, case_overload, case_counted, case_big_value,
         case_truncated_model, case_connections, case_bare_model_load]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-k", default="", help="run only cases whose name contains this")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="faults-") as tmp:
        for case in CASES:
            if args.k in case.__name__:
                try:
                    case(Path(tmp))
                except Exception as exc:  # noqa: BLE001 - one broken case must not hide the rest
                    report(case.__name__, f"FAILED: {type(exc).__name__}: {exc}")


if __name__ == "__main__":
    main()
