"""BERT-style tokenization as in `paddle_serving_app.reader.tokenization`: a basic tokenizer
(cleaning, CJK characters as words, lower-casing with accents stripped, punctuation split) then
greedy longest-match-first WordPiece against a `vocab.txt`.

Vocabulary files: one token per line (its id is the line number), or ``token<TAB>id``; reading
stops at the first line with more than two tab-separated fields, as Paddle Serving does.
`WSSPTokenizer` needs `sentencepiece` and raises `ReaderNotAvailableError` without it.
"""

from __future__ import annotations

import collections
import os
import pickle
import unicodedata
from collections.abc import Iterable, Mapping
from typing import Any

from generator.runtime.reader.unavailable import ReaderNotAvailableError

__all__ = [
    "BasicTokenizer",
    "CharTokenizer",
    "FullTokenizer",
    "WSSPTokenizer",
    "WordpieceTokenizer",
    "convert_by_vocab",
    "convert_ids_to_tokens",
    "convert_to_unicode",
    "convert_tokens_to_ids",
    "load_vocab",
    "printable_text",
    "whitespace_tokenize",
]

#: CJK Unified Ideographs and their extension / compatibility blocks (as in BERT).
_CJK_RANGES = (
    (0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F),
    (0x2B740, 0x2B81F), (0x2B820, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F),
)
_SP_PREFIX = "\u2581"


def convert_to_unicode(text: str | bytes) -> str:
    """`text` as str; bytes are decoded as UTF-8 with undecodable bytes dropped."""
    if isinstance(text, str):
        return text
    if isinstance(text, bytes):
        return text.decode("utf-8", "ignore")
    raise ValueError(f"Unsupported string type: {type(text)}")


printable_text = convert_to_unicode


def load_vocab(vocab_file: str | os.PathLike[str]) -> collections.OrderedDict[str, int]:
    """Read a vocabulary file into token -> id (see the module docstring for the format)."""
    vocab: collections.OrderedDict[str, int] = collections.OrderedDict()
    with open(vocab_file, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh):
            fields = line.strip().split("\t")
            if len(fields) > 2:
                break
            vocab[fields[0].strip()] = int(fields[1]) if len(fields) == 2 else lineno
    return vocab


def convert_by_vocab(vocab: Mapping[Any, Any], items: Iterable[Any]) -> list[Any]:
    """Map each item through `vocab` (KeyError for an item it lacks)."""
    return [vocab[item] for item in items]


def convert_tokens_to_ids(vocab: Mapping[str, int], tokens: Iterable[str]) -> list[int]:
    """Token -> id through `vocab`."""
    return convert_by_vocab(vocab, tokens)


def convert_ids_to_tokens(inv_vocab: Mapping[int, str], ids: Iterable[int]) -> list[str]:
    """Id -> token through the inverted vocabulary."""
    return convert_by_vocab(inv_vocab, ids)


def whitespace_tokenize(text: str) -> list[str]:
    """Split on runs of whitespace; [] for blank text."""
    return text.split()


def _is_whitespace(char: str) -> bool:
    return char in " \t\n\r" or unicodedata.category(char) == "Zs"


def _is_control(char: str) -> bool:
    return char not in "\t\n\r" and unicodedata.category(char).startswith("C")


def _is_punctuation(char: str) -> bool:
    cp = ord(char)
    ascii_symbol = 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126
    return ascii_symbol or unicodedata.category(char).startswith("P")


def _is_cjk(cp: int) -> bool:
    return any(lo <= cp <= hi for lo, hi in _CJK_RANGES)


class BasicTokenizer:
    """Cleaning, CJK split, optional lower-casing (with accents stripped), punctuation split."""

    def __init__(self, do_lower_case: bool = True) -> None:
        self.do_lower_case = do_lower_case

    def tokenize(self, text: str | bytes) -> list[str]:
        """Words and punctuation marks of `text`."""
        text = convert_to_unicode(text)
        cleaned = []
        for char in text:
            cp = ord(char)
            if cp in (0, 0xFFFD) or _is_control(char):
                continue
            if _is_whitespace(char):
                cleaned.append(" ")
            elif _is_cjk(cp):
                cleaned.append(f" {char} ")
            else:
                cleaned.append(char)
        pieces: list[str] = []
        for word in whitespace_tokenize("".join(cleaned)):
            if self.do_lower_case:
                word = self._strip_accents(word.lower())
            pieces.extend(self._split_punctuation(word))
        return whitespace_tokenize(" ".join(pieces))

    @staticmethod
    def _strip_accents(text: str) -> str:
        return "".join(c for c in unicodedata.normalize("NFD", text)
                       if unicodedata.category(c) != "Mn")

    @staticmethod
    def _split_punctuation(text: str) -> list[str]:
        out: list[str] = []
        current = ""
        for char in text:
            if _is_punctuation(char):
                if current:
                    out.append(current)
                    current = ""
                out.append(char)
            else:
                current += char
        if current:
            out.append(current)
        return out


