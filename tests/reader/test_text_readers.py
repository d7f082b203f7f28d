"""Text readers (`ChineseBertReader` with its WordPiece tokenizer, `IMDBDataset`, `LACReader`,
`SentaReader`, the batching helpers) give what paddle_serving_app 0.9.0's own code gives, on
small vocabularies written here; the original runs as an oracle in a subprocess."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from generator.runtime.reader import ChineseBertReader, IMDBDataset, LACReader, SentaReader
from generator.runtime.reader.text_batching import pad_batch_data, prepare_batch_data
from generator.runtime.reader.tokenization import (
    BasicTokenizer,
    CharTokenizer,
    FullTokenizer,
    WordpieceTokenizer,
    WSSPTokenizer,
    load_vocab,
)
from generator.runtime.reader.unavailable import ReaderNotAvailableError
from tests.helpers.serving_app_wheel import app_wheel_dir, run_original

BERT_VOCAB = ["[PAD]", "[CLS]", "[SEP]", "[MASK]", "[UNK]", "今", "天", "气", "不", "错", "！",
              "un", "##aff", "##able", "hello", "world", "##s", "cafe", ",", ".", "a", "##b",
              "中", "文", "test", "▁hel", "lo", "(", ")", "x"]
TEXTS = ["今天天气不错！", "Unaffable CAFÉ, hello worlds.", "  mixed\tws\u3000中文 test\x00 \ufffd",
         "ab abab (x) " * 6, "", "unknownword 今天", b"hello \xff world".decode("latin-1"),
         "x" * 120]


@pytest.fixture(scope="module")
def wheel() -> Path:
    return app_wheel_dir()


@pytest.fixture
def vocab_file(tmp_path: Path) -> Path:
    path = tmp_path / "vocab.txt"
    path.write_text("\n".join(BERT_VOCAB) + "\n", encoding="utf-8")
    return path


def _original_tokenizers(wheel: Path, vocab: Path, texts: list[str], max_seq_len: int) -> dict:
    code = f"""
from paddle_serving_app.reader.chinese_bert_reader import ChineseBertReader
from paddle_serving_app.reader.tokenization import (BasicTokenizer, CharTokenizer, FullTokenizer,
    WordpieceTokenizer, load_vocab)
texts = {texts!r}
vocab = {str(vocab)!r}
reader = ChineseBertReader({{"vocab_file": vocab, "max_seq_len": {max_seq_len}}})
full, char = FullTokenizer(vocab), CharTokenizer(vocab)
sp = WordpieceTokenizer(load_vocab(vocab), use_sentence_piece_vocab=True)
out = {{
    "feeds": [reader.process(t) for t in texts],
    "full": [full.tokenize(t) for t in texts],
    "basic": [BasicTokenizer().tokenize(t) for t in texts],
    "cased": [BasicTokenizer(do_lower_case=False).tokenize(t) for t in texts],
    "char": [char.tokenize(t) for t in texts],
    "sp": [sp.tokenize(t) for t in texts],
    "vocab": list(load_vocab(vocab).items()),
}}
print(json.dumps(out))
"""
    return run_original(wheel, code)


@pytest.mark.parametrize("max_seq_len", [20, 8])
def test_chinese_bert_reader_and_tokenizers_match_the_original(wheel, vocab_file, max_seq_len):
    expected = _original_tokenizers(wheel, vocab_file, TEXTS, max_seq_len)
    reader = ChineseBertReader({"vocab_file": str(vocab_file), "max_seq_len": max_seq_len})
    feeds = [reader.process(t) for t in TEXTS]
    assert json.loads(json.dumps(feeds)) == expected["feeds"]
    assert all(len(f["input_ids"]) == max_seq_len for f in feeds)
    full, char = FullTokenizer(vocab_file), CharTokenizer(vocab_file)
    sp = WordpieceTokenizer(load_vocab(vocab_file), use_sentence_piece_vocab=True)
    assert [full.tokenize(t) for t in TEXTS] == expected["full"]
    assert [BasicTokenizer().tokenize(t) for t in TEXTS] == expected["basic"]
    assert [BasicTokenizer(do_lower_case=False).tokenize(t) for t in TEXTS] == expected["cased"]
    assert [char.tokenize(t) for t in TEXTS] == expected["char"]
    assert [sp.tokenize(t) for t in TEXTS] == expected["sp"]
    assert [list(kv) for kv in load_vocab(vocab_file).items()] == expected["vocab"]


def test_feed_layout_is_cls_then_tokens_padded(vocab_file):
    feed = ChineseBertReader({"vocab_file": str(vocab_file), "max_seq_len": 6}).process("今天")
    assert feed == {"input_ids": [1, 5, 6, 0, 0, 0], "position_ids": [0, 1, 2, 0, 0, 0],
                    "segment_ids": [0, 0, 0, 0, 0, 0], "input_mask": [1, 1, 1, 0, 0, 0]}
    tokens = FullTokenizer(vocab_file).tokenize("Unaffable")
    assert tokens == ["un", "##aff", "##able"]


def test_vocab_with_explicit_ids_stops_at_a_malformed_line(tmp_path, wheel):
    path = tmp_path / "ids.txt"
    path.write_text("[PAD]\t3\n[CLS]\t7\nhello\nbad\tline\there\nafter\n", encoding="utf-8")
    expected = run_original(wheel, f"""
