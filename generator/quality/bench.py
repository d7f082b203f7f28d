"""`scaffold bench`: QPS and latency percentiles of a service per concurrency level and protocol,
against the in-process speed of the same Op (same preprocessing, same model, best batch size)
measured in the same run."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from generator.quality.loadgen import LevelResult, grpc_sender, http_sender, run_level
from generator.quality.service_dir import (
    ServiceDir,
    open_service_dir,
    start_service,
    stop_service,
)

BATCH_SIZES = (1, 2, 4, 8, 16)


@dataclass
class BenchOptions:
    image: bytes
    concurrency: tuple[int, ...] = (1, 4, 16)
    duration: float = 10.0
    protocols: tuple[str, ...] = ("grpc",)
    endpoint: str | None = None
    rpc_port: int | None = None
    http_port: int | None = None
    baseline_seconds: float = 3.0
    progress: bool = True


@dataclass
class BenchReport:
    service: str
    inprocess_ips: dict[int, float] = field(default_factory=dict)
    baseline: str = "same Op, same model"  # how the in-process baseline ran
    levels: list[LevelResult] = field(default_factory=list)

    @property
    def best_inprocess(self) -> tuple[int, float]:
        bs = max(self.inprocess_ips, key=self.inprocess_ips.get)
        return bs, self.inprocess_ips[bs]

    def as_dict(self) -> dict[str, Any]:
        bs, ips = self.best_inprocess
        return {"service": self.service,
                "inprocess": {"baseline": self.baseline,
                              "images_per_s_by_batch": self.inprocess_ips,
                              "best_batch": bs, "best_images_per_s": ips},
                "levels": [{**lv.as_dict(), "ratio_to_inprocess": lv.qps / ips}
                           for lv in self.levels]}

    def table(self) -> str:
        bs, ips = self.best_inprocess
        lines = [f"in-process ({self.baseline}): best {ips:.1f} images/s at batch {bs} "
                 f"({', '.join(f'b{k}: {v:.1f}' for k, v in self.inprocess_ips.items())})",
                 f"{'protocol':8s} {'conc':>4s} {'QPS':>8s} {'p50 ms':>8s} {'p90 ms':>8s} "
                 f"{'p99 ms':>8s} {'errors':>6s} {'/in-proc':>8s}"]
        for lv in self.levels:
            lines.append(f"{lv.protocol:8s} {lv.concurrency:4d} {lv.qps:8.1f} {lv.p50_ms:8.2f} "
                         f"{lv.p90_ms:8.2f} {lv.p99_ms:8.2f} {lv.errors:6d} {lv.qps / ips:8.2f}")
            if lv.first_error:
                lines.append(f"    first error: {lv.first_error[:200]}")
        return "\n".join(lines)


def inprocess_throughput(op: Any, model_dir: Path, image: bytes, seconds: float,
                         progress: bool, backend_conf: dict[str, Any] | None = None
                         ) -> dict[int, float]:
    """Images/s of `LocalService(op)` for requests of 1..16 images (`image_0..N`).

    `seconds` bounds the whole measurement, warm-ups included (split between batch sizes; a
    larger batch is not tried once the budget is spent, batch 1 always is)."""
    from generator.service import LocalService

    local = LocalService(op, model_dir, **(backend_conf or {}))
    out: dict[int, float] = {}
    deadline = time.perf_counter() + seconds
    for i, bs in enumerate(BATCH_SIZES):
        left = deadline - time.perf_counter()
        if out and left <= 0:
            if progress:
                print(f"  in-process: batch {bs} and larger not measured (--baseline-seconds "
                      f"{seconds:g} spent)", file=sys.stderr)
            break
        share = max(left, 0.0) / (len(BATCH_SIZES) - i)
        images = {"image" if bs == 1 else f"image_{i}": image for i in range(bs)}
        local.predict_images(images)  # warm-up for this shape (counted in the budget)
        n, start = 0, time.perf_counter()
        while n == 0 or time.perf_counter() - start < share:
            local.predict_images(images)
            n += bs
        out[bs] = n / (time.perf_counter() - start)
        if progress:
            print(f"  in-process batch {bs:2d}: {out[bs]:.1f} images/s", file=sys.stderr)
    return out


def baseline_conf(sd: ServiceDir) -> dict[str, Any]:
    """The in-process baseline: ONE predictor on the service's backend, with every thread the
    service's model instances share (instances x thread_num), so several instances are
    measured against the best one predictor does on the same cores, not against one of them."""
    conf = dict(sd.backend_conf)
    conf["thread_num"] = int(conf.get("thread_num") or 2) * max(1, sd.instances)
    return conf


def bench_service(service_dir: str | Path, options: BenchOptions) -> BenchReport:
    """Measure the in-process baseline, then each (protocol, concurrency) level."""
    sd = open_service_dir(service_dir)
    report = BenchReport(sd.name)
    if options.progress:
        print("measuring the in-process baseline ...", file=sys.stderr)
    op = sd.served_op()
    if getattr(op, "task", None) == "ocr":  # in-process: the OCR pipeline over its stages
        from generator.quality.ocr_quality import ocr_inprocess_throughput

        report.inprocess_ips = ocr_inprocess_throughput(sd, options.image,
                                                        options.baseline_seconds,
                                                        options.progress)
    else:
        conf = baseline_conf(sd)
        report.baseline = (f"same Op, same model, one predictor x {conf['thread_num']} threads"
                           f" on {conf.get('backend', 'paddle')}")
        report.inprocess_ips = inprocess_throughput(op, sd.model_dir, options.image,
                                                    options.baseline_seconds, options.progress,
                                                    conf)
    host = options.endpoint or "127.0.0.1"
    rpc = options.rpc_port or sd.rpc_port
    http = options.http_port or sd.http_port
    proc = None
    try:
        if options.endpoint is None:
            proc = start_service(sd)
        for protocol in options.protocols:
            factory = (grpc_sender(host, rpc, options.image) if protocol == "grpc"
                       else http_sender(host, http, sd.name, options.image))
            for c in options.concurrency:
                report.levels.append(run_level(protocol, c, options.duration, factory,
                                               options.progress))
    finally:
        if proc is not None:
            stop_service(proc)
    return report
