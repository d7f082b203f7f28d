"""One short window of closed-loop load on a running service, over both of its protocols at
once: gRPC clients (Paddle Serving's pipeline proto, `grpc.aio` on this thread's event loop)
and HTTP/1.1 keep-alive clients (`POST /{name}/prediction` JSON, `loadgen.http_sender`, one
thread each). Serving configurations are compared under it (`scaffold.serving_sweep`): what
the gRPC path leaves idle the HTTP path may not (the HTTP server parses JSON and base64 in the
serving process), so a configuration is judged on the mix users send.
"""

from __future__ import annotations

import asyncio
import base64
import threading
import time
from dataclasses import dataclass


@dataclass
class WindowResult:
    """Requests per second over the window, p50 latency (ms) of all requests, failures."""

    rps: float
    p50_ms: float
    errors: int


def mixed_window(rpc_port: int, http_port: int | None, name: str, image: bytes, clients: int,
                 seconds: float) -> WindowResult:
    """`clients` clients (half of them HTTP when `http_port` is set) for `seconds`, after one
    untimed request each. Raises what the transport raises (a dead service)."""
    return asyncio.run(_window(rpc_port, http_port, name, image, clients, seconds))


async def _window(rpc_port: int, http_port: int | None, name: str, image: bytes, clients: int,
                  seconds: float) -> WindowResult:
    import grpc

    from generator.quality.loadgen import http_sender
    from generator.runtime.proto import INFERENCE_METHOD_PATH, Request, Response

    n_http = clients // 2 if http_port else 0
    n_grpc = clients - n_http
    request = Request()
    request.key.append("image")
    request.value.append(base64.b64encode(image).decode("ascii"))
    payload = request.SerializeToString()
    senders = [http_sender("127.0.0.1", http_port, name, image)() for _ in range(n_http)]
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{rpc_port}") as channel:
        call = channel.unary_unary(INFERENCE_METHOD_PATH, request_serializer=None,
                                   response_deserializer=Response.FromString)
        loop = asyncio.get_running_loop()
        await asyncio.gather(*(call(payload) for _ in range(n_grpc)),  # connected, warm
                             *(loop.run_in_executor(None, send) for send in senders))
        deadline = time.perf_counter() + seconds

        def http_client(send) -> None:
            nonlocal errors
            mine, bad = [], 0
            while time.perf_counter() < deadline:
                t = time.perf_counter()
                try:
                    bad += send() is not None
                except Exception:  # noqa: BLE001 - a failed request counts against the config
                    bad += 1
                mine.append(time.perf_counter() - t)
            with lock:
                latencies.extend(mine)
                errors += bad

        async def grpc_client() -> None:
            nonlocal errors
            while time.perf_counter() < deadline:
                t = time.perf_counter()
                resp = await call(payload, timeout=60)
                latencies.append(time.perf_counter() - t)
                errors += bool(resp.err_no)

        start = time.perf_counter()
        threads = [threading.Thread(target=http_client, args=(s,), daemon=True) for s in senders]
        for t in threads:
            t.start()
        await asyncio.gather(*(grpc_client() for _ in range(n_grpc)))
        for t in threads:
            await loop.run_in_executor(None, t.join)
        elapsed = time.perf_counter() - start
    latencies.sort()
    return WindowResult(len(latencies) / elapsed, 1000 * latencies[len(latencies) // 2], errors)
