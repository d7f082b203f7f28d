"""Do two backends give the same model outputs? Raw outputs of one inference, compared with
tolerances for *different kernels* (not the bit-equality of `scaffold verify`'s same-backend
checks): detections are matched row by row, other outputs compared with allclose.

Detections (`[N, 6]` rows `[class, score, x1, y1, x2, y2]` with per-image counts): counts must
be equal and each reference row matched, in its image, by a row of the same class whose
coordinates are within `box_rtol` (floor `px_floor` pixels) and score within `score_rtol`.
A reference row may stay unmatched only at a cutoff (its score within `score_rtol` of the
image's lowest kept score), where near-tied candidates legitimately swap; the row that took its
place must be at the cutoff too. Paddle's own
oneDNN-off PIR and legacy programs differ by that much (../shared reference: 99/100 rows).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ParityTolerance:
    rtol: float = 1e-3
    #: allclose atol as a fraction of the reference output's largest magnitude
    atol_of_max: float = 1e-4
    box_rtol: float = 1e-3
    px_floor: float = 1.0
    score_rtol: float = 2e-3
    #: share of integer elements (label maps, class ids) allowed to differ
    int_mismatch: float = 1e-3


@dataclass
class OutputParity:
    """The comparison of one output (or one detection pair)."""

    name: str
    ok: bool
    detail: str


def _detection_pairs(want: dict[str, np.ndarray]) -> list[tuple[str, str]]:
    """(rows, counts) output pairs: float [N, 6] rows with an int [B] count summing to N."""
    pairs = []
    for rows_name, rows in want.items():
        if rows.ndim != 2 or rows.shape[1] != 6 or rows.dtype.kind != "f":
            continue
        for num_name, num in want.items():
            if num.ndim == 1 and num.dtype.kind in "iu" and int(num.sum()) == rows.shape[0]:
                pairs.append((rows_name, num_name))
                break
    return pairs


def _match_image(got: np.ndarray, want: np.ndarray, tol: ParityTolerance) -> tuple[int, str]:
    """Unmatched reference rows of one image that are not at the cutoff (0: fine)."""
    free = list(range(len(got)))
    cutoff = float(want[:, 1].min()) if len(want) else 0.0
    bad = 0
    note = ""
    for w in want[np.argsort(-want[:, 1], kind="stable")]:
        found = None
        for j in free:
            g = got[j]
            if g[0] != w[0] or abs(g[1] - w[1]) > tol.score_rtol * max(abs(w[1]), 1e-6):
                continue
            limit = np.maximum(tol.box_rtol * np.abs(w[2:]), tol.px_floor)
            if np.all(np.abs(g[2:] - w[2:]) <= limit):
                found = j
                break
        if found is not None:
            free.remove(found)
        elif abs(w[1] - cutoff) > tol.score_rtol * max(abs(cutoff), 1e-6):
            bad += 1
            note = note or (f"class {int(w[0])} score {w[1]:.4f} box "
                            f"{[round(float(v), 1) for v in w[2:]]} unmatched")
    for j in free:  # a row standing in for an unmatched one must be at the cutoff too
        if got[j][1] > cutoff and abs(got[j][1] - cutoff) > tol.score_rtol * max(cutoff, 1e-6):
            bad += 1
            note = note or f"extra class {int(got[j][0])} score {got[j][1]:.4f}"
    return bad, note


def _compare_detections(rows_name: str, num_name: str, got: dict[str, np.ndarray],
                        want: dict[str, np.ndarray], tol: ParityTolerance) -> OutputParity:
    name = f"{rows_name}+{num_name}"
    g_num, w_num = got[num_name].astype(int), want[num_name].astype(int)
    if g_num.tolist() != w_num.tolist():
        return OutputParity(name, False, f"boxes per image {g_num.tolist()} != reference "
                                         f"{w_num.tolist()}")
    g_rows, w_rows = got[rows_name].astype(np.float64), want[rows_name].astype(np.float64)
    offsets = np.concatenate([[0], np.cumsum(w_num)])
    bad, notes = 0, []
    for i in range(len(w_num)):
        a, b = offsets[i], offsets[i + 1]
        n_bad, note = _match_image(g_rows[a:b], w_rows[a:b], tol)
        bad += n_bad
        if note:
            notes.append(f"image {i}: {note}")
    total = int(w_num.sum())
    if bad:
        return OutputParity(name, False, f"{bad} of {total} boxes unmatched; " + notes[0])
    return OutputParity(name, True, f"{total} boxes matched")


def _compare_array(name: str, got: np.ndarray, want: np.ndarray,
                   tol: ParityTolerance) -> OutputParity:
    if got.shape != want.shape:
        return OutputParity(name, False, f"shape {list(got.shape)} != reference "
                                         f"{list(want.shape)}")
    if want.size == 0:
        return OutputParity(name, True, "empty")
    if want.dtype.kind in "iub":
        share = float((got != want).mean())
        return OutputParity(name, share <= tol.int_mismatch, f"{share:.3%} elements differ")
    g, w = got.astype(np.float64), want.astype(np.float64)
    scale = float(np.abs(w).max())
    atol = tol.atol_of_max * scale
    diff = np.abs(g - w)
    ok = bool(np.all(diff <= atol + tol.rtol * np.abs(w)))
    return OutputParity(name, ok, f"max abs diff {float(diff.max()):.3g} "
                                  f"({float(diff.max()) / max(scale, 1e-30):.2g} of max)")


def compare_outputs(got: dict[str, np.ndarray], want: dict[str, np.ndarray],
                    tol: ParityTolerance | None = None) -> list[OutputParity]:
    """Compare every reference output (by fetch name) with `got`; missing outputs fail."""
    tol = tol or ParityTolerance()
    checks: list[OutputParity] = []
    done: set[str] = set()
    for rows_name, num_name in _detection_pairs(want):
        if rows_name in got and num_name in got:
            checks.append(_compare_detections(rows_name, num_name, got, want, tol))
            done |= {rows_name, num_name}
    for name, ref in want.items():
        if name in done or name.endswith(".lod"):
            continue
        if name not in got:
            checks.append(OutputParity(name, False, "missing"))
            continue
        checks.append(_compare_array(name, np.asarray(got[name]), np.asarray(ref), tol))
    return checks


def outputs_equivalent(got: dict[str, np.ndarray], want: dict[str, np.ndarray],
                       tol: ParityTolerance | None = None) -> tuple[bool, str]:
    """(all outputs equivalent?, one-line summary naming the first difference)."""
    checks = compare_outputs(got, want, tol)
    failed = [c for c in checks if not c.ok]
    if failed:
        return False, "; ".join(f"{c.name}: {c.detail}" for c in failed)
    return True, "; ".join(f"{c.name}: {c.detail}" for c in checks)
