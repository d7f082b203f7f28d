"""The child side of the backend probe: `python -m generator.runtime.inference.probe_child` reads one
JSON request on stdin, builds (and times) the predictors it names and prints one marker line
per result. The parent side is `probe`; this module is never imported by it."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from generator.runtime.errors import PredictorError
from generator.runtime.inference.predictor import LocalPredictor
from generator.runtime.inference.probe import RESULT_MARKER


def _serve_request(request: dict[str, Any]) -> dict[str, Any]:
    """Start-up probe: build and warm up; a failure the reference shares is not the backend's."""
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


def _measure(candidate: dict[str, Any], feed: dict[str, np.ndarray], request: dict[str, Any]
             ) -> dict[str, Any]:
    index = candidate["index"]
    try:
        predictor = LocalPredictor(candidate["model_dir"], **candidate["options"])
        outputs = predictor.predict(feed)
        times: list[float] = []
        start = time.perf_counter()
        while len(times) < int(request["runs"]) or \
                time.perf_counter() - start < float(request["min_seconds"]):
            t0 = time.perf_counter()
            predictor.predict(feed)
            times.append(time.perf_counter() - t0)
    except PredictorError as exc:
        return {"index": index, "error": str(exc).splitlines()[0][:600] + _said(str(exc))}
    path = Path(request["out_dir"]) / f"outputs_{index}.npz"
    np.savez(path, **outputs)
    return {"index": index, "backend": predictor.backend, "times_s": times,
            "outputs": str(path)}


def _said(message: str) -> str:
    said = [ln for ln in message.splitlines() if " said: " in ln]
    return f" ({said[0].split(' said: ', 1)[1][:400]})" if said else ""


def main() -> int:
    """Child entry point: one JSON request on stdin, one marker line on stdout."""
    request = json.loads(sys.stdin.read())
    if "candidates" not in request:
        print(RESULT_MARKER + json.dumps(_serve_request(request)), flush=True)
        return 0
    with np.load(request["feed"]) as data:
        feed = {k: data[k] for k in data.files}
    for candidate in request["candidates"]:
        print(RESULT_MARKER + json.dumps(_measure(candidate, feed, request)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
