"""Serving overhead of generator.runtime, measured in one run (print ratios; machines are noisy).

(a) tiny linear model (13 -> 1): p50 latency of a bare grpcio echo round trip, of the in-process
    predictor, and of the served model over gRPC and over HTTP (Paddle Serving protocol), and
    over the Open Inference Protocol with tritonclient's gRPC client (service and bare model).
(b) paddle.vision MobileNetV3-small at 224x224 (random weights): best in-process throughput over
    batch sizes 1-16, and served throughput at 16 concurrent gRPC clients with auto-batching.

Targets: served gRPC and HTTP p50 <= 1.5 x (echo p50 + in-process p50);
         served throughput >= 0.9 x best in-process throughput.

    .venv/bin/python benchmarks/runtime_overhead.py [--quick]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import http.client
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

SERVICE = '''
import json
import sys

import numpy as np

from generator.runtime import Op, WebService


class ModelOp(Op):
    """Returns JSON like a generated service: all values of small outputs, top-5 of large ones."""

    def postprocess(self, input_dicts, fetch_dict, data_id, log_id):
        out = {}
        for name, value in fetch_dict.items():
            if value.size > 100:
                top = np.argsort(-value, axis=-1)[..., :5]
                out[name] = json.dumps({"top5": top.tolist(),
                                        "scores": np.take_along_axis(value, top, -1).tolist()})
            else:
                out[name] = json.dumps(value.tolist())
        return out, None, ""


class Svc(WebService):
    def get_pipeline_response(self, read_op):
        return ModelOp(name="model", input_ops=[read_op])


svc = Svc(name="model")
svc.prepare_pipeline_config(sys.argv[1])
svc.run_service()
'''


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def save_model(layer, spec, out: Path, aliases: list[str]) -> Path:
    import paddle

    from generator.serving_model import DTYPE_TO_CODE, VarInfo, write_model_config

    layer.eval()
    paddle.jit.save(layer, str(out / "model"), input_spec=spec)
    from generator.runtime.inference.predictor import LocalPredictor

    raw = LocalPredictor(str(out))
    feeds = [VarInfo(v.name, v.name, DTYPE_TO_CODE["float32"], tuple(s.shape[1:]))
             for v, s in zip(raw.feed_vars, spec, strict=True)]
    fetches = [VarInfo(v.name, a, v.dtype_code, v.shape) for v, a in zip(raw.fetch_vars, aliases, strict=True)]
    write_model_config(out, "serving_server", feeds, fetches)
    return out


def start_service(work: Path, model_dir: Path, op_conf: dict, threads: int,
                  thread_op: bool = True, *, extra: dict | None = None,
                  service: str = SERVICE, local: dict | None = None) -> tuple:
    """Start `service` (a web_service.py text) on `model_dir` with Op settings `op_conf`,
    top-level keys `extra` and `local_service_conf` keys `local`; returns (proc, rpc, http)."""
    import requests
    import yaml

    rpc, http = free_port(), free_port()
    conf = {"rpc_port": rpc, "http_port": http, "worker_num": 32,
            "dag": {"is_thread_op": thread_op}, **(extra or {}),
            "op": {"model": {**op_conf, "local_service_conf": {
                "model_config": str(model_dir), "client_type": "local_predictor",
                "thread_num": threads, "ir_optim": True, **(local or {})}}}}
    (work / "web_service.py").write_text(service)
    (work / "config.yml").write_text(yaml.safe_dump(conf))
    env = dict(os.environ, PYTHONPATH=str(REPO), GLOG_minloglevel="2")
    proc = subprocess.Popen([sys.executable, "web_service.py", "config.yml"], cwd=work, env=env,
                            stdout=subprocess.DEVNULL, stderr=open(work / "log", "wb"))
    for _ in range(600):
        try:
            if requests.get(f"http://127.0.0.1:{http}/health/ready", timeout=1).status_code == 200:
                return proc, rpc, http
        except requests.RequestException:
            pass
        if proc.poll() is not None:
            raise SystemExit((work / "log").read_text()[-3000:])
        time.sleep(0.2)
    raise SystemExit("service did not start")


def stop(proc) -> None:
    proc.send_signal(signal.SIGTERM)
    proc.wait(30)


def bench_linear(work: Path, n: int) -> dict:
    """The four round trips are interleaved call by call, so machine noise hits them alike."""
    import grpc
    import paddle

    from generator.runtime import PipelineClient
    from generator.runtime.inference.predictor import LocalPredictor

    echo = grpc.server(concurrent.futures.ThreadPoolExecutor(4))
    echo.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(
        "bench.Echo", {"echo": grpc.unary_unary_rpc_method_handler(lambda req, ctx: req)}),))
    port = echo.add_insecure_port("127.0.0.1:0")
    echo.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    call = channel.unary_unary("/bench.Echo/echo")
    x = np.random.default_rng(0).standard_normal((1, 13)).astype(np.float32)
    payload = x.tobytes() + b"x" * 64

    paddle.seed(0)
    model_dir = save_model(paddle.nn.Linear(13, 1),
                           [paddle.static.InputSpec([None, 13], "float32", "x")],
                           work / "linear", ["price"])
    pred = LocalPredictor(str(model_dir), thread_num=1)
    proc, rpc, http_port = start_service(work / "linear", model_dir, {}, threads=1)
    try:
        client = PipelineClient()
        client.connect([f"127.0.0.1:{rpc}"])
        feed = {"x": x}
        resp = client.predict(feed, pack_tensor_format=True)
        assert resp.err_no == 0, resp.err_msg
        # http.client keep-alive: `requests` alone costs ~1 ms per call, which would hide the server
        conn = http.client.HTTPConnection("127.0.0.1", http_port)
        body = json.dumps({"tensors": [{"name": "x", "elem_type": 1, "shape": [1, 13],
                                        "float_data": x.ravel().tolist()}]})

        def post() -> bytes:
            conn.request("POST", "/model/prediction", body=body)
            return conn.getresponse().read()

        assert json.loads(post())["err_no"] == 0
        calls = {
            "echo_p50_ms": lambda: call(payload),
            "inprocess_p50_ms": lambda: pred.predict(feed),
            "grpc_p50_ms": lambda: client.predict(feed, pack_tensor_format=True),
            "http_p50_ms": post,
        }
        calls.update(oip_calls(rpc, x))
        samples: dict[str, list[float]] = {k: [] for k in calls}
        for i in range(n + 50):
            for key, fn in calls.items():
                t = time.perf_counter()
                fn()
                if i >= 50:
                    samples[key].append(time.perf_counter() - t)
    finally:
        stop(proc)
        channel.close()
        echo.stop(0)
    out = {k: statistics.median(v) * 1000 for k, v in samples.items()}
    out["grpc_ratio"] = out["grpc_p50_ms"] / (out["echo_p50_ms"] + out["inprocess_p50_ms"])
    out["http_ratio"] = out["http_p50_ms"] / (out["echo_p50_ms"] + out["inprocess_p50_ms"])
    return out


def oip_calls(rpc: int, x: np.ndarray) -> dict:
    """Open Inference Protocol round trips with `tritonclient.grpc` (when installed): the whole
    service (model `model`, like PipelineClient) and the bare model (`model-model`)."""
    try:
        import tritonclient.grpc as triton
    except ImportError:
        print("    (tritonclient not installed: no Open Inference Protocol figures)")
        return {}
    oip = triton.InferenceServerClient(f"127.0.0.1:{rpc}")
    inp = triton.InferInput("x", list(x.shape), "FP32")
    inp.set_data_from_numpy(x)
    assert oip.infer("model", [inp]).as_numpy("price") is not None
    assert oip.infer("model-model", [inp]).as_numpy("price").shape == (1, 1)
    return {"oip_grpc_p50_ms": lambda: oip.infer("model", [inp]),
            "oip_grpc_bare_p50_ms": lambda: oip.infer("model-model", [inp])}


def bench_mobilenet(work: Path, seconds: float, threads: int, rounds: int) -> dict:
    """In-process sweep over batch sizes, then `rounds` alternating windows of in-process (best
    batch) and served throughput, so the machine's drift hits both alike."""
    import paddle

    from generator.runtime.inference.predictor import LocalPredictor

    paddle.seed(0)
    net = paddle.vision.models.mobilenet_v3_small(num_classes=1000)
    model_dir = save_model(net, [paddle.static.InputSpec([None, 3, 224, 224], "float32", "image")],
                           work / "mbv3", ["softmax"])
    pred = LocalPredictor(str(model_dir), thread_num=threads, ir_optim=True)
    rng = np.random.default_rng(0)

    def throughput(bs: int, secs: float) -> tuple[int, float]:
        img = rng.standard_normal((bs, 3, 224, 224)).astype(np.float32)
        for _ in range(2):
            pred.predict({"image": img})
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < secs:
            pred.predict({"image": img})
            n += bs
        return n, time.perf_counter() - t0

    per_batch = {}
    for bs in (1, 2, 4, 8, 16):
        n, t = throughput(bs, seconds)
        per_batch[bs] = n / t
    # The sweep is one noisy sample: the baseline is the best of the larger batch sizes, each
    # re-measured in every round, alternating with the served windows.
    candidates = sorted(per_batch, key=per_batch.get, reverse=True)[:3]

    img1 = rng.standard_normal((1, 3, 224, 224)).astype(np.float32)
    # One batch of all 16 clients at a time.
    proc, rpc, _ = start_service(work / "mbv3", model_dir, SERVED_CONF, threads=threads)
    inproc = {bs: [0.0, 0.0] for bs in candidates}
    served_n = served_t = 0.0
    errors = 0
    try:
        closed_loop(rpc, img1, clients=16, warmup_s=0.0, seconds=2.0)  # warm the server
        for _ in range(rounds):
            for bs in candidates:
                n, t = throughput(bs, seconds / 2)
                inproc[bs][0] += n
                inproc[bs][1] += t
            ips, errs = closed_loop(rpc, img1, clients=16, warmup_s=1.0, seconds=seconds)
            served_n, served_t, errors = served_n + ips * seconds, served_t + seconds, errors + errs
    finally:
        stop(proc)
    rates = {bs: n / t for bs, (n, t) in inproc.items()}
    best_bs = max(rates, key=rates.get)
    best = rates[best_bs]
    served = served_n / served_t
    return {"inprocess_ips_by_batch": per_batch, "best_batch": best_bs,
            "alternating_inprocess": rates, "best_inprocess_ips": best,
            "served_ips_16_clients": served, "throughput_ratio": served / best,
            "errors": errors, "rounds": rounds}


