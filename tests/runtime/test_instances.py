"""Model instances per Op: which kind of worker runs an Op's copies (`op.*.worker_kind`), and
batching that waits for company only while other requests are in flight."""

from __future__ import annotations

import queue
import threading

import pytest

from generator.runtime.config.loader import op_config
from generator.runtime.errors import PipelineConfigError
from generator.runtime.executor.base import InFlight, next_batch
from generator.runtime.executor.kinds import worker_kind


def _op(kind: str, backend: str = "paddle", model: str | None = "m") -> dict:
    return op_config("cls", {"worker_kind": kind, "local_service_conf": {
        "model_config": model, "backend": backend}}, "config.yml")


@pytest.mark.parametrize(("kind", "backend", "model", "is_thread_op", "want"), [
    ("auto", "paddle", "m", True, "process"),
    ("auto", "onnxruntime", "m", False, "thread"),
    ("auto", "openvino", "m", False, "thread"),
    ("auto", "paddle", None, False, "thread"),  # no model: nothing holds the GIL
    ("dag", "paddle", "m", True, "thread"),
    ("dag", "onnxruntime", "m", False, "process"),
    ("thread", "paddle", "m", False, "thread"),
    ("process", "onnxruntime", "m", True, "process"),
])
def test_worker_kind(kind, backend, model, is_thread_op, want):
    assert worker_kind(_op(kind, backend, model), is_thread_op) == want


def test_worker_kind_default_keeps_paddle_servings_rule_and_bad_values_are_named():
    conf = op_config("cls", None, "config.yml")
    assert conf["worker_kind"] == "dag"
    with pytest.raises(PipelineConfigError) as err:
        op_config("cls", {"worker_kind": "processes"}, "config.yml")
    assert "op.cls.worker_kind" in str(err.value) and "process" in str(err.value)


def _batch_in_thread(q, expect_more, batch_size=4, wait_s=60.0):
    out: list = []
    t = threading.Thread(target=lambda: out.append(
        next_batch(q, batch_size, wait_s, expect_more=expect_more)), daemon=True)
    t.start()
    return t, out


def test_a_lone_request_never_waits_for_a_batch():
    q: queue.Queue = queue.Queue()
    q.put("a")
    t, out = _batch_in_thread(q, InFlight(lambda: 1).expect_more)
    t.join(30)  # a 60 s batching wait would still be running
    assert not t.is_alive() and out == [(["a"], False)]


def test_requests_in_flight_are_waited_for_until_they_arrive():
    q: queue.Queue = queue.Queue()
    q.put("a")
    in_flight = [3]
    t, out = _batch_in_thread(q, InFlight(lambda: in_flight[0]).expect_more, batch_size=3)
    q.put("b")
    t.join(0.3)
    assert t.is_alive()  # "c" is still on its way: keep gathering
    q.put("c")
    t.join(30)
    assert out == [(["a", "b", "c"], False)]


def test_requests_running_elsewhere_are_not_waited_for():
    q: queue.Queue = queue.Queue()
    q.put("a")
    inflight = InFlight(lambda: 3)
    inflight.add(2)  # two requests are in another worker's batch
    t, out = _batch_in_thread(q, inflight.expect_more)
    t.join(30)
    assert not t.is_alive() and out == [(["a"], False)]
    inflight.add(-2)
    assert inflight.expect_more(1)


def test_groups_are_split_to_the_rows_the_model_takes():
    import numpy as np

    from generator.runtime.pipeline.batching import within_rows

    feeds = {i: {"x": np.zeros((rows, 3))} for i, rows in enumerate([1, 1, 2, 1, 3, 1])}
    assert within_rows([[0, 1, 2, 3, 4, 5]], feeds, None) == [[0, 1, 2, 3, 4, 5]]
    assert within_rows([[0, 1, 3, 5], [2]], feeds, 1) == [[0], [1], [3], [5], [2]]
    # at most 3 rows a run; a request of 3 rows alone
    assert within_rows([[0, 1, 2, 3, 4, 5]], feeds, 3) == [[0, 1], [2, 3], [4], [5]]
    assert within_rows([[4]], feeds, 2) == [[4]]  # too many rows alone: the model says so
