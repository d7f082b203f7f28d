"""Supervised workers under faults (real service processes, kill -9): a dead process-mode
worker fails its requests at once and is restarted while the others keep serving; readiness
is false while it is missing; the workers never outlive the server."""

from __future__ import annotations

import concurrent.futures
import os
import signal
import time
from pathlib import Path

import pytest
import requests
import yaml

from tests.helpers.metrics import metric_value
from tests.helpers.services import alive, child_pids, free_port, start_service, stop_service

SERVICE = '''
import os
import sys
import time

from generator.runtime import Op, WebService


class PidOp(Op):
    def init_op(self):
        if os.path.exists("slow_init"):
            time.sleep(2.0)
        if os.path.exists("fail_init"):
            raise RuntimeError("fail_init is there")

    def preprocess(self, input_dicts, data_id, log_id):
        (_, d), = input_dicts.items()
        if d.get("mark"):
            with open(d["mark"], "w") as fh:
                fh.write(str(os.getpid()))
        time.sleep(float(d.get("sleep", "0")))
        if "x" in d:
            float(d["x"])
        return {"pid": str(os.getpid())}, False, None, ""

    def postprocess(self, input_dicts, fetch_dict, data_id, log_id):
        return {"pid": fetch_dict["pid"]}, None, ""


class Svc(WebService):
    def get_pipeline_response(self, read_op):
        return PidOp(name="pid", input_ops=[read_op])


if __name__ == "__main__":
    svc = Svc(name="pid")
    svc.prepare_pipeline_config(sys.argv[1])
    svc.run_service()
'''