SERVED_CONF = {"batch_size": 16, "auto_batching_timeout": 20, "concurrency": 1}


def closed_loop(rpc: int, img: np.ndarray, clients: int, warmup_s: float,
                seconds: float) -> tuple[float, int]:
    """`clients` concurrent requests kept in flight back to back (grpc.aio, one event loop,
    the request encoded once, like ghz or wrk replay a request: the client costs little CPU,
    which the server shares on a small machine). Returns (images/s, errors) counted only in
    the window after `warmup_s`."""
    import asyncio

    import grpc

    from generator.runtime.proto import INFERENCE_METHOD_PATH, Request, Response
    from generator.runtime.proto.tensors import ndarray_to_tensor

    request = Request()
    request.tensors.append(ndarray_to_tensor("image", img, use_bytes=True))
    payload = request.SerializeToString()

    async def run() -> tuple[int, int]:
        async with grpc.aio.insecure_channel(
                f"127.0.0.1:{rpc}", options=[("grpc.max_send_message_length", 64 << 20),
                                             ("grpc.max_receive_message_length", 64 << 20)]) as ch:
            call = ch.unary_unary(INFERENCE_METHOD_PATH, request_serializer=None,
                                  response_deserializer=Response.FromString)
            loop = asyncio.get_running_loop()
            start = loop.time()
            window = (start + warmup_s, start + warmup_s + seconds)
            counted, errors = 0, 0

            async def client() -> None:
                nonlocal counted, errors
                while True:
                    resp = await call(payload)
                    now = loop.time()
                    if resp.err_no:
                        errors += 1
                    if window[0] <= now <= window[1]:
                        counted += 1
                    if now > window[1]:
                        return

            await asyncio.gather(*(client() for _ in range(clients)))
            return counted, errors

    counted, errors = asyncio.run(run())
    return counted / seconds, errors


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer samples (smoke run)")
    ap.add_argument("--threads", type=int, default=2, help="Paddle CPU threads (thread_num)")
    args = ap.parse_args()
    n = 100 if args.quick else 500
    secs = 2.0 if args.quick else 6.0
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "linear").mkdir()
        (work / "mbv3").mkdir()
        a = bench_linear(work, n)
        print("(a) linear 13->1, p50 latency (ms):")
        for k in ("echo_p50_ms", "inprocess_p50_ms", "grpc_p50_ms", "http_p50_ms",
                  "oip_grpc_p50_ms", "oip_grpc_bare_p50_ms"):
            if k in a:
                print(f"    {k:20s} {a[k]:8.3f}")
        print(f"    served HTTP p50 / (echo p50 + in-process p50) = {a['http_ratio']:.2f} "
              f"(target <= 1.5): {'PASS' if a['http_ratio'] <= 1.5 else 'FAIL'}")
        if "oip_grpc_p50_ms" in a:
            print(f"    tritonclient gRPC / PipelineClient gRPC p50 = "
                  f"{a['oip_grpc_p50_ms'] / a['grpc_p50_ms']:.2f}")
        print(f"    served gRPC p50 / (echo p50 + in-process p50) = {a['grpc_ratio']:.2f} "
              f"(target <= 1.5): {'PASS' if a['grpc_ratio'] <= 1.5 else 'FAIL'}")
        b = bench_mobilenet(work, secs, args.threads, rounds=2 if args.quick else 4)
        print("(b) MobileNetV3-small 224x224, images/s:")
        for bs, ips in b["inprocess_ips_by_batch"].items():
            print(f"    in-process batch {bs:2d}      {ips:8.1f}")
        print(f"    alternating windows ({b['rounds']} x {secs:.0f} s each):")
        for bs, ips in sorted(b["alternating_inprocess"].items()):
            best = " (best)" if bs == b["best_batch"] else ""
            print(f"    in-process, batch {bs:2d}       {ips:8.1f}{best}")
        print(f"    served, 16 gRPC clients    {b['served_ips_16_clients']:8.1f} "
              f"(op batch_size {SERVED_CONF['batch_size']}, auto_batching_timeout "
              f"{SERVED_CONF['auto_batching_timeout']} ms; errors: {b['errors']})")
        print(f"    served / best in-process = {b['throughput_ratio']:.2f} (target >= 0.9): "
              f"{'PASS' if b['throughput_ratio'] >= 0.9 else 'FAIL'}")


if __name__ == "__main__":
    main()
