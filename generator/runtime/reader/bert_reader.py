"""`ChineseBertReader`: raw text -> the four BERT feeds, as `paddle_serving_app.reader`.

    reader = ChineseBertReader({"vocab_file": "vocab.txt", "max_seq_len": 128})
    feed = reader.process("今天天气不错")
    # {"input_ids": [...], "position_ids": [...], "segment_ids": [...], "input_mask": [...]}

Same output as Paddle Serving 0.9: `[CLS]` followed by at most `max_seq_len - 2` WordPiece
tokens (no `[SEP]` is appended, as in the original), each list padded to `max_seq_len` with
the `[PAD]` id (the mask with 0) and returned as flat Python int lists. The vocabulary must
hold `[PAD]`, `[CLS]`, `[SEP]` and `[MASK]` (and `[UNK]` for words it cannot cover). Without `vocab_file` the original
downloaded Baidu's vocabulary; here that is an error asking for the file.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from generator.runtime.reader.text_batching import pad_batch_data
from generator.runtime.reader.tokenization import FullTokenizer, convert_to_unicode
from generator.runtime.reader.unavailable import ReaderNotAvailableError

__all__ = ["BertBaseReader", "ChineseBertReader", "ReaderBase"]

_VOCAB_URL = "https://paddle-serving.bj.bcebos.com/reader/chinese_bert/vocab.txt"
_SPECIAL = ("[PAD]", "[CLS]", "[SEP]", "[MASK]")


class ReaderBase:
    """Holds the feed names a reader produces."""

    def __init__(self) -> None:
        self.feed_keys: list[str] = []

    def set_feed_keys(self, keys: list[str]) -> None:
        """Rename the produced feeds."""
        self.feed_keys = keys

    def get_feed_keys(self) -> list[str]:
        """The names of the produced feeds."""
        return self.feed_keys


class BertBaseReader(ReaderBase):
    """Base class of the BERT readers."""

    def process(self, line: str) -> Any:
        """Override: turn one line of text into a feed dict."""
        raise NotImplementedError("override process(self, line)")


class ChineseBertReader(BertBaseReader):
    """Chinese BERT preprocessing with the vocabulary `args["vocab_file"]` and sequence length
    `args.get("max_seq_len", 20)`."""

    def __init__(self, args: Mapping[str, Any] | None = None) -> None:
        super().__init__()
        args = dict(args or {})
        vocab_file = args.get("vocab_file")
        if not vocab_file:
            raise ReaderNotAvailableError(
                "ChineseBertReader needs args={'vocab_file': 'vocab.txt'}: without it Paddle "
                f"Serving downloaded {_VOCAB_URL}, which this runtime never does; download the "
                "vocabulary of your model and pass its path")
        if not os.path.isfile(vocab_file):
            raise FileNotFoundError(f"ChineseBertReader: vocab_file {vocab_file!r} does not exist")
        self.tokenizer = FullTokenizer(vocab_file=vocab_file)
        self.max_seq_len = int(args.get("max_seq_len", 20))
        self.vocab = self.tokenizer.vocab
        missing = [t for t in _SPECIAL if t not in self.vocab]
        if missing:
            raise ValueError(f"ChineseBertReader: {vocab_file} lacks the special tokens {missing}")
        self.pad_id = self.vocab["[PAD]"]
        self.cls_id = self.vocab["[CLS]"]
        self.sep_id = self.vocab["[SEP]"]
        self.mask_id = self.vocab["[MASK]"]
        self.feed_keys = ["input_ids", "position_ids", "segment_ids", "input_mask"]

    def _pad_batch(self, token_ids: list[int], text_type_ids: list[int],
                   position_ids: list[int]) -> tuple[Any, Any, Any, Any]:
        ids, mask = pad_batch_data([token_ids], max_seq_len=self.max_seq_len,
                                   pad_idx=self.pad_id, return_input_mask=True)
        types = pad_batch_data([text_type_ids], max_seq_len=self.max_seq_len, pad_idx=self.pad_id)
        positions = pad_batch_data([position_ids], max_seq_len=self.max_seq_len,
                                   pad_idx=self.pad_id)
        return ids, positions, types, mask

    def process(self, line: str | bytes) -> dict[str, list[int]]:
        """The four feeds of one sentence, each a list of `max_seq_len` ints."""
        tokens = self.tokenizer.tokenize(convert_to_unicode(line))[: max(self.max_seq_len - 2, 0)]
        token_ids = self.tokenizer.convert_tokens_to_ids(["[CLS]", *tokens])
        text_type_ids = [0] * len(token_ids)
        position_ids = list(range(len(token_ids)))
        padded = self._pad_batch(token_ids, text_type_ids, position_ids)
        return {key: value.reshape(-1).tolist() for key, value in zip(self.feed_keys, padded,
                                                                      strict=True)}
