"""The benchmark helpers of `paddle_serving_client.utils`, which the Paddle Serving example
clients import: `benchmark_args`, `show_latency` and `MultiThreadRunner`."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from multiprocessing import Pool
from typing import Any

import numpy as np

__all__ = ["MultiThreadRunner", "benchmark_args", "show_latency"]


def benchmark_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse `--thread --model --endpoint --request --batch_size` (Paddle Serving's defaults)."""
    parser = argparse.ArgumentParser("benchmark")
    parser.add_argument("--thread", type=int, default=10, help="concurrency")
    parser.add_argument("--model", type=str, default="", help="model for evaluation")
    parser.add_argument("--endpoint", type=str, default="127.0.0.1:9292", help="endpoint of server")
    parser.add_argument("--request", type=str, default="rpc", help="mode of service")
    parser.add_argument("--batch_size", type=int, default=1, help="batch size")
    return parser.parse_args(argv)


def show_latency(latency_list: Sequence[float]) -> None:
    """Write mean, median and the 80/90/99th percentiles (ms) to stderr."""
    values = np.asarray(latency_list, dtype=float)
    lines = ["latency:", f"mean: {np.mean(values)}ms", f"median: {np.median(values)}ms"]
    lines += [f"{p}_percent: {np.percentile(values, p)}ms" for p in (80, 90, 99)]
    sys.stderr.write("\n".join(lines) + "\n")


class MultiThreadRunner:
    """Run `thread_func(i, resource)` in `thread_num` processes and merge the returned lists."""

    def run(self, thread_func: Callable[[int, Any], list], thread_num: int,
            global_resource: Any) -> list:
        """Call `thread_func(1..thread_num, global_resource)` in a process pool; element `k` of
        the result is the concatenation of element `k` of every call's result."""
        os.environ["http_proxy"] = ""
        os.environ["https_proxy"] = ""
        with Pool(thread_num) as pool:
            pending = [pool.apply_async(thread_func, [i + 1, global_resource])
                       for i in range(thread_num)]
            results = [p.get() for p in pending]
        merged = results[0]
        for extra in results[1:]:
            for k, item in enumerate(extra):
                merged[k].extend(item)
        return merged
