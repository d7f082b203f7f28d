"""`SentaReader`: words -> Senta vocabulary ids, as `paddle_serving_app.reader`.

    reader = SentaReader("senta_vocab.txt")
    ids = reader.process(["我", "喜欢"])    # unknown words get len(vocab)

Vocabulary lines are ``word<TAB>id`` (a line with one field maps "" to it); `<unk>` is added
with id = the number of entries read. Without a path, `senta_vocab.txt` in the working
directory is used if it exists; Paddle Serving downloaded it otherwise, which this runtime
never does. `max_seq_len` is stored but, as in Paddle Serving, nothing is padded or cut.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from generator.runtime.reader.unavailable import ReaderNotAvailableError

__all__ = ["SentaReader"]

_VOCAB_URL = "https://paddle-serving.bj.bcebos.com/reader/senta/senta_vocab.txt"


class SentaReader:
    """Senta sentiment-model vocabulary lookup."""

    def __init__(self, vocab_path: str | os.PathLike[str] = "", max_seq_len: int = 20) -> None:
        self.max_seq_len = max_seq_len
        self.word_dict = self.load_vocab(vocab_path)

    def load_vocab(self, vocab_path: str | os.PathLike[str]) -> dict[str, int]:
        """Read the vocabulary and add `<unk>`."""
        path = str(vocab_path) or "senta_vocab.txt"
        if not str(vocab_path) and not os.path.isfile(path):
            raise ReaderNotAvailableError(
                "SentaReader() without vocab_path needs ./senta_vocab.txt; Paddle Serving "
                f"downloaded it from {_VOCAB_URL}, which this runtime never does: download it "
                "and pass its path")
        vocab: dict[str, int] = {}
        with open(path, encoding="utf8") as fh:
            for line in fh:
                if line.strip() in vocab:
                    continue
                fields = line.strip().split("\t")
                word, wid = ("", fields[0]) if len(fields) < 2 else (fields[0], fields[1])
                vocab[word] = int(wid)
        vocab["<unk>"] = len(vocab)
        return vocab

    def process(self, cols: Iterable[str]) -> list[int]:
        """Ids of the words in `cols`; unknown words get `len(word_dict)`."""
        unk_id = len(self.word_dict)
        return [self.word_dict.get(word, unk_id) for word in cols]
