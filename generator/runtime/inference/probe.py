"""Build and run a model on a backend in a child process, so that a backend which crashes the
interpreter (a SIGSEGV in a oneDNN pass, an abort in a foreign runtime) cannot take the service
or `scaffold new` down with it.

Two uses: `probe_backend` (start-up: does it build and run at all? `startup_fallback` probes once
per process and picks Paddle Inference with oneDNN off where it does not) and `measure_backends`
(`scaffold new`, `scaffold bench --backends`: time candidates on given inputs and return their
outputs).
The child is `python -m generator.runtime.inference.probe_child`, which reads one JSON request
on stdin and prints one marker line with the JSON result; this module never imports it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from generator.runtime.inference.model_files import ModelFiles
    from generator.runtime.inference.options import PredictorOptions

RESULT_MARKER = "@@probe-result@@ "
#: Seconds a probe may take before it counts as failed (loading + a few runs of a big model).
PROBE_TIMEOUT_S = 300.0
#: (model program, options) already probed in this process -> fallback reason ("" when fine).
_PROBED: dict[tuple[str, str], str] = {}
_PROBE_LOCK = threading.Lock()


@dataclass
class ProbeResult:
    """What a child process reported: `failure` is "" when the backend built and ran."""

    failure: str = ""
    #: seconds of each timed run (measure_backend only)
    times_s: list[float] = field(default_factory=list)
    #: median seconds of each interleaved round (measure_backends with rounds > 1)
    rounds_s: list[float] = field(default_factory=list)
    #: the outputs of the first run, by fetch alias (measure_backend only)
    outputs: dict[str, np.ndarray] = field(default_factory=dict)
    #: the backend that actually ran (after the child's own fallback rules: none)
    backend: str = ""

    @property
    def ok(self) -> bool:
        return not self.failure

    @property
    def median_s(self) -> float:
        """The median of the per-round medians when timed in rounds, else of the runs."""
        values = self.rounds_s or self.times_s
        return float(np.median(values)) if values else float("nan")


def _options_json(options: PredictorOptions) -> dict[str, Any]:
    data = asdict(options)
    data["startup_probe"] = False  # the child loads the backend itself
    return data


def _describe_exit(code: int, stderr: str) -> str:
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        what = f"the probe process was killed by {name}"
    else:
        what = f"the probe process exited with code {code}"
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()
             and "ccache" not in ln and "warnings.warn" not in ln]
    tail = "; ".join(lines[-3:])
    return f"{what}" + (f": {tail[-400:]}" if tail else "")


def _run_child(request: dict[str, Any], timeout_s: float, *, stream: bool = False) -> Any:
    """Run one probe child. Without `stream`: its one result dict, or a failure string.
    With `stream`: {"items": [result per candidate finished], "failure": "" or why it died}."""
    env = dict(os.environ)
    env.setdefault("GLOG_minloglevel", "2")
    failure = ""
    try:
        proc = subprocess.run([sys.executable, "-m", "generator.runtime.inference.probe_child"],
                              input=json.dumps(request), capture_output=True, text=True,
                              timeout=timeout_s, env=env, check=False)
        stdout, stderr, code = proc.stdout, proc.stderr, proc.returncode
    except subprocess.TimeoutExpired as exc:
        stdout = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        stderr, code = "", 0
        failure = f"the probe process did not finish within {timeout_s:.0f} s"
    items = [json.loads(line[len(RESULT_MARKER):]) for line in stdout.splitlines()
             if line.startswith(RESULT_MARKER)]
    if stream:  # "ready" markers: built and run once (interleaved timing follows)
        ready = [int(i["index"]) for i in items if i.get("stage") == "ready"]
        items = [i for i in items if "stage" not in i]
        done = len(items) == len(request["candidates"])
        return {"items": items, "ready": ready, "failure": "" if done else
                failure or _describe_exit(code, stderr)}
    if items:
        return items[0]
    return failure or _describe_exit(code, stderr)


def probe_backend(model_dir: str | Path, options: PredictorOptions,
                  timeout_s: float = PROBE_TIMEOUT_S) -> ProbeResult:
    """Load the model with `options` in a child process and run one warm-up inference."""
    got = _run_child({"model_dir": str(model_dir), "options": _options_json(options)},
                     timeout_s)
    if isinstance(got, str):
        return ProbeResult(failure=got)
    return ProbeResult(failure=got.get("error", ""), backend=got.get("backend", ""))


def _probe_once(files: ModelFiles, options: PredictorOptions) -> str:
    """Run the child-process probe once per (program, options) and process; returns the
    reason to fall back ("" when the backend built and ran)."""
    key = (str(files.model_file or files.model_dir), repr(options))
    with _PROBE_LOCK:
        if key not in _PROBED:
            _PROBED[key] = probe_backend(files.model_dir, options).failure
        return _PROBED[key]


def startup_fallback(model_dir: Path, files: ModelFiles,
                     options: PredictorOptions) -> tuple[PredictorOptions, str]:
    """The options a predictor is built with: where `options` ask for a backend that might crash
    the interpreter (and `startup_probe` is on), it is probed first, once per process; if the
    probe failed, Paddle Inference with oneDNN off replaces it. Returns the options and what
    replaced the configured backend, and why ("" when nothing did)."""
    if not (options.startup_probe and options.may_crash):
        return options, ""
    reason = _probe_once(files, options)
    if not reason:
        return options, ""
    asked = options.backend + (" with oneDNN" if options.use_mkldnn
                               and options.backend == "paddle" else "")
    why = (f"{model_dir}: {asked} failed in a probe process ({reason}); running "
           "Paddle Inference with oneDNN off instead")
    return replace(options, backend="paddle", use_mkldnn=False), why


def measure_backends(candidates: list[tuple[str | Path, PredictorOptions]],
                     feed: dict[str, np.ndarray], *, runs: int = 5, min_seconds: float = 0.0,
                     timeout_s: float = PROBE_TIMEOUT_S, rounds: int = 1) -> list[ProbeResult]:
    """Time each (model folder, options) candidate on `feed`: one untimed run, then `runs`
    timed runs (more until `min_seconds` have passed); return times and first-run outputs.

    The candidates run in one child process (Paddle is imported once); if the child dies, the
    candidate it was running gets the failure and a new child goes on with the rest. With
    `rounds` > 1 all candidates are built first, then timed in interleaved rounds (each round
    `runs` runs and `min_seconds / rounds` per candidate, see `probe_child`); per-round medians
    land in `rounds_s`. A child dying while timing makes the rest be timed one by one.
    """
    results: dict[int, ProbeResult] = {}
    with tempfile.TemporaryDirectory(prefix="scaffold-probe-") as tmp:
        feed_path = Path(tmp) / "feed.npz"
        np.savez(feed_path, **feed)
        while len(results) < len(candidates):
            pending = [i for i in range(len(candidates)) if i not in results]
            request = {
                "feed": str(feed_path), "out_dir": tmp, "runs": runs,
                "min_seconds": min_seconds, "rounds": rounds,
                "candidates": [{"index": i, "model_dir": str(candidates[i][0]),
                                "options": _options_json(candidates[i][1])} for i in pending],
            }
            got = _run_child(request, timeout_s * len(pending), stream=True)
            for item in got["items"]:
                i = int(item["index"])
                if item.get("error"):
                    results[i] = ProbeResult(failure=item["error"])
                    continue
                with np.load(item["outputs"]) as data:
                    outputs = {k: data[k] for k in data.files}
                results[i] = ProbeResult(times_s=list(item["times_s"]), outputs=outputs,
                                         backend=item.get("backend", ""),
                                         rounds_s=list(item.get("rounds_s", [])))
            if got["failure"]:
                unbuilt = [i for i in pending if i not in results and i not in got["ready"]]
                if unbuilt:
                    results[unbuilt[0]] = ProbeResult(failure=got["failure"])
                else:  # died while timing: time the rest one after the other
                    rounds = 1
    return [results[i] for i in range(len(candidates))]

