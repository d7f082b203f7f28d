"""Closed-loop load: `concurrency` clients send requests back to back for `duration` seconds."""

from __future__ import annotations

import base64
import http.client
import json
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np


@dataclass
class LevelResult:
    protocol: str
    concurrency: int
    requests: int
    errors: int
    seconds: float
    qps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    first_error: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


def grpc_sender(host: str, port: int, image: bytes) -> Callable[[], Callable[[], str | None]]:
    """Factory of per-client send functions over gRPC (each client has its own channel)."""
    from generator.runtime.client import PipelineClient

    feed = {"image": base64.b64encode(image).decode("ascii")}

    def make() -> Callable[[], str | None]:
        client = PipelineClient()
        client.connect([f"{host}:{port}"])

        def send() -> str | None:
            resp = client.predict(feed)
            return None if resp.err_no == 0 else f"err_no {resp.err_no}: {resp.err_msg}"

        return send

    return make


def http_sender(host: str, port: int, name: str, image: bytes) -> Callable[[], Callable[[], str | None]]:
    """Factory of per-client send functions over HTTP/1.1 keep-alive."""
    body = json.dumps({"key": ["image"], "value": [base64.b64encode(image).decode("ascii")]})

    def make() -> Callable[[], str | None]:
        conn = http.client.HTTPConnection(host, port, timeout=60)

        def send() -> str | None:
            conn.request("POST", f"/{name}/prediction", body=body,
                         headers={"Content-Type": "application/json"})
            resp = conn.getresponse()
            data = resp.read()
            if resp.status != 200:
                return f"HTTP {resp.status}: {data[:200]!r}"
            err = json.loads(data)
            return None if err["err_no"] == 0 else f"err_no {err['err_no']}: {err['err_msg']}"

        return send

    return make


def run_level(protocol: str, concurrency: int, duration: float,
              factory: Callable[[], Callable[[], str | None]], progress: bool = True) -> LevelResult:
    """Run one load level and summarise it."""
    senders = [factory() for _ in range(concurrency)]
    for send in senders:  # connect and warm up outside the measured window
        send()
    latencies: list[float] = []
    errors: list[str] = []
    sent = [0]  # progress only: read without the lock
    lock = threading.Lock()
    start = time.perf_counter()
    stop_at = start + duration

    def loop(send: Callable[[], str | None]) -> None:
        mine, errs = [], []
        while True:
            t = time.perf_counter()
            if t >= stop_at:
                break
            try:
                err = send()
            except Exception as exc:  # noqa: BLE001 - a transport failure is an error to report
                err = f"{type(exc).__name__}: {exc}"
            mine.append(time.perf_counter() - t)
            sent[0] += 1
            if err:
                errs.append(err)
        with lock:
            latencies.extend(mine)
            errors.extend(errs)

    threads = [threading.Thread(target=loop, args=(s,), daemon=True) for s in senders]
    for t in threads:
        t.start()
    tty = sys.stderr.isatty()  # a \r counter on a terminal; one line per 5 s in a log
    last = 0.0
    while progress and any(t.is_alive() for t in threads):
        done = time.perf_counter() - start
        line = f"  {protocol} x{concurrency}: {min(done, duration):5.1f}/{duration:.0f} s, " \
               f"{sent[0]} requests"
        if tty:
            print(f"\r{line}", end="", file=sys.stderr, flush=True)
        elif done - last >= 5.0:
            print(line, file=sys.stderr, flush=True)
            last = done
        time.sleep(0.5)
    for t in threads:
        t.join()
    if progress:
        done = time.perf_counter() - start
        print(f"\r  {protocol} x{concurrency}: {min(done, duration):5.1f}/{duration:.0f} s, "
              f"{sent[0]} requests, done" if tty else
              f"  {protocol} x{concurrency}: done, {sent[0]} requests", file=sys.stderr)
    elapsed = max(time.perf_counter() - start, 1e-9)
    lat = np.asarray(latencies) * 1000 if latencies else np.zeros(1)
    return LevelResult(protocol, concurrency, len(latencies), len(errors), round(elapsed, 3),
                       len(latencies) / elapsed, float(np.percentile(lat, 50)),
                       float(np.percentile(lat, 90)), float(np.percentile(lat, 99)),
                       errors[0] if errors else "")
