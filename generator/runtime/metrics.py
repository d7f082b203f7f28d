"""Prometheus metrics: Paddle Serving's `pd_*` counters plus latency histograms.

Exposition is the Prometheus text format, written here (no client library, no tracer needed).
"""

from __future__ import annotations

import bisect
import threading

#: seconds; suits both a 100 us linear model and a 2 s detector
BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class _Histogram:
    def __init__(self) -> None:
        self.counts = [0] * (len(BUCKETS) + 1)
        self.total = 0.0
        self.n = 0

    def observe(self, seconds: float) -> None:
        self.counts[bisect.bisect_left(BUCKETS, seconds)] += 1
        self.total += seconds
        self.n += 1

    def render(self, name: str, labels: str) -> list[str]:
        lines, acc = [], 0
        sep = "," if labels else ""
        for bound, count in zip((*BUCKETS, float("inf")), self.counts, strict=True):
            acc += count
            le = "+Inf" if bound == float("inf") else repr(bound)
            lines.append(f'{name}_bucket{{{labels}{sep}le="{le}"}} {acc}')
        lines.append(f"{name}_sum{{{labels}}} {self.total!r}")
        lines.append(f"{name}_count{{{labels}}} {self.n}")
        return lines


class Metrics:
    """Thread-safe counters and histograms for one service."""

    def __init__(self, service: str) -> None:
        self.service = service
        self._lock = threading.Lock()
        self.success = 0
        self.failure = 0
        self.request_us = 0
        self.inference_count = 0
        self.inference_us = 0
        self.overloaded = 0
        self.in_flight = 0
        self._request_hist = _Histogram()
        self._op_hist: dict[str, _Histogram] = {}
        self._errors: dict[int, int] = {}
        self._deaths: dict[str, int] = {}

    def worker_died(self, op_name: str, idx: int = 0, reason: str = "") -> None:
        """A worker process of `op_name` died and is being restarted."""
        with self._lock:
            self._deaths[op_name] = self._deaths.get(op_name, 0) + 1

    def request_started(self) -> None:
        with self._lock:
            self.in_flight += 1

    def request_finished(self, seconds: float, err_no: int) -> None:
        with self._lock:
            self.in_flight -= 1
            if err_no == 0:
                self.success += 1
            else:
                self.failure += 1
                self._errors[err_no] = self._errors.get(err_no, 0) + 1
            self.request_us += int(seconds * 1e6)
            self._request_hist.observe(seconds)

    def inference_done(self, op_name: str, seconds: float, count: int = 1) -> None:
        with self._lock:
            self.inference_count += count
            self.inference_us += int(seconds * 1e6)
            self._op_hist.setdefault(op_name, _Histogram()).observe(seconds)

    def render(self) -> bytes:
        """The Prometheus text exposition."""
        svc = f'service="{self.service}"'
        with self._lock:
            lines = [
                "# HELP pd_query_request_success_total Requests answered with err_no 0.",
                "# TYPE pd_query_request_success_total counter",
                f"pd_query_request_success_total{{{svc}}} {self.success}",
                "# HELP pd_query_request_failure_total Requests answered with an error.",
                "# TYPE pd_query_request_failure_total counter",
                f"pd_query_request_failure_total{{{svc}}} {self.failure}",
                "# HELP pd_inference_count_total Inferences run (one per request per Op).",
                "# TYPE pd_inference_count_total counter",
                f"pd_inference_count_total{{{svc}}} {self.inference_count}",
                "# HELP pd_query_request_duration_us_total Total request time in microseconds.",
                "# TYPE pd_query_request_duration_us_total counter",
                f"pd_query_request_duration_us_total{{{svc}}} {self.request_us}",
                "# HELP pd_inference_duration_us_total Total inference time in microseconds.",
                "# TYPE pd_inference_duration_us_total counter",
                f"pd_inference_duration_us_total{{{svc}}} {self.inference_us}",
                "# HELP pd_requests_in_flight Requests being processed now.",
                "# TYPE pd_requests_in_flight gauge",
                f"pd_requests_in_flight{{{svc}}} {self.in_flight}",
                "# HELP pd_query_request_errors_total Failed requests by err_no.",
                "# TYPE pd_query_request_errors_total counter",
            ]
            lines += [f'pd_query_request_errors_total{{{svc},err_no="{code}"}} {n}'
                      for code, n in sorted(self._errors.items())]
            lines += ["# HELP pd_worker_restarts_total Worker processes that died and were restarted.",
                      "# TYPE pd_worker_restarts_total counter"]
            lines += [f'pd_worker_restarts_total{{{svc},op="{op}"}} {n}'
                      for op, n in sorted(self._deaths.items())]
            lines += ["# HELP pd_query_request_duration_seconds Request latency.",
                      "# TYPE pd_query_request_duration_seconds histogram"]
            lines += self._request_hist.render("pd_query_request_duration_seconds", svc)
            lines += ["# HELP pd_op_process_duration_seconds Inference latency per Op call.",
                      "# TYPE pd_op_process_duration_seconds histogram"]
            for op, hist in sorted(self._op_hist.items()):
                lines += hist.render("pd_op_process_duration_seconds", f'{svc},op="{op}"')
        return ("\n".join(lines) + "\n").encode()

    def snapshot(self) -> dict[str, float]:
        """Counters as a dict (for the tracer log)."""
        with self._lock:
            done = self.success + self.failure
            return {
                "success": self.success,
                "failure": self.failure,
                "in_flight": self.in_flight,
                "avg_request_ms": self.request_us / 1000 / done if done else 0.0,
                "avg_inference_ms": (self.inference_us / 1000 / self.inference_count
                                     if self.inference_count else 0.0),
            }
