"""`scaffold verify` and `scaffold bench` on a two-stage OCR service: the reference is the
in-process OCR pipeline over the service's own stage models (`local_ocr_pipeline`: the
models of config.yml run as the service runs them, each stage's inference.yml), the same
pipeline `infer.py` runs."""

from __future__ import annotations

import sys
import time
from typing import Any

import numpy as np

from generator.quality.compare import Check, Report, Tolerance

#: largest corner difference (pixels) between a served and an in-process line
POLY_ATOL = 1.0


def compare_ocr(label: str, got: Any, want: list[dict[str, Any]], tol: Tolerance) -> Check:
    """Line by line: same count, same texts in the same order, corners within POLY_ATOL px,
    scores within `tol.score_atol`."""
    if not isinstance(got, list):
        return Check(label, False, note=f"expected a list of lines, got {type(got).__name__}")
    if len(got) != len(want):
        return Check(label, False, note=f"{len(got)} lines != expected {len(want)}")
    worst_poly = worst_score = 0.0
    for i, (g, w) in enumerate(zip(got, want, strict=True)):
        if not isinstance(g, dict) or set(g) != {"text", "score", "poly"}:
            return Check(label, False, note=f"line {i}: expected text, score, poly: {g!r}"[:300])
        if g["text"] != w["text"]:
            return Check(label, False, note=f"line {i}: text {g['text']!r} != expected "
                                            f"{w['text']!r}")
        poly = np.abs(np.asarray(g["poly"], float) - np.asarray(w["poly"], float))
        worst_poly = max(worst_poly, float(poly.max()))
        worst_score = max(worst_score, abs(float(g["score"]) - float(w["score"])))
    ok = worst_poly <= POLY_ATOL and worst_score <= tol.score_atol
    note = f"{len(want)} lines; corners within {worst_poly:.2g} px, scores within " \
           f"{worst_score:.2g}"
    return Check(label, ok, max(worst_poly, worst_score), 0.0, note)


def _pipeline(sd: Any) -> Any:
    """The in-process pipeline with the served recognition Op's settings."""
    from generator.service.ocr_pipeline_ops import local_ocr_pipeline

    op = sd.served_op()
    return local_ocr_pipeline(sd.path, rec_batch_size=op.batch_size_crops,
                              score_thresh=op.score_thresh)


def _decode(data: bytes) -> np.ndarray:
    from generator.imaging.decode import decode_bytes

    return decode_bytes(data)  # BGR, as the service decodes


def verify_ocr_service(sd: Any, options: Any) -> Report:
    """Served answers (gRPC and HTTP) vs the in-process pipeline, image by image."""
    from generator.quality.served import _say, served_checks

    report = Report()
    _say(f"reference: the in-process OCR pipeline over {sd.path}'s stage models")
    pipeline = _pipeline(sd)
    expected = {name: pipeline.predict(_decode(data)) for name, data in options.images.items()}
    report.checks.append(Check("dynamic vs exported", True, skipped=True,
                               note="skipped: an OCR service serves toolkit exports (no "
                                    "dynamic-graph model to rebuild)"))
    if not any(expected.values()):
        report.checks.append(Check("text lines", False, note=(
            "nothing to compare: no text line in any image (generated images have none); "
            "pass --images with text")))
    report.checks += served_checks(
        options, sd, sd, lambda label, name, got: compare_ocr(label, got, expected[name],
                                                              options.tolerance))
    return report


def ocr_inprocess_throughput(sd: Any, image: bytes, seconds: float,
                             progress: bool) -> dict[int, float]:
    """Images/s of the in-process OCR pipeline on `image` (decoded each time, as a request
    is), one image at a time (the pipeline batches an image's crops itself)."""
    pipeline = _pipeline(sd)
    pipeline.predict(_decode(image))  # warm-up
    n, start = 0, time.perf_counter()
    while n == 0 or time.perf_counter() - start < seconds:
        pipeline.predict(_decode(image))
        n += 1
    ips = n / (time.perf_counter() - start)
    if progress:
        print(f"  in-process OCR pipeline: {ips:.1f} images/s", file=sys.stderr)
    return {1: ips}
