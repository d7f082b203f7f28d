"""Reading order of detected text quads: top to bottom, then left to right, as PaddleX's OCR
pipeline sorts them (`SortQuadBoxes`).

Quads are sorted by the (y, x) of their first point (the detector's top-left corner); then each
quad moves left past its predecessors while they start less than `Y_TOLERANCE` pixels above or
below it and further right, so the boxes of one text line, whose tops differ by a few pixels,
read left to right.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

#: two quads whose first points differ by less than this many pixels in y are on one line
Y_TOLERANCE = 10.0


def reading_order(quads: Sequence[np.ndarray], y_tolerance: float = Y_TOLERANCE) -> list[int]:
    """The indices of `quads` ([4, 2] each) in reading order."""
    first = [np.asarray(q, dtype=np.float64).reshape(-1, 2)[0] for q in quads]
    order = sorted(range(len(first)), key=lambda i: (first[i][1], first[i][0]))
    for i in range(len(order) - 1):  # one insertion pass per position, as PaddleX does
        for j in range(i, -1, -1):
            a, b = first[order[j]], first[order[j + 1]]
            if abs(b[1] - a[1]) < y_tolerance and b[0] < a[0]:
                order[j], order[j + 1] = order[j + 1], order[j]
            else:
                break
    return order


def sort_quads(quads: Sequence[np.ndarray], y_tolerance: float = Y_TOLERANCE) -> list[np.ndarray]:
    """`quads` in reading order (see `reading_order`)."""
    return [quads[i] for i in reading_order(quads, y_tolerance)]
