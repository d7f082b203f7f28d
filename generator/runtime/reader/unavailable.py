"""Names exported by `paddle_serving_app.reader` that this runtime does not implement: the
text readers (they need Baidu's vocabularies, tokenizers and the LAC/Senta dictionaries) and
the PP-TSN video readers. They import fine and raise a clear error when constructed."""

from __future__ import annotations

from typing import Any, NoReturn

__all__ = [
    "ChineseBertReader",
    "Image2Array",
    "LACReader",
    "Normalization",
    "Sampler",
    "Scale",
    "SentaReader",
    "TenCrop",
    "VideoDecoder",
]


class ReaderNotAvailableError(NotImplementedError):
    """A Paddle Serving reader that this runtime does not provide."""


def _make(name: str, missing: str) -> type:
    def __init__(self: Any, *args: Any, **kwargs: Any) -> NoReturn:
        raise ReaderNotAvailableError(
            f"paddle_serving_app.reader.{name} is not provided by generator.runtime.reader: "
            f"{missing}. Do this step in your Op's preprocess with the library that provides "
            "it, or keep the original service on Paddle Serving.")

    doc = f"Not implemented: {missing}. Constructing it raises ReaderNotAvailableError."
    return type(name, (), {"__init__": __init__, "__doc__": doc})


_TEXT = ("it needs the BERT/ERNIE vocabulary and tokenizer (paddlenlp or a WordPiece "
         "tokenizer) and the max_seq_len feed layout")
ChineseBertReader = _make("ChineseBertReader", _TEXT)
LACReader = _make("LACReader", "it needs the LAC word dictionary, q2b and tag dictionaries "
                  "(lac_dict) of the LAC model package")
SentaReader = _make("SentaReader", "it needs the Senta vocabulary (senta_dict) and the LAC "
                    "segmentation it runs first")
_VIDEO = "the PP-TSN video pipeline (decord/av video decoding and frame sampling) is not ported"
VideoDecoder = _make("VideoDecoder", _VIDEO)
Sampler = _make("Sampler", _VIDEO)
Scale = _make("Scale", _VIDEO)
TenCrop = _make("TenCrop", _VIDEO)
Image2Array = _make("Image2Array", _VIDEO)
Normalization = _make("Normalization", _VIDEO)