def wait_for(cond, timeout: float, step: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(step)
    return cond()


def write_service(tmp_path: Path, **top) -> int:
    http = free_port()
    conf = {"rpc_port": free_port(), "http_port": http, "worker_num": 4,
            "shutdown_timeout_s": 10, "dag": {"is_thread_op": False},
            "op": {"pid": {"concurrency": 3}}, **top}
    (tmp_path / "web_service.py").write_text(SERVICE)
    (tmp_path / "config.yml").write_text(yaml.safe_dump(conf))
    return http


def predict(http: int, timeout: float = 30, **values) -> dict:
    body = {"key": list(values), "value": list(values.values())}
    return requests.post(f"http://127.0.0.1:{http}/pid/prediction", json=body,
                         timeout=timeout).json()


def ready(http: int) -> requests.Response:
    """GET /health/ready; one retry on a connection reset (a connection queued on the socket
    of a worker just killed is reset by the kernel)."""
    url = f"http://127.0.0.1:{http}/health/ready"
    try:
        return requests.get(url, timeout=30)
    except requests.ConnectionError:
        time.sleep(0.1)
        return requests.get(url, timeout=30)


def metric(http: int, name: str, **labels: str) -> float:
    text = requests.get(f"http://127.0.0.1:{http}/metrics", timeout=30).text
    return metric_value(text, name, **labels)


def test_killed_idle_worker_is_restarted_and_readiness_tracks_it(tmp_path):
    http = write_service(tmp_path)
    proc = start_service(["web_service.py", "config.yml"], tmp_path, http)
    try:
        kids = child_pids(proc.pid)
        assert len(kids) == 3, kids
        (tmp_path / "slow_init").write_text("")  # the restarted worker takes 2 s to start
        os.kill(kids[0], signal.SIGKILL)
        down = wait_for(lambda: ready(http).status_code == 503, 30)
        assert down, "readiness stayed 200 while a worker was missing"
        body = ready(http).json()
        assert body["status"] == "degraded" and "worker" in body["reason"], body
        # the two other workers keep serving meanwhile, and nothing hangs
        for _ in range(5):
            assert predict(http, timeout=30)["err_no"] == 0
        assert wait_for(lambda: ready(http).status_code == 200, 30), ready(http).text
        new = child_pids(proc.pid)
        assert len(new) == 3 and kids[0] not in new, (kids, new)
        assert metric(http, "pd_worker_restarts_total", service="pid", op="pid") == 1
        with concurrent.futures.ThreadPoolExecutor(6) as pool:
            answers = list(pool.map(lambda _: predict(http, sleep="0.2"), range(12)))
        assert [a["err_no"] for a in answers] == [0] * 12
        assert len({a["value"][0] for a in answers}) == 3, "not every worker serves again"
        assert stop_service(proc, timeout=60) == 0
    finally:
        stop_service(proc, sig=signal.SIGKILL)


def test_a_worker_that_keeps_dying_fails_readiness_saying_why(tmp_path):
    http = write_service(tmp_path)
    proc = start_service(["web_service.py", "config.yml"], tmp_path, http)
    try:
        (tmp_path / "fail_init").write_text("")
        os.kill(child_pids(proc.pid)[2], signal.SIGKILL)
        assert wait_for(lambda: "keeps dying" in ready(http).json().get("reason", ""), 30), \
            ready(http).text
        reason = ready(http).json()["reason"]
        assert "fail_init is there" in reason and "worker" in reason, reason
        assert predict(http, timeout=30)["err_no"] == 0  # the others still serve
        (tmp_path / "fail_init").unlink()
        assert wait_for(lambda: ready(http).status_code == 200, 60), ready(http).text
    finally:
        stop_service(proc, sig=signal.SIGKILL)


def test_killed_busy_worker_fails_its_request_at_once(tmp_path):
    http = write_service(tmp_path)
    proc = start_service(["web_service.py", "config.yml"], tmp_path, http)
    try:
        mark = tmp_path / "busy.pid"
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            fut = pool.submit(predict, http, 90, sleep="60", mark=str(mark))
            assert wait_for(lambda: mark.exists() and mark.read_text(), 30)
            assert metric(http, "pd_requests_in_flight") == 1
            started = time.monotonic()
            os.kill(int(mark.read_text()), signal.SIGKILL)
            answer = fut.result(timeout=60)
        # at once: well before the request's own 60 s sleep would have ended
        assert time.monotonic() - started < 20
        assert answer["err_no"] == 9000 and "died" in answer["err_msg"], answer
        assert "SIGKILL" in answer["err_msg"]
        assert metric(http, "pd_requests_in_flight") == 0
        assert predict(http, timeout=30)["err_no"] == 0
        assert wait_for(lambda: len(child_pids(proc.pid)) == 3, 30)
    finally:
        stop_service(proc, sig=signal.SIGKILL)


def test_workers_exit_when_the_server_is_killed(tmp_path):
    http = write_service(tmp_path)
    proc = start_service(["web_service.py", "config.yml"], tmp_path, http)
    try:
        kids = child_pids(proc.pid)
        os.kill(kids[1], signal.SIGKILL)  # a restarted worker (forked later) must exit too
        assert wait_for(lambda: ready(http).status_code == 200 and
                        len(child_pids(proc.pid)) == 3, 30)
        kids = child_pids(proc.pid)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
        assert wait_for(lambda: not any(alive(k) for k in kids), 30), \
            [k for k in kids if alive(k)]
        with pytest.raises(requests.RequestException):
            predict(http, timeout=2)
    finally:
        stop_service(proc, sig=signal.SIGKILL)


def test_build_dag_each_worker_restarts_a_killed_worker_and_dies_with_the_server(tmp_path):
    http = write_service(tmp_path, build_dag_each_worker=True, worker_num=2,
                         dag={"is_thread_op": True})
    proc = start_service(["web_service.py", "config.yml"], tmp_path, http)
    try:
        assert wait_for(lambda: len(child_pids(proc.pid)) == 2, 30)
        kids = child_pids(proc.pid)
        for _ in range(8):  # new connections: spread over both workers
            assert predict(http)["err_no"] == 0
        for _ in range(4):  # whichever worker answers the scrape reports the whole service
            assert metric(http, "pd_requests_total", protocol="http", err_no="0") == 8
        (tmp_path / "slow_init").write_text("")
        os.kill(kids[0], signal.SIGKILL)
        assert wait_for(lambda: ready(http).status_code == 503, 30), "ready while a worker is down"
        assert "worker process" in ready(http).json()["reason"]
        assert predict(http, timeout=30)["err_no"] == 0  # the other worker serves meanwhile
        assert wait_for(lambda: ready(http).status_code == 200, 60), ready(http).text
        new = child_pids(proc.pid)
        assert len(new) == 2 and kids[0] not in new and proc.poll() is None
        assert metric(http, "pd_worker_restarts_total", op="build_dag_each_worker") == 1
        assert metric(http, "pd_requests_total", protocol="http", err_no="0") == 9
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
        assert wait_for(lambda: not any(alive(k) for k in new), 30), \
            [k for k in new if alive(k)]
    finally:
        stop_service(proc, sig=signal.SIGKILL)


def test_a_huge_bad_value_is_quoted_short_in_the_answer_and_the_log(tmp_path):
    http = write_service(tmp_path, dag={"is_thread_op": True})
    proc = start_service(["web_service.py", "config.yml"], tmp_path, http)
    try:
        log = tmp_path / "service.log"
        before = log.stat().st_size
        answer = predict(http, x="7" * 1000 + "z" * (3 << 20))
        assert answer["err_no"] == 10000 and "could not convert" in answer["err_msg"], answer
        assert len(answer["err_msg"]) < 1000, len(answer["err_msg"])
        assert predict(http)["err_no"] == 0
        assert log.stat().st_size - before < 20_000, log.stat().st_size - before
    finally:
        stop_service(proc, sig=signal.SIGKILL)
