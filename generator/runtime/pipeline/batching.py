"""Auto-batching: merge the feeds of concurrent requests into one inference and split the
outputs back.

Paddle Serving sliced every non-LoD output to the request's row range, which cut detection
outputs (`bbox` [N, 6] with N boxes for a batch of 1) to the first rows (its §10.10 bug). Here an
output is split by, in order: its `<name>.lod` offsets; a per-image count output (`bbox_num`:
1-D integers, one per row, summing to the output's length); the batch rows when the first
dimension equals the batch size. An output that fits none of these is an error, never a silent cut.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

_COUNT_NAME = re.compile(r"(num|count|lod|nms3?_\d+\.tmp_2)", re.IGNORECASE)


class BatchSplitError(ValueError):
    """A batched output cannot be split back per request."""


def rows_of(feed: Mapping[str, Any]) -> int:
    """Rows a request contributes: the length of its first array value (1 for scalars)."""
    for value in feed.values():
        if isinstance(value, (np.ndarray, list)):
            return len(value)
        return 1
    return 1


def merge_signature(feed: Mapping[str, Any]) -> tuple | None:
    """Requests with equal signatures can be concatenated; None means never merge.

    Feeds carrying LoD or non-array values keep Paddle Serving's single-request path.
    """
    parts = []
    for key, value in feed.items():
        if not isinstance(value, np.ndarray) or key.endswith(".lod") or value.ndim == 0:
            return None
        parts.append((key, value.shape[1:], value.dtype.str))
    return tuple(parts)


def within_rows(groups: Sequence[list[int]], feeds: Mapping[int, Mapping[str, Any]],
                limit: int | None) -> list[list[int]]:
    """`groups` of request indices split so that no group's merged feed has more than `limit`
    rows (a request that alone has more stays alone: the model reports it)."""
    if not limit:
        return list(groups)
    out: list[list[int]] = []
    for group in groups:
        if len(group) == 1:
            out.append(group)
            continue
        current: list[int] = []
        rows = 0
        for i in group:
            n = rows_of(feeds[i])
            if current and rows + n > limit:
                out.append(current)
                current, rows = [], 0
            current.append(i)
            rows += n
        if current:
            out.append(current)
    return out


def merge_feeds(feeds: Sequence[Mapping[str, Any]]) -> tuple[dict[str, Any], list[int]]:
    """Concatenate the feeds of several requests along axis 0.

    Returns the merged feed and the number of rows each request contributed.
    """
    rows = [rows_of(f) for f in feeds]
    if len(feeds) == 1:
        return dict(feeds[0]), rows
    merged = {key: np.concatenate([f[key] for f in feeds], axis=0) for key in feeds[0]}
    return merged, rows


def _is_count_output(value: np.ndarray, n_rows: int) -> bool:
    return (
        isinstance(value, np.ndarray)
        and value.ndim == 1
        and len(value) == n_rows
        and np.issubdtype(value.dtype, np.integer)
        and bool((value >= 0).all())
    )


def _count_pairs(output: Mapping[str, Any], n_rows: int,
                 explicit: Mapping[str, str]) -> dict[str, str]:
    """Map output name -> the count output that splits it."""
    pairs = {k: v for k, v in explicit.items() if k in output and v in output}
    counts = [k for k, v in output.items() if _is_count_output(v, n_rows)]
    for name, value in output.items():
        if name in pairs or name.endswith(".lod") or not isinstance(value, np.ndarray):
            continue
        if value.ndim == 0 or name in counts:
            continue
        for count in counts:
            total = int(output[count].sum())
            if total != len(value):
                continue
            # A length that also equals the batch is ambiguous; trust only count-like names.
            if len(value) != n_rows or _COUNT_NAME.search(count):
                pairs[name] = count
                break
    return pairs


def split_outputs(output: Mapping[str, Any], rows: Sequence[int],
                  explicit_counts: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    """Split one batched inference output back into per-request dicts (see module doc)."""
    if len(rows) == 1:
        return [dict(output)]
    n_rows = int(sum(rows))
    bounds = np.concatenate([[0], np.cumsum(rows)]).astype(np.int64)
    pairs = _count_pairs(output, n_rows, explicit_counts or {})
    results: list[dict[str, Any]] = [{} for _ in rows]
    for name, value in output.items():
        if name.endswith(".lod") and name[: -len(".lod")] in output:
            continue
        lod = output.get(f"{name}.lod")
        if lod is not None:
            offsets = np.asarray(lod).reshape(-1)
            for i, res in enumerate(results):
                lo, hi = offsets[bounds[i]], offsets[bounds[i + 1]]
                res[name] = value[lo:hi]
                res[f"{name}.lod"] = (offsets[bounds[i]: bounds[i + 1] + 1] - lo).astype(np.int32)
        elif name in pairs:
            per_row = np.asarray(output[pairs[name]]).astype(np.int64)
            item_bounds = np.concatenate([[0], np.cumsum(per_row)])[bounds]
            for i, res in enumerate(results):
                res[name] = value[item_bounds[i]: item_bounds[i + 1]]
        elif isinstance(value, np.ndarray) and value.ndim > 0 and len(value) == n_rows:
            for i, res in enumerate(results):
                res[name] = value[bounds[i]: bounds[i + 1]]
        else:
            shape = getattr(value, "shape", None)
            raise BatchSplitError(
                f"cannot split output '{name}' (shape {shape}) of a batch of {len(rows)} "
                f"requests ({n_rows} rows): its first dimension is not the batch size and no "
                "LoD or per-row count output describes it; set the Op's batch_size to 1 or "
                "set `batch_split_counts = {output: count_output}` on the Op"
            )
    return results
