"""Padding and batching of token-id sequences, as `paddle_serving_app.reader.batching`.

Sequences are padded (never truncated) to `max_seq_len`; token and position ids come back as
int64 arrays of shape (batch, max_seq_len, 1), the input mask as (batch, max_seq_len, 1) ints.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["pad_batch_data", "prepare_batch_data"]


def _padded(rows: Sequence[Sequence[int]], width: int, fill: int) -> np.ndarray:
    return np.array([list(row) + [fill] * (width - len(row)) for row in rows])


def pad_batch_data(insts: Sequence[Sequence[int]], pad_idx: int = 0, max_seq_len: int = 128,
                   return_pos: bool = False, return_input_mask: bool = False,
                   return_max_len: bool = False, return_num_token: bool = False,
                   return_seq_lens: bool = False) -> Any:
    """Pad each sequence of `insts` to `max_seq_len` with `pad_idx`.

    Returns the padded ids alone, or a list of it followed, in this order, by the positions
    (padded with `pad_idx`), the 1/0 input mask, `max_seq_len`, the total token count and
    the sequence lengths (int64, shape (batch, 1)) for each `return_*` flag set.
    """
    width = max_seq_len
    out: list[Any] = [_padded(insts, width, pad_idx).astype("int64").reshape([-1, width, 1])]
    if return_pos:
        positions = [list(range(len(row))) for row in insts]
        out.append(_padded(positions, width, pad_idx).astype("int64").reshape([-1, width, 1]))
    if return_input_mask:
        mask = _padded([[1] * len(row) for row in insts], width, 0)
        out.append(np.expand_dims(mask, axis=-1))
    if return_max_len:
        out.append(width)
    if return_num_token:
        out.append(sum(len(row) for row in insts))
    if return_seq_lens:
        out.append(np.array([len(row) for row in insts]).astype("int64").reshape([-1, 1]))
    return out if len(out) > 1 else out[0]


def prepare_batch_data(insts: Sequence[Sequence[Any]], total_token_num: int,
                       max_seq_len: int = 128, pad_id: int | None = None,
                       cls_id: int | None = None, sep_id: int | None = None,
                       mask_id: int | None = None, return_input_mask: bool = True,
                       return_max_len: bool = True, return_num_token: bool = False) -> Any:
    """`insts` of (token ids, sentence ids, position ids, labels...) -> [token ids, position
    ids, sentence ids, input mask, labels...], each padded to `max_seq_len` with `pad_id`;
    labels as int64 (batch, 1). The unused arguments are kept for signature compatibility."""
    src, mask = pad_batch_data([inst[0] for inst in insts], pad_idx=pad_id, max_seq_len=max_seq_len,
                               return_input_mask=True)
    pos = pad_batch_data([inst[2] for inst in insts], pad_idx=pad_id, max_seq_len=max_seq_len)
    sent = pad_batch_data([inst[1] for inst in insts], pad_idx=pad_id, max_seq_len=max_seq_len)
    labels = [np.array([inst[i] for inst in insts]).astype("int64").reshape([-1, 1])
              for i in range(3, len(insts[0]))]
    return [src, pos, sent, mask, *labels]
