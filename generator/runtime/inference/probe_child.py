"""The child side of the backend probe: `python -m generator.runtime.inference.probe_child` reads one
JSON request on stdin, builds (and times) the predictors it names and prints one marker line
per result. The parent side is `probe`; this module is never imported by it.

Interleaved timing (`probe.measure_backends(rounds=N)`): every candidate is built and run once
(its outputs saved), then timed round by round, candidate after candidate, so that load on a
shared machine falls on all of them alike; each round runs a candidate `runs` times and at
least `min_seconds / rounds` seconds, and the round's figure is the median of its calls."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
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


def _error_text(exc: Exception) -> str:
    return str(exc).splitlines()[0][:600] + _said(str(exc))


def measure_interleaved(candidates: list[dict[str, Any]], feed: dict[str, np.ndarray],
                        request: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Yield, in order: per candidate an error item or a `{"stage": "ready"}` marker (built
    and run once), then per built candidate its result item (times, per-round medians,
    outputs file)."""
    built: dict[int, Any] = {}
    paths: dict[int, str] = {}
    for cand in candidates:
        index = int(cand["index"])
        try:
            predictor = LocalPredictor(cand["model_dir"], **cand["options"])
            outputs = predictor.predict(feed)
        except PredictorError as exc:
            yield {"index": index, "error": _error_text(exc)}
            continue
        path = Path(request["out_dir"]) / f"outputs_{index}.npz"
        np.savez(path, **outputs)
        built[index], paths[index] = predictor, str(path)
        yield {"index": index, "stage": "ready"}
    rounds = max(1, int(request.get("rounds", 1)))
    runs = max(1, int(request["runs"]))
    per_round = float(request.get("min_seconds", 0.0)) / rounds
    times: dict[int, list[float]] = {i: [] for i in built}
    medians: dict[int, list[float]] = {i: [] for i in built}
    failed: dict[int, str] = {}
    for _ in range(rounds):
        for index, predictor in built.items():
            if index in failed:
                continue
            calls: list[float] = []
            start = time.perf_counter()
            try:
                while len(calls) < runs or time.perf_counter() - start < per_round:
                    t0 = time.perf_counter()
                    predictor.predict(feed)
                    calls.append(time.perf_counter() - t0)
            except PredictorError as exc:
                failed[index] = _error_text(exc)
                continue
            times[index] += calls
            medians[index].append(float(np.median(calls)))
    for index, predictor in built.items():
        if index in failed:
            yield {"index": index, "error": failed[index]}
            continue
        yield {"index": index, "backend": predictor.backend, "times_s": times[index],
               "rounds_s": medians[index], "outputs": paths[index]}


def main() -> int:
    """Child entry point: one JSON request on stdin, one marker line on stdout."""
    request = json.loads(sys.stdin.read())
    if "candidates" not in request:
        print(RESULT_MARKER + json.dumps(_serve_request(request)), flush=True)
        return 0
    with np.load(request["feed"]) as data:
        feed = {k: data[k] for k in data.files}
    if int(request.get("rounds", 1)) > 1:
        for item in measure_interleaved(request["candidates"], feed, request):
            print(RESULT_MARKER + json.dumps(item), flush=True)
        return 0
    for candidate in request["candidates"]:
        print(RESULT_MARKER + json.dumps(_measure(candidate, feed, request)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
