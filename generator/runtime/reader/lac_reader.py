"""`LACReader`: characters -> LAC word ids and CRF tags -> words, as `paddle_serving_app.reader`.

    reader = LACReader("lac_dict")        # a folder with word.dic, tag.dic and q2b.dic
    ids = reader.process("我爱北京")        # one id per character; unknown -> the "OOV" id
    words = reader.parse_result("我爱北京", crf_decode)

The dictionary files are ``id<TAB>entry`` lines (q2b.dic: ``from<TAB>to``). Without a folder,
`lac_dict` in the working directory is used if it exists; Paddle Serving downloaded it
otherwise, which this runtime never does (`ReaderNotAvailableError` says where to get it).

Difference: Paddle Serving's `parse_result` compares `tag[ind - 1]` (a character of the current
tag) where the previous tag is meant, which raises IndexError for an "O" tag after the second
character; here the previous tag is compared, so an "O" after a non-"O" tag starts a word.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

from generator.runtime.reader.unavailable import ReaderNotAvailableError

__all__ = ["LACReader", "load_kv_dict"]

_DICT_URL = "https://paddle-serving.bj.bcebos.com/reader/lac/lac_dict.tar.gz"


def load_kv_dict(dict_path: str | os.PathLike[str], reverse: bool = False, delimiter: str = "\t",
                 key_func: Callable[[str], Any] | None = None,
                 value_func: Callable[[str], Any] | None = None) -> dict[Any, Any]:
    """Read ``key<delimiter>value`` lines (``value<delimiter>key`` with `reverse`); lines
    without exactly two fields are skipped; a repeated key raises KeyError."""
    result: dict[Any, Any] = {}
    with open(dict_path, encoding="utf8") as fh:
        for line in fh:
            terms = line.strip("\n").split(delimiter)
            if len(terms) != 2:
                continue
            value, key = terms if reverse else terms[::-1]
            if key in result:
                raise KeyError(f"key duplicated with [{key}]")
            result[key_func(key) if key_func else key] = value_func(value) if value_func else value
    return result


class LACReader:
    """Word/tag dictionaries of the LAC lexical analysis model."""

    def __init__(self, dict_folder: str | os.PathLike[str] = "") -> None:
        folder = str(dict_folder) or "lac_dict"
        if not os.path.isdir(folder):
            if not str(dict_folder):
                raise ReaderNotAvailableError(
                    "LACReader() without dict_folder needs ./lac_dict; Paddle Serving downloaded "
                    f"it from {_DICT_URL}, which this runtime never does: download and unpack it, "
                    "then pass its path")
            raise FileNotFoundError(f"LACReader: dict_folder {folder!r} does not exist")
        words = os.path.join(folder, "word.dic")
        tags = os.path.join(folder, "tag.dic")
        self.word2id_dict = load_kv_dict(words, reverse=True, value_func=int)
        self.id2word_dict = load_kv_dict(words)
        self.label2id_dict = load_kv_dict(tags, reverse=True, value_func=int)
        self.id2label_dict = load_kv_dict(tags)
        self.word_replace_dict = load_kv_dict(os.path.join(folder, "q2b.dic"))

    @property
    def vocab_size(self) -> int:
        """Largest word id + 1."""
        return max(self.word2id_dict.values()) + 1

    @property
    def num_labels(self) -> int:
        """Largest tag id + 1."""
        return max(self.label2id_dict.values()) + 1

    def word_to_ids(self, words: str) -> list[int]:
        """One id per character (after q2b replacement); unknown characters get the "OOV" id."""
        ids = []
        for char in words:
            char = self.word_replace_dict.get(char, char)
            ids.append(self.word2id_dict[char if char in self.word2id_dict else "OOV"])
        return ids

    def label_to_ids(self, labels: Sequence[str]) -> list[int]:
        """Tag ids; unknown tags count as "O"."""
        return [self.label2id_dict[t if t in self.label2id_dict else "O"] for t in labels]

    def process(self, sent: str) -> list[int]:
        """Character ids of the stripped sentence."""
        return self.word_to_ids(sent.strip())

    def parse_result(self, words: str, crf_decode: Any) -> list[str]:
        """Join the characters of `words` into words using the decoded tags (one row per
        character, first column the tag id): a "-B" tag starts a word, as does "O" after
        another tag."""
        tags = [self.id2label_dict[str(row[0])] for row in crf_decode]
        out: list[str] = []
        current = ""
        for ind, tag in enumerate(tags):
            starts = tag.endswith("-B") or (tag == "O" and ind > 0 and tags[ind - 1] != "O")
            if current and starts:
                out.append(current)
                current = ""
            current += words[ind]
        if current:
            out.append(current)
        return out