from paddle_serving_app.reader.tokenization import load_vocab
print(json.dumps(list(load_vocab({str(path)!r}).items())))
""")
    assert [list(kv) for kv in load_vocab(path).items()] == expected == [
        ["[PAD]", 3], ["[CLS]", 7], ["hello", 2]]


def test_chinese_bert_reader_never_downloads(tmp_path):
    with pytest.raises(ReaderNotAvailableError, match="vocab_file"):
        ChineseBertReader()
    with pytest.raises(FileNotFoundError, match="nowhere.txt"):
        ChineseBertReader({"vocab_file": str(tmp_path / "nowhere.txt")})
    (tmp_path / "v.txt").write_text("a\nb\n")
    with pytest.raises(ValueError, match=r"\[PAD\]"):
        ChineseBertReader({"vocab_file": str(tmp_path / "v.txt")})


def test_wssp_tokenizer_says_it_needs_sentencepiece(vocab_file, tmp_path):
    try:
        import sentencepiece  # noqa: F401
    except ImportError:
        pass
    else:  # pragma: no cover - sentencepiece installed
        pytest.skip("sentencepiece is installed here")
    with pytest.raises(ReaderNotAvailableError, match="pip install sentencepiece"):
        WSSPTokenizer(vocab_file, str(tmp_path / "sp.model"), str(tmp_path / "dict.pkl"))


def test_batching_helpers_match_the_original(wheel):
    insts = [[5, 6, 7], [8], [9, 10, 11, 12, 13]]
    expected = run_original(wheel, f"""
from paddle_serving_app.reader.batching import pad_batch_data, prepare_batch_data
insts = {insts!r}
out = pad_batch_data(insts, pad_idx=0, max_seq_len=6, return_pos=True, return_input_mask=True,
                     return_max_len=True, return_num_token=True, return_seq_lens=True)
batch = [(i, [0] * len(i), list(range(len(i))), [k]) for k, i in enumerate(insts)]
prep = prepare_batch_data(batch, 0, max_seq_len=6, pad_id=0)
def js(x):
    return [x.tolist(), str(x.dtype), list(x.shape)] if hasattr(x, "tolist") else x
print(json.dumps({{"pad": [js(x) for x in out], "prep": [js(x) for x in prep],
                  "single": js(pad_batch_data(insts, pad_idx=1, max_seq_len=5))}}))
""")

    def js(x):
        return [x.tolist(), str(x.dtype), list(x.shape)] if isinstance(x, np.ndarray) else x

    out = pad_batch_data(insts, pad_idx=0, max_seq_len=6, return_pos=True, return_input_mask=True,
                         return_max_len=True, return_num_token=True, return_seq_lens=True)
    batch = [(i, [0] * len(i), list(range(len(i))), [k]) for k, i in enumerate(insts)]
    assert [js(x) for x in out] == expected["pad"]
    assert [js(x) for x in prepare_batch_data(batch, 0, max_seq_len=6, pad_id=0)] == expected["prep"]
    assert js(pad_batch_data(insts, pad_idx=1, max_seq_len=5)) == expected["single"]


IMDB_LINES = ["This movie was GREAT!<br />Loved it (really).|1", "bad; plot, bad acting?|0",
              "pipes | in | text|1", "   |0", "unknown words only|1"]


def test_imdb_dataset_matches_the_original(tmp_path, wheel):
    vocab = tmp_path / "imdb.vocab"
    vocab.write_text("\n".join(["this", "movie", "was", "great", "!", "loved", "it", "(", ")", ".",
                                "bad", ";", ",", "?", "pipes", "|", "in", "text", "this"]) + "\n")
    expected = run_original(wheel, f"""
from paddle_serving_app.reader.imdb_reader import IMDBDataset
d = IMDBDataset()
d.load_resource({str(vocab)!r})
lines = {IMDB_LINES!r}
print(json.dumps({{"words": [d.get_words_only(l.split("|")[0]) for l in lines],
                  "labelled": [list(d.get_words_and_label(l)) for l in lines],
                  "sample": [list(map(list, next(d.generate_sample(l)()))) for l in lines]}}))
