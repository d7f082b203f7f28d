"""`paddle_serving_client.utils` helpers the Paddle Serving benchmark clients import."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from generator.runtime.compat.client_utils import benchmark_args, show_latency

REPO_ROOT = Path(__file__).resolve().parents[2]


def _work(idx: int, resource: dict) -> list[list]:
    return [[idx * resource["k"]], [f"t{idx}"]]


def test_multi_thread_runner_merges_each_result_list():
    # In a fresh interpreter, as the benchmark clients run it: its process pool forks, and a
    # fork of this test process (Paddle, gRPC and server threads alive) can deadlock at exit.
    code = ("from generator.runtime.compat.client_utils import MultiThreadRunner\n"
            "from tests.runtime.test_client_utils import _work\n"
            "print(MultiThreadRunner().run(_work, 3, {'k': 10}))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300, cwd=REPO_ROOT, check=True).stdout
    assert out.strip() == str([[10, 20, 30], ["t1", "t2", "t3"]])


def test_benchmark_args_defaults_and_values():
    args = benchmark_args([])
    assert (args.thread, args.endpoint, args.request, args.batch_size, args.model) == (
        10, "127.0.0.1:9292", "rpc", 1, "")
    assert benchmark_args(["--thread", "4", "--batch_size", "8"]).thread == 4


def test_show_latency_writes_the_percentiles(capsys):
    show_latency([1.0, 2.0, 3.0, 4.0])
    err = capsys.readouterr().err
    assert err.startswith("latency:\nmean: 2.5ms\nmedian: 2.5ms\n")
    assert re.search(r"^99_percent: 3\.9699\d*ms$", err, re.MULTILINE)
