"""Prometheus metrics (prometheus-client): Paddle Serving's `pd_*` counters, latency
histograms, and every outcome of every request.

- `pd_query_request_success_total`, `pd_query_request_failure_total`, `pd_inference_count_total`,
  `pd_query_request_duration_us_total`, `pd_inference_duration_us_total`: Paddle Serving's names;
- `pd_requests_in_flight`: pipeline requests being processed now (both protocols);
- `pd_query_request_errors_total{err_no}`: failed pipeline requests by err_no;
- `pd_requests_total{protocol, err_no}`: every pipeline request answered, by protocol ("grpc",
  "http") and exact err_no ("0", "3002", "8001"...), including those refused before the graph;
- `pd_http_responses_total{status}`: every HTTP answer by status ("200", "400", "408", "413",
  "503"...), including those the connection layer writes, and "dropped" for a connection lost
  before its answer; `pd_grpc_responses_total{code}`: every gRPC call by status code ("OK",
  "CANCELLED"...);
- `pd_worker_restarts_total{op}`: worker processes that died and were restarted;
- `pd_query_request_duration_seconds`, `pd_op_process_duration_seconds{op}`: histograms.

With several worker processes (`build_dag_each_worker`) `enable_multiprocess(dir)` is called in
the server process before forking: every process then writes its values to files in `dir`, and
any process's scrape reports the whole service (prometheus-client's multiprocess mode).
"""

from __future__ import annotations

import os
import threading

import prometheus_client
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
    values,
)

#: seconds; suits both a 100 us linear model and a 2 s detector
BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

prometheus_client.disable_created_metrics()


class Metrics:
    """Thread-safe metrics of one service (its own registry)."""

    def __init__(self, service: str) -> None:
        self.service = service
        self._lock = threading.Lock()
        self._mp_dir: str | None = None
        self._build()

    def _build(self) -> None:
        reg = self._registry = CollectorRegistry(auto_describe=False)
        svc = ["service"]

        def counter(name: str, doc: str, labels: tuple[str, ...] = ()) -> Counter:
            return Counter(name, doc, [*svc, *labels], registry=reg)

        self._success = counter("pd_query_request_success", "Requests answered with err_no 0.")
        self._failure = counter("pd_query_request_failure", "Requests answered with an error.")
        self._infer_count = counter("pd_inference_count",
                                    "Inferences run (one per request per Op).")
        self._request_us = counter("pd_query_request_duration_us",
                                   "Total request time in microseconds.")
        self._infer_us = counter("pd_inference_duration_us",
                                 "Total inference time in microseconds.")
        self._in_flight = Gauge("pd_requests_in_flight", "Requests being processed now.", svc,
                                registry=reg, multiprocess_mode="livesum")
        self._errors = counter("pd_query_request_errors", "Failed requests by err_no.",
                               ("err_no",))
        self._answered = counter("pd_requests", "Pipeline requests answered, by protocol and "
                                 "err_no.", ("protocol", "err_no"))
        self._http = counter("pd_http_responses", "HTTP answers by status (dropped: the "
                             "connection was lost first).", ("status",))
        self._grpc = counter("pd_grpc_responses", "gRPC calls by status code.", ("code",))
        self._restarts = counter("pd_worker_restarts",
                                 "Worker processes that died and were restarted.", ("op",))
        self._request_hist = Histogram("pd_query_request_duration_seconds", "Request latency.",
                                       svc, buckets=BUCKETS, registry=reg)
        self._op_hist = Histogram("pd_op_process_duration_seconds",
                                  "Inference latency per Op call.", [*svc, "op"],
                                  buckets=BUCKETS, registry=reg)
        s = self.service
        self._c_success, self._c_failure = self._success.labels(s), self._failure.labels(s)
        self._c_infer_count, self._c_infer_us = self._infer_count.labels(s), self._infer_us.labels(s)
        self._c_request_us, self._c_in_flight = self._request_us.labels(s), self._in_flight.labels(s)
        self._c_request_hist = self._request_hist.labels(s)
        for child in (self._c_success, self._c_failure, self._c_infer_count, self._c_infer_us,
                      self._c_request_us):
            child.inc(0)
        self._c_in_flight.set(0)
        self._in_flight_n = 0

    def enable_multiprocess(self, directory: str) -> None:
        """From now on (and in processes forked later) values live in files under
        `directory`, and `render()` aggregates every process's files."""
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory
        values.ValueClass = values.MultiProcessValue()
        self._mp_dir = directory
        self._build()

    @staticmethod
    def process_dead(pid: int) -> None:
        """A worker process is gone: drop its live gauges (its counters stay counted)."""
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            multiprocess.mark_process_dead(pid)

    # -------------------------------------------------------------- events
    def request_started(self) -> None:
        with self._lock:
            self._in_flight_n += 1
        self._c_in_flight.inc()

    def request_finished(self, seconds: float, err_no: int) -> None:
        with self._lock:
            self._in_flight_n -= 1
        self._c_in_flight.dec()
        if err_no == 0:
            self._c_success.inc()
        else:
            self._c_failure.inc()
            self._errors.labels(self.service, str(err_no)).inc()
        self._c_request_us.inc(int(seconds * 1e6))
        self._c_request_hist.observe(seconds)

    def answered(self, protocol: str, err_no: int) -> None:
        """A pipeline request got its answer over `protocol` ("grpc" or "http")."""
        self._answered.labels(self.service, protocol, str(int(err_no))).inc()

    def http_response(self, status: int | str) -> None:
        self._http.labels(self.service, str(status)).inc()

    def grpc_response(self, code: str) -> None:
        self._grpc.labels(self.service, code).inc()

    def inference_done(self, op_name: str, seconds: float, count: int = 1) -> None:
        self._c_infer_count.inc(count)
        self._c_infer_us.inc(int(seconds * 1e6))
        self._op_hist.labels(self.service, op_name).observe(seconds)

    def worker_died(self, op_name: str, idx: int = 0, reason: str = "") -> None:
        """A worker process of `op_name` died and is being restarted."""
        self._restarts.labels(self.service, op_name).inc()

    # ---------------------------------------------------------- exposition
    def render(self) -> bytes:
        """The Prometheus text exposition (every process's values in multiprocess mode)."""
        if self._mp_dir is None:
            return generate_latest(self._registry)
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=self._mp_dir)
        return generate_latest(registry)

    def snapshot(self) -> dict[str, float]:
        """This process's counters as a dict (for the tracer log)."""
        success, failure = self._c_success._value.get(), self._c_failure._value.get()
        done = success + failure
        count = self._c_infer_count._value.get()
        return {
            "success": success,
            "failure": failure,
            "in_flight": self._in_flight_n,
            "avg_request_ms": self._c_request_us._value.get() / 1000 / done if done else 0.0,
            "avg_inference_ms": self._c_infer_us._value.get() / 1000 / count if count else 0.0,
        }
