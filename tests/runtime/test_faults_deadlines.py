"""Request deadlines: whatever an Op does, a request ends with a response within
request_timeout_s (err_no 6000), in process mode, with thread-mode batching and inline."""

from __future__ import annotations

import signal
import time

import pytest

from tests.helpers.services import start_service, stop_service
from tests.runtime.test_faults_workers import predict, write_service


@pytest.mark.parametrize("dag,batch_size", [({"is_thread_op": False}, 1),
                                             ({"is_thread_op": True}, 2),
                                             ({"is_thread_op": True}, 1)],
                         ids=["process", "thread-batching", "thread-inline"])
def test_a_hung_op_gets_a_timeout_answer_at_the_request_deadline(tmp_path, dag, batch_size):
    op = {"concurrency": 2, **({"batch_size": batch_size} if dag["is_thread_op"] else {})}
    http = write_service(tmp_path, request_timeout_s=1, dag=dag, op={"pid": op})
    proc = start_service(["web_service.py", "config.yml"], tmp_path, http)
    try:
        started = time.monotonic()
        answer = predict(http, timeout=60, sleep="90")
        # the 1 s deadline, not the Op's 90 s
        assert 0.9 < time.monotonic() - started < 20
        assert answer["err_no"] == 6000 and "request_timeout_s" in answer["err_msg"], answer
        assert predict(http, timeout=30)["err_no"] == 0  # the other worker still serves
    finally:
        stop_service(proc, sig=signal.SIGKILL)