class WordpieceTokenizer:
    """Greedy longest-match-first WordPiece: "unaffable" -> ["un", "##aff", "##able"].

    A word longer than `max_input_chars_per_word`, or one that cannot be covered by vocabulary
    pieces, becomes `unk_token`. With `use_sentence_piece_vocab`, the first piece is looked up
    with a leading "\u2581" and later pieces without "##".
    """

    def __init__(self, vocab: Mapping[str, int], unk_token: str = "[UNK]",
                 max_input_chars_per_word: int = 100,
                 use_sentence_piece_vocab: bool = False) -> None:
        self.vocab = vocab
        self.unk_token = unk_token
        self.max_input_chars_per_word = max_input_chars_per_word
        self.use_sentence_piece_vocab = use_sentence_piece_vocab

    def _piece(self, word: str, start: int, end: int) -> str:
        piece = word[start:end]
        if self.use_sentence_piece_vocab:
            return _SP_PREFIX + piece if start == 0 else piece
        return piece if start == 0 else "##" + piece

    def _split_word(self, word: str) -> list[str] | None:
        pieces: list[str] = []
        start = 0
        while start < len(word):
            for end in range(len(word), start, -1):
                piece = self._piece(word, start, end)
                if piece in self.vocab:
                    pieces.append(piece)
                    start = end
                    break
            else:
                return None
        return pieces

    def tokenize(self, text: str | bytes) -> list[str]:
        """WordPiece tokens of whitespace-separated `text`."""
        tokens: list[str] = []
        for word in whitespace_tokenize(convert_to_unicode(text)):
            pieces = (None if len(word) > self.max_input_chars_per_word
                      else self._split_word(word))
            tokens.extend(pieces if pieces is not None else [self.unk_token])
        return tokens


class FullTokenizer:
    """`BasicTokenizer` then `WordpieceTokenizer` over the vocabulary in `vocab_file`."""

    def __init__(self, vocab_file: str | os.PathLike[str], do_lower_case: bool = True,
                 use_sentence_piece_vocab: bool = False) -> None:
        self.vocab = load_vocab(vocab_file)
        self.inv_vocab = {v: k for k, v in self.vocab.items()}
        self.basic_tokenizer = BasicTokenizer(do_lower_case=do_lower_case)
        self.use_sentence_piece_vocab = use_sentence_piece_vocab
        self.wordpiece_tokenizer = WordpieceTokenizer(
            vocab=self.vocab, use_sentence_piece_vocab=use_sentence_piece_vocab)

    def tokenize(self, text: str | bytes) -> list[str]:
        """WordPiece tokens of `text`."""
        return [piece for word in self.basic_tokenizer.tokenize(text)
                for piece in self.wordpiece_tokenizer.tokenize(word)]

    def convert_tokens_to_ids(self, tokens: Iterable[str]) -> list[int]:
        """Token -> id."""
        return convert_by_vocab(self.vocab, tokens)

    def convert_ids_to_tokens(self, ids: Iterable[int]) -> list[str]:
        """Id -> token."""
        return convert_by_vocab(self.inv_vocab, ids)


class CharTokenizer(FullTokenizer):
    """Lower-cases, splits on single spaces, then WordPiece (no basic tokenization)."""

    def __init__(self, vocab_file: str | os.PathLike[str], do_lower_case: bool = True) -> None:
        super().__init__(vocab_file, do_lower_case=do_lower_case)

    def tokenize(self, text: str | bytes) -> list[str]:
        """WordPiece tokens of each space-separated chunk of the lower-cased text."""
        text = convert_to_unicode(text)
        return [piece for chunk in text.lower().split(" ")
                for piece in self.wordpiece_tokenizer.tokenize(chunk)]


class WSSPTokenizer:
    """Dictionary word segmentation (window 5) then a SentencePiece model; needs
    `sentencepiece`. Pieces missing from the vocabulary become `unk_token`."""

    window_size = 5

    def __init__(self, vocab_file: str | os.PathLike[str], sp_model_dir: str, word_dict: str,
                 ws: bool = True, lower: bool = True) -> None:
        try:
            import sentencepiece as spm
        except ImportError:
            raise ReaderNotAvailableError(
                "paddle_serving_app.reader.tokenization.WSSPTokenizer needs the sentencepiece "
                "package, which is not installed: pip install sentencepiece") from None
        self.vocab = load_vocab(vocab_file)
        self.inv_vocab = {v: k for k, v in self.vocab.items()}
        self.ws = ws
        self.lower = lower
        with open(word_dict, "rb") as fh:
            self.dict = pickle.load(fh)  # noqa: S301 - the user's own dictionary file
        self.sp_model = spm.SentencePieceProcessor()
        self.sp_model.Load(sp_model_dir)

    def cut(self, chars: str) -> list[str]:
        """Greedy forward maximum matching against the word dictionary."""
        words: list[str] = []
        idx = 0
        while idx < len(chars):
            for size in range(self.window_size, 0, -1):
                if chars[idx:idx + size] in self.dict:
                    break
            else:
                size = 1
            words.append(chars[idx:idx + size])
            idx += size
        return words

    def tokenize(self, text: str | bytes, unk_token: str = "[UNK]") -> list[str]:
        """SentencePiece pieces of the segmented text, out-of-vocabulary ones as `unk_token`."""
        text = convert_to_unicode(text)
        words = [w for w in self.cut(text) if w != " "] if self.ws else text.split(" ")
        if self.lower:
            words = [w.lower() for w in words]
        pieces = self.sp_model.EncodeAsPieces(" ".join(words))
        return [p if p in self.vocab else unk_token for p in pieces]

    def convert_tokens_to_ids(self, tokens: Iterable[str]) -> list[int]:
        """Token -> id."""
        return convert_by_vocab(self.vocab, tokens)

    def convert_ids_to_tokens(self, ids: Iterable[int]) -> list[str]:
        """Id -> token."""
        return convert_by_vocab(self.inv_vocab, ids)
