"""Build and run a model on a backend in a child process, so that a backend which crashes the
interpreter (a SIGSEGV in a oneDNN pass, an abort in a foreign runtime) cannot take the service
or `scaffold new` down with it.

Two uses: `probe_backend` (start-up: does it build and run at all?) and `measure_backend`
(`scaffold new`, `scaffold bench --backends`: time it on given inputs and return its outputs).
The child is `python -m generator.runtime.backends.probe`, which reads one JSON request on
stdin and prints one marker line with the JSON result.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from generator.runtime.predictor import PredictorOptions

RESULT_MARKER = "@@probe-result@@ "
#: Seconds a probe may take before it counts as failed (loading + a few runs of a big model).
PROBE_TIMEOUT_S = 300.0


@dataclass
class ProbeResult:
    """What a child process reported: `failure` is "" when the backend built and ran."""

    failure: str = ""
    #: seconds of each timed run (measure_backend only)
    times_s: list[float] = field(default_factory=list)
    #: the outputs of the first run, by fetch alias (measure_backend only)
    outputs: dict[str, np.ndarray] = field(default_factory=dict)
    #: the backend that actually ran (after the child's own fallback rules: none)
    backend: str = ""

    @property
    def ok(self) -> bool:
        return not self.failure

    @property
    def median_s(self) -> float:
        return float(np.median(self.times_s)) if self.times_s else float("nan")


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


def _run_child(request: dict[str, Any], timeout_s: float) -> dict[str, Any] | str:
    env = dict(os.environ)
    env.setdefault("GLOG_minloglevel", "2")
    try:
        proc = subprocess.run([sys.executable, "-m", "generator.runtime.backends.probe"],
                              input=json.dumps(request), capture_output=True, text=True,
                              timeout=timeout_s, env=env, check=False)
    except subprocess.TimeoutExpired:
        return f"the probe process did not finish within {timeout_s:.0f} s"
    for line in proc.stdout.splitlines():
        if line.startswith(RESULT_MARKER):
            return json.loads(line[len(RESULT_MARKER):])
    return _describe_exit(proc.returncode, proc.stderr)


def probe_backend(model_dir: str | Path, options: PredictorOptions,
                  timeout_s: float = PROBE_TIMEOUT_S) -> ProbeResult:
    """Load the model with `options` in a child process and run one warm-up inference."""
    got = _run_child({"model_dir": str(model_dir), "options": _options_json(options)},
                     timeout_s)
    if isinstance(got, str):
        return ProbeResult(failure=got)
    return ProbeResult(failure=got.get("error", ""), backend=got.get("backend", ""))


def measure_backend(model_dir: str | Path, options: PredictorOptions,
                    feed: dict[str, np.ndarray], *, runs: int = 5, min_seconds: float = 0.0,
                    timeout_s: float = PROBE_TIMEOUT_S) -> ProbeResult:
    """Time `runs` inferences of `feed` (after one untimed run; more runs until
    `min_seconds` have passed) in a child process; return the times and the outputs."""
    with tempfile.TemporaryDirectory(prefix="scaffold-probe-") as tmp:
        feed_path = Path(tmp) / "feed.npz"
        out_path = Path(tmp) / "outputs.npz"
        np.savez(feed_path, **feed)
        got = _run_child({"model_dir": str(model_dir), "options": _options_json(options),
                          "feed": str(feed_path), "outputs": str(out_path), "runs": runs,
                          "min_seconds": min_seconds}, timeout_s)
        if isinstance(got, str):
            return ProbeResult(failure=got)
        if got.get("error"):
            return ProbeResult(failure=got["error"], backend=got.get("backend", ""))
        with np.load(out_path) as data:
            outputs = {k: data[k] for k in data.files}
    return ProbeResult(times_s=list(got["times_s"]), outputs=outputs,
                       backend=got.get("backend", ""))


def _serve_request(request: dict[str, Any]) -> dict[str, Any]:
    from generator.runtime.errors import PredictorError
    from generator.runtime.predictor import LocalPredictor

    if "feed" not in request:
        try:
            predictor = LocalPredictor(request["model_dir"], **request["options"])
            predictor.warmup()
            return {"backend": predictor.backend}
        except PredictorError as exc:
            error = str(exc)
        try:  # the same with Paddle, oneDNN off: if that fails too, the backend is not at fault
            reference = {**request["options"], "backend": "paddle", "use_mkldnn": False}
            LocalPredictor(request["model_dir"], **reference).warmup()
        except PredictorError:
            return {"backend": request["options"]["backend"], "reference_fails_too": True}
        return {"error": error.splitlines()[0][:600] + _said(error)}
    try:
        predictor = LocalPredictor(request["model_dir"], **request["options"])
        with np.load(request["feed"]) as data:
            feed = {k: data[k] for k in data.files}
        outputs = predictor.predict(feed)
        times: list[float] = []
        start = time.perf_counter()
        while len(times) < int(request["runs"]) or \
                time.perf_counter() - start < float(request["min_seconds"]):
            t0 = time.perf_counter()
            predictor.predict(feed)
            times.append(time.perf_counter() - t0)
        np.savez(request["outputs"], **outputs)
        return {"backend": predictor.backend, "times_s": times}
    except PredictorError as exc:
        return {"error": str(exc).splitlines()[0][:600] + _said(str(exc))}


def _said(message: str) -> str:
    said = [ln for ln in message.splitlines() if " said: " in ln]
    return f" ({said[0].split(' said: ', 1)[1][:400]})" if said else ""


def main() -> int:
    """Child entry point: one JSON request on stdin, one marker line on stdout."""
    request = json.loads(sys.stdin.read())
    print(RESULT_MARKER + json.dumps(_serve_request(request)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
