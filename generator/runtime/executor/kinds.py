"""How an Op's copies (model instances) run: threads or processes (`op.*.worker_kind`).

Threads share one interpreter: they overlap only while inference releases the GIL (ONNX
Runtime, OpenVINO). Paddle Inference holds the GIL for the whole `run`, so several Paddle
instances — and the decoding and preprocessing of the next requests — only run side by side
in processes. `auto` picks by the configured backend (`RELEASES_GIL`); `dag` keeps Paddle
Serving's rule (`dag.is_thread_op` for every Op).

Process pools start (fork) before any thread Op builds its predictor (`DagExecutor.start`); a
process worker restarted after a crash forks the server as it is then, thread Ops' predictors
included (copy-on-write, unused in the child).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from generator.runtime.inference.backends.base import RELEASES_GIL

Kind = Literal["thread", "process"]


def worker_kind(op_conf: Mapping[str, Any], is_thread_op: bool) -> Kind:
    """"thread" or "process" for one Op, from its validated config and `dag.is_thread_op`."""
    kind = op_conf["worker_kind"]
    if kind in ("thread", "process"):
        return kind
    if kind == "auto":
        local = op_conf["local_service_conf"]
        if local["model_config"] is not None and not RELEASES_GIL[local["backend"]]:
            return "process"
        return "thread"
    return "thread" if is_thread_op else "process"
