"""`IMDBDataset`: the word-id reader of Paddle Serving's IMDB examples.

    imdb = IMDBDataset()
    imdb.load_resource("imdb.vocab")                 # one word per line, id = line number
    ids, label = imdb.get_words_and_label("a great movie|1")

Text is lower-cased, `<br />` becomes a space, and it is split on `; , . ? ! ( )` and whitespace
(the separators other than spaces are kept as words). Unknown words get the id
`len(vocab)`. The original derived from `paddle.fluid`'s `MultiSlotDataGenerator` without using
it for these methods; here it is plain Python (no Paddle import), and `infer_reader` shuffles
and batches in Python as `paddle.batch(paddle.reader.shuffle(...))` did.
"""

from __future__ import annotations

import os
import random
import re
from collections.abc import Callable, Iterator, Sequence
from typing import Any

__all__ = ["IMDBDataset"]

_SPLIT = re.compile(r"(;|,|\.|\?|!|\s|\(|\))")

Sample = tuple[list[int], list[int]]


class IMDBDataset:
    """Maps review text to word ids with a vocabulary file (`load_resource` first)."""

    def __init__(self) -> None:
        self._vocab: dict[str, int] = {}
        self._unk_id = 0
        self._pattern = _SPLIT
        self.return_value = ("words", [1, 2, 3, 4, 5, 6]), ("label", [0])

    def load_resource(self, dictfile: str | os.PathLike[str]) -> None:
        """Read the vocabulary: one word per line, its id is the line number."""
        with open(dictfile, encoding="utf-8") as fh:
            self._vocab = {line.strip(): wid for wid, line in enumerate(fh)}
        self._unk_id = len(self._vocab)

    def _ids(self, text: str) -> list[int]:
        words = [w for w in self._pattern.split(text.lower().replace("<br />", " ").strip())
                 if w and w != " "]
        return [self._vocab.get(w, self._unk_id) for w in words]

    def get_words_only(self, line: str) -> list[int]:
        """Word ids of `line`."""
        return self._ids(line)

    def get_words_and_label(self, line: str) -> Sample:
        """`"text|label"` -> (word ids of text, [int(label)]); the text may contain `|`."""
        text, _, label = line.rpartition("|")
        return self._ids(text), [int(label)]

    def infer_reader(self, infer_filelist: Sequence[str | os.PathLike[str]], batch: int,
                     buf_size: int) -> Callable[[], Iterator[list[Sample]]]:
        """A reader function yielding lists of `batch` (ids, label) samples from the
        `text|label` lines of the files, shuffled within windows of `buf_size` samples."""

        def samples() -> Iterator[Sample]:
            for fname in infer_filelist:
                with open(fname, encoding="utf-8") as fh:
                    for line in fh:
                        yield self.get_words_and_label(line)

        def shuffled() -> Iterator[Sample]:
            window: list[Sample] = []
            for sample in samples():
                window.append(sample)
                if len(window) >= buf_size:
                    random.shuffle(window)
                    yield from window
                    window = []
            random.shuffle(window)
            yield from window

        def batches() -> Iterator[list[Sample]]:
            current: list[Sample] = []
            for sample in shuffled():
                current.append(sample)
                if len(current) == batch:
                    yield current
                    current = []
            if current:
                yield current

        return batches

    def generate_sample(self, line: str) -> Callable[[], Iterator[tuple[Any, ...]]]:
        """A generator function yielding `(("words", ids), ("label", label))` for `line`."""

        def data_iter() -> Iterator[tuple[Any, ...]]:
            ids, label = self.get_words_and_label(line)
            yield ("words", ids), ("label", label)

        return data_iter
