"""Compare served results with reference results: raw tensors with allclose, detections box by
box (one-to-one, IoU, class, score)."""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class Check:
    """One row of the verify table."""

    name: str
    ok: bool
    max_abs: float = 0.0
    max_rel: float = 0.0
    note: str = ""
    skipped: bool = False  # not run; `note` says why (never counts as a pass)


@dataclass
class Tolerance:
    rtol: float = 1e-3
    atol: float = 1e-6
    iou: float = 0.99
    score_atol: float = 1e-4


def _diffs(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    if a.size == 0:
        return 0.0, 0.0
    diff = np.abs(a.astype(np.float64) - b.astype(np.float64))
    rel = diff / np.maximum(np.abs(b.astype(np.float64)), 1e-12)
    return float(diff.max()), float(rel.max())


def compare_arrays(name: str, got: Any, want: Any, tol: Tolerance) -> Check:
    """allclose(got, want, rtol, atol) with the max absolute and relative differences."""
    a, b = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    if a.shape != b.shape:
        return Check(name, False, note=f"shape {list(a.shape)} != expected {list(b.shape)}")
    max_abs, max_rel = _diffs(a, b)
    ok = bool(np.allclose(a, b, rtol=tol.rtol, atol=tol.atol))
    return Check(name, ok, max_abs, max_rel)


def iou(a: list[float], b: list[float]) -> float:
    """Intersection over union of two [x1, y1, x2, y2] boxes."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else float(a == b)


def compare_detections(name: str, got: list[dict], want: list[dict], tol: Tolerance) -> Check:
    """Every expected box matched one-to-one by a served box of the same class with
    IoU >= tol.iou and |score diff| <= tol.score_atol (greedy by score)."""
    if len(got) != len(want):
        return Check(name, False, note=f"{len(got)} boxes served, {len(want)} expected")
    if not want:
        return Check(name, False, note="nothing to compare: 0 boxes served and expected")
    free = list(range(len(got)))
    worst_iou, max_score = 1.0, 0.0
    for w in sorted(want, key=lambda d: -d["score"]):
        best, best_iou = None, -1.0
        for j in free:
            g = got[j]
            if g["category_id"] != w["category_id"]:
                continue
            if abs(g["score"] - w["score"]) > tol.score_atol:
                continue
            v = iou(g["bbox"], w["bbox"])
            if v > best_iou:
                best, best_iou = j, v
        if best is None or best_iou < tol.iou:
            return Check(name, False, note=(
                f"no served box matches expected {w['label']!r} score {w['score']:.4f} "
                f"bbox {[round(v, 1) for v in w['bbox']]} (best IoU {max(best_iou, 0):.3f})"))
        free.remove(best)
        worst_iou = min(worst_iou, best_iou)
        max_score = max(max_score, abs(got[best]["score"] - w["score"]))
    return Check(name, True, max_abs=max_score, note=f"{len(want)} boxes, min IoU {worst_iou:.4f}")


def _png_array(b64: str) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(base64.b64decode(b64))))


def compare_result(name: str, task: str, got: Any, want: Any, tol: Tolerance) -> Check:
    """Compare one image's served result with the reference, by task."""
    if task == "detection":
        return compare_detections(name, got, want, tol)
    if task == "classification":
        ids_ok = [g["category_id"] for g in got] == [w["category_id"] for w in want]
        check = compare_arrays(name, [g["score"] for g in got], [w["score"] for w in want], tol)
        if not ids_ok:
            return Check(name, False, check.max_abs, check.max_rel,
                         note=f"top classes {[g['category_id'] for g in got]} != expected "
                              f"{[w['category_id'] for w in want]}")
        return check
    if task == "segmentation":
        a, b = _png_array(got["label_map"]), _png_array(want["label_map"])
        if a.shape != b.shape:
            return Check(name, False, note=f"label map {a.shape} != expected {b.shape}")
        mismatch = float((a != b).mean())
        return Check(name, mismatch == 0.0, max_abs=float(np.abs(a.astype(int) - b).max()),
                     note=f"{mismatch:.2%} pixels differ")
    if task in _OCR_COMPARE:
        return _OCR_COMPARE[task](name, got, want, tol)
    return compare_arrays(name, got, want, tol)


def compare_text_regions(name: str, got: list[dict], want: list[dict], tol: Tolerance) -> Check:
    """Text detection: the same regions in the same order, polygons and scores allclose."""
    if len(got) != len(want):
        return Check(name, False, note=f"{len(got)} text regions served, {len(want)} expected")
    check = compare_arrays(name, [c for g in got for p in g["poly"] for c in p],
                           [c for w in want for p in w["poly"] for c in p], tol)
    scores = compare_arrays(name, [g["score"] for g in got], [w["score"] for w in want], tol)
    return Check(name, check.ok and scores.ok, max(check.max_abs, scores.max_abs),
                 max(check.max_rel, scores.max_rel), note=f"{len(want)} text regions")


def _compare_labelled(key: str) -> Any:
    def compare(name: str, got: dict, want: dict, tol: Tolerance) -> Check:
        """The same text / label, and the score allclose."""
        check = compare_arrays(name, [got["score"]], [want["score"]], tol)
        if got[key] != want[key]:
            return Check(name, False, check.max_abs, check.max_rel,
                         note=f"{key} {got[key]!r} != expected {want[key]!r}")
        return check
    return compare


_OCR_COMPARE = {"text_detection": compare_text_regions,
                "text_recognition": _compare_labelled("text"),
                "textline_orientation": _compare_labelled("label")}


@dataclass
class Report:
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """At least one check ran, and every check that ran passed."""
        ran = [c for c in self.checks if not c.skipped]
        return bool(ran) and all(c.ok for c in ran)

    def table(self) -> str:
        rows = [("check", "max_abs_diff", "max_rel_diff", "result", "note")]
        rows += [(c.name, "-" if c.skipped else f"{c.max_abs:.3g}",
                  "-" if c.skipped else f"{c.max_rel:.3g}",
                  "SKIP" if c.skipped else "pass" if c.ok else "FAIL", c.note)
                 for c in self.checks]
        widths = [max(len(r[i]) for r in rows) for i in range(4)]
        return "\n".join("  ".join(r[i].ljust(widths[i]) for i in range(4)) + "  " + r[4]
                         for r in rows)
