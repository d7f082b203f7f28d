"""The smaller `paddle_serving_app.reader` modules give what the 0.9.0 wheel's own code gives:
`functional`, the `pddet` image transforms and `ocr_reader.BaseRecLabelDecode`; the original
runs as an oracle in a subprocess on the same arrays (saved here with np.save)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from generator.runtime.reader import functional, pddet
from generator.runtime.reader.ocr_reader import BaseRecLabelDecode, CTCLabelDecode
from tests.helpers.serving_app_wheel import app_wheel_dir, run_original

#: name -> expression over `F` (functional), `P` (pddet) and the input image `img` (HWC uint8)
CASES = {
    "transpose": "F.transpose(img, (2, 0, 1))",
    "normalize_hwc": "F.normalize(img, [10, 20, 30], [2, 4, 8], False)",
    "normalize_chw": "F.normalize(img.transpose(2, 0, 1), [10, 20, 30], [2, 4, 8], True)",
    "crop_center": "F.crop(img, 9, True)",
    "resize_short": "F.resize(img, 17)",
    "resize_capped": "F.resize(img, 17, max_size=20)",
    "resize_tuple_nearest": "F.resize(img, (7, 30), interpolation=0)",
    "resize_tuple_area": "F.resize(img, (7, 30), interpolation=3)",
    "pddet_resize_square": "P.Resize(24)(img)[0]",
    "pddet_resize_capped": "P.Resize(12, max_size=20)(img)[0]",
    "pddet_resize_padded": "P.Resize(12, max_size=20, image_shape=[3, 20, 20])(img)[0]",
    "pddet_resize_pil": "P.Resize(16, use_cv2=False)(img)[0]",
    "pddet_scale": "np.array(P.Resize(12, max_size=20)(img)[1])",
    "pddet_normalize": "P.Normalize([0.5, 0.4, 0.3], [0.2, 0.25, 0.3])(img)",
    "pddet_normalize_chw": "P.Normalize([5, 4, 3], [2, 2, 3], is_scale=False, "
                           "is_channel_first=True)(img.transpose(2, 0, 1).astype('float32'))",
    "pddet_permute_bgr": "P.Permute(to_bgr=True)(img)",
    "pddet_permute_hwc": "P.Permute(channel_first=False)(img)",
    "pddet_pad": "P.PadStride(8)(img.transpose(2, 0, 1).astype('float32'))",
    "pddet_pad_none": "P.PadStride(0)(img.transpose(2, 0, 1).astype('float32'))",
}


@pytest.fixture(scope="module")
def image(tmp_path_factory) -> tuple[Path, np.ndarray]:
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (13, 22, 3), dtype=np.uint8)
    path = tmp_path_factory.mktemp("img") / "img.npy"
    np.save(path, img)
    return path, img


@pytest.fixture(scope="module")
def original(image, tmp_path_factory) -> dict[str, np.ndarray]:
    out = tmp_path_factory.mktemp("oracle") / "out.npz"
    code = f"""
import numpy as np
from paddle_serving_app.reader import functional as F
from paddle_serving_app.reader.pddet import image_tool as P
img = np.load({str(image[0])!r})
cases = {CASES!r}
np.savez({str(out)!r}, **{{k: np.asarray(eval(v)) for k, v in cases.items()}})
print(json.dumps(len(cases)))
"""
    assert run_original(app_wheel_dir(), code) == len(CASES)
    with np.load(out) as data:
        return {k: data[k] for k in data.files}


@pytest.mark.parametrize("name", sorted(CASES))
def test_matches_the_original(name, image, original):
    scope = {"F": functional, "P": pddet, "img": image[1], "np": np}
    ours = np.asarray(eval(CASES[name], scope))  # noqa: S307 - the fixed cases above
    assert ours.dtype == original[name].dtype and ours.shape == original[name].shape
    np.testing.assert_array_equal(ours, original[name])


def test_pddet_errors_are_clear(image):
    with pytest.raises(TypeError, match="use_cv2"):
        pddet.Resize(12, max_size=20, use_cv2=False)(image[1])
    with pytest.raises(ValueError, match="stride"):
        pddet.PadStride(-1)


def test_rec_label_decode_matches_the_original(tmp_path):
    keys = tmp_path / "keys.txt"
    keys.write_text("a\nb\nc\n", encoding="utf-8")
    index = [[1, 1, 0, 2, 3, 3], [3, 0, 3, 2, 2, 1]]
    prob = [[0.5, 0.6, 0.9, 0.7, 0.8, 0.2], [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]]
    config = {"character_type": "ch", "character_dict_path": str(keys)}
    code = f"""
import paddle_serving_app.reader as pkg
from paddle_serving_app.reader import image_reader
for name in ("Sequential", "Resize", "Transpose", "Div", "Normalize"):
    setattr(pkg, name, getattr(image_reader, name))
from paddle_serving_app.reader.ocr_reader import BaseRecLabelDecode, CTCLabelDecode
config = {config!r}
base, ctc = BaseRecLabelDecode(config), CTCLabelDecode(config)
out = {{"base_chars": base.character, "ctc_chars": ctc.character,
       "base": [[t, float(s)] for t, s in base.decode({index!r}, {prob!r})],
       "ctc": [[t, float(s)] for t, s in ctc.decode({index!r}, {prob!r}, True)]}}
print(json.dumps(out))
"""
    expected = run_original(app_wheel_dir(), code)
    base, ctc = BaseRecLabelDecode(config), CTCLabelDecode(config)
    assert base.character == expected["base_chars"] and ctc.character == expected["ctc_chars"]
    got_base = [[t, s] for t, s in base.decode(index, prob)]
    got_ctc = [[t, s] for t, s in ctc.decode(index, prob, True)]
    for got, want in ((got_base, expected["base"]), (got_ctc, expected["ctc"])):
        assert [t for t, _ in got] == [t for t, _ in want]
        assert [s for _, s in got] == pytest.approx([s for _, s in want], rel=1e-6)
