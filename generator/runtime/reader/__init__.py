"""Paddle Serving's `paddle_serving_app.reader` operators, re-implemented for Python 3.10+,
NumPy 2 and OpenCV 4.8+/5.

Import mapping — porting a Paddle Serving 0.9 service is a one-line change per import::

    from paddle_serving_app.reader import Sequential, Resize, CenterCrop   # before
    from generator.runtime.reader import Sequential, Resize, CenterCrop    # after

Every name that `paddle_serving_app.reader` exported is importable here, plus `String2Image`,
`Lambda` and `DetectionDiv`. Image operators keep Paddle Serving's semantics (HWC uint8 BGR
after decoding; the same size rounding, dtypes and channel order); the shared arithmetic lives
in `generator.imaging`, which the toolkit-exact preprocessing (`generator.preprocess`) uses too.

Known quirks of Paddle Serving, kept by default and documented on each class:

* `RGB2BGR` and `BGR2RGB` are the same channel reversal — correct for both directions.
* `RCNNPostprocess` reports `w = x2 - x1 + 1`; `pixel_inclusive_wh=False` gives `x2 - x1`.
* Detection examples that fed `scale_factor = 1` after `Resize` got boxes in resized-image
  pixels; use `DetectionResize` (which returns the real `scale_factor` in `im_info`) or
  `RCNNPostprocess(..., scale_to_original=True)` with the resize factors.
* `Resize(interpolation=0)` means INTER_LINEAR (a falsy value is "default"); use "NEAREST".
* `ResizeByFactor` rounds the height with a hard-coded 32; `OCRReader.preprocess` returns only
  the first image.

Text readers (plain Python, no paddlenlp): `ChineseBertReader` with its own WordPiece tokenizer
(`tokenization`) over the `vocab.txt` you pass, `LACReader`, `SentaReader` and `IMDBDataset`
(`imdb_reader`; not exported by Paddle Serving's package, exported here too). They never
download: where Paddle Serving fetched a default vocabulary, a missing file is a clear error.

The modules of `paddle_serving_app.reader` map to: `image_reader` -> this package,
`functional`, `ocr_reader`, `tokenization`, `batching` -> `text_batching`, `reader` and
`bert_base_reader` / `chinese_bert_reader` -> `bert_reader`, `imdb_reader`, `lac_reader`,
`senta_reader`, `pptsn_reader` -> `video_reader` (see `generator.runtime.compat.legacy_imports`).

Deliberate differences: `URL2Image` refuses to fetch unless `URL2Image(allow_network=True)` or
`SCAFFOLD_ALLOW_URL_FETCH=1`; `DetectionPadStride` always returns `(im, im_info)`;
`GetRotateCropImage` leaves its `points` argument intact; OCR scores are Python floats;
`LACReader.parse_result` compares the previous tag (the original indexed the current tag).
"""

from generator.runtime.reader.bert_reader import ChineseBertReader
from generator.runtime.reader.detection_ops import (
    DetectionBGR2RGB,
    DetectionDiv,
    DetectionFile2Image,
    DetectionNormalize,
    DetectionPadStride,
    DetectionResize,
    DetectionSequential,
    DetectionTranspose,
)
from generator.runtime.reader.detection_post import (
    BlazeFacePostprocess,
    RCNNPostprocess,
    SegPostprocess,
)
from generator.runtime.reader.image_ops import (
    BGR2RGB,
    RGB2BGR,
    Base64ToImage,
    CenterCrop,
    Div,
    File2Image,
    ImageReader,
    Lambda,
    Normalize,
    PadStride,
    Resize,
    ResizeByFactor,
    Sequential,
    String2Image,
    Transpose,
    URL2Image,
    URLFetchNotAllowedError,
)
from generator.runtime.reader.imdb_reader import IMDBDataset
from generator.runtime.reader.lac_reader import LACReader
from generator.runtime.reader.ocr_ops import (
    DBPostProcess,
    FilterBoxes,
    GetRotateCropImage,
    SortedBoxes,
)
from generator.runtime.reader.ocr_reader import OCRReader
from generator.runtime.reader.senta_reader import SentaReader
from generator.runtime.reader.unavailable import ReaderNotAvailableError
from generator.runtime.reader.video_reader import (
    Image2Array,
    Normalization,
    Sampler,
    Scale,
    TenCrop,
    VideoDecoder,
)

__all__ = [
    "BGR2RGB",
    "Base64ToImage",
    "BlazeFacePostprocess",
    "CenterCrop",
    "ChineseBertReader",
    "DBPostProcess",
    "DetectionBGR2RGB",
    "DetectionDiv",
    "DetectionFile2Image",
    "DetectionNormalize",
    "DetectionPadStride",
    "DetectionResize",
    "DetectionSequential",
    "DetectionTranspose",
    "Div",
    "File2Image",
    "FilterBoxes",
    "GetRotateCropImage",
    "IMDBDataset",
    "Image2Array",
    "ImageReader",
    "LACReader",
    "Lambda",
    "Normalization",
    "Normalize",
    "OCRReader",
    "PadStride",
    "RCNNPostprocess",
    "RGB2BGR",
    "ReaderNotAvailableError",
    "Resize",
    "ResizeByFactor",
    "Sampler",
    "Scale",
    "SegPostprocess",
    "SentaReader",
    "Sequential",
    "SortedBoxes",
    "String2Image",
    "TenCrop",
    "Transpose",
    "URL2Image",
    "URLFetchNotAllowedError",
    "VideoDecoder",
]