""")
    d = IMDBDataset()
    d.load_resource(vocab)
    assert [d.get_words_only(line.split("|")[0]) for line in IMDB_LINES] == expected["words"]
    assert [list(d.get_words_and_label(line)) for line in IMDB_LINES] == expected["labelled"]
    assert [list(map(list, next(d.generate_sample(line)()))) for line in IMDB_LINES] == (
        expected["sample"])


def test_imdb_infer_reader_batches_every_sample(tmp_path):
    vocab = tmp_path / "imdb.vocab"
    vocab.write_text("good\nbad\n")
    data = tmp_path / "data.txt"
    data.write_text("".join(f"{'good' if i % 2 else 'bad'} {i}|{i % 2}\n" for i in range(7)))
    d = IMDBDataset()
    d.load_resource(vocab)
    batches = list(d.infer_reader([data], batch=3, buf_size=4)())
    assert [len(b) for b in batches] == [3, 3, 1]
    samples = sorted((ids, label) for b in batches for ids, label in b)
    assert samples == sorted(d.get_words_and_label(line) for line in data.read_text().splitlines())


def _lac_dict(folder: Path) -> Path:
    folder.mkdir()
    words = ["我", "爱", "北", "京", "天", "安", "门", "OOV", "a"]
    (folder / "word.dic").write_text("".join(f"{i}\t{w}\n" for i, w in enumerate(words)) + "bad\n")
    tags = ["PER-B", "PER-I", "LOC-B", "LOC-I", "v-B", "v-I", "O"]
    (folder / "tag.dic").write_text("".join(f"{i}\t{t}\n" for i, t in enumerate(tags)))
    (folder / "q2b.dic").write_text("Ａ\ta\n　\t \n")
    return folder


def test_lac_reader_matches_the_original(tmp_path, wheel):
    folder = _lac_dict(tmp_path / "lac_dict")
    sentences = [" 我爱北京天安门 ", "我Ａ爱？", "北京"]
    crf = [[[0], [4], [2], [3], [2], [3], [3]], [[0], [1], [4], [5]], [[2], [3]]]
    code = f"""
from paddle_serving_app.reader.lac_reader import LACReader
r = LACReader({str(folder)!r})
sents, crf = {sentences!r}, {crf!r}
print(json.dumps({{"ids": [r.process(s) for s in sents], "vocab": r.vocab_size,
                  "labels": r.num_labels, "tag_ids": r.label_to_ids(["LOC-B", "nope", "O"]),
                  "words": [r.parse_result(s.strip(), c) for s, c in zip(sents, crf)]}}))
"""
    expected = run_original(wheel, code)
    r = LACReader(str(folder))
    assert [r.process(s) for s in sentences] == expected["ids"]
    assert (r.vocab_size, r.num_labels) == (expected["vocab"], expected["labels"])
    assert r.label_to_ids(["LOC-B", "nope", "O"]) == expected["tag_ids"]
    words = [r.parse_result(s.strip(), c) for s, c in zip(sentences, crf, strict=True)]
    assert words == expected["words"] == [["我", "爱", "北京", "天安门"], ["我Ａ", "爱？"], ["北京"]]


def test_lac_reader_o_tag_after_another_tag_starts_a_word(tmp_path):
    r = LACReader(str(_lac_dict(tmp_path / "lac_dict")))
    # Paddle Serving raised IndexError here (it indexed the current tag, not the previous one)
    assert r.parse_result("我爱北京", [[0], [6], [6], [2]]) == ["我", "爱北", "京"]


def test_lac_and_senta_never_download(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ReaderNotAvailableError, match="lac_dict"):
        LACReader()
    with pytest.raises(FileNotFoundError, match="missing"):
        LACReader("missing")
    with pytest.raises(ReaderNotAvailableError, match="senta_vocab.txt"):
        SentaReader()


def test_senta_reader_matches_the_original(tmp_path, wheel):
    vocab = tmp_path / "senta_vocab.txt"
    vocab.write_text("我\t0\n喜欢\t1\n电影\t2\n17\n喜欢\t5\n", encoding="utf-8")
    words = ["我", "喜欢", "这部", "电影", ""]
    expected = run_original(wheel, f"""
from paddle_serving_app.reader.senta_reader import SentaReader
r = SentaReader({str(vocab)!r}, max_seq_len=3)
print(json.dumps([r.process({words!r}), sorted(r.word_dict.items())]))
""")
    r = SentaReader(str(vocab), max_seq_len=3)
    assert [r.process(words), sorted([list(kv) for kv in r.word_dict.items()])] == [
        expected[0], [list(kv) for kv in expected[1]]]
