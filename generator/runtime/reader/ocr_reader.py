"""Paddle Serving's `OCRReader` (CRNN recognition pre/post-processing) and the CTC decoders.

Character sets: `char_type="en"` is `0-9a-z` (no dictionary file); `"EN_symbol"` the 94
printable ASCII characters; every other supported type reads `char_dict_path` (one character per
line, UTF-8) and appends a space. CTC index 0 is the blank.

Differences from Paddle Serving, all in results' favour: scores are Python floats (NumPy 2
would print `np.float32(...)` inside `str(result)`, which clients that `eval` results cannot
read), and a line with no recognised character scores 0.0 instead of NaN."""

from __future__ import annotations

import math
import os
import string
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from generator import imaging

__all__ = ["BaseRecLabelDecode", "CTCLabelDecode", "CharacterOps", "OCRReader", "OCR_V2_FETCH"]

#: The fetch name PaddleOCR's converted recognition models use.
OCR_V2_FETCH = "save_infer_model/scale_0.tmp_1"

SUPPORTED_CHARACTER_TYPES = (
    "ch", "en", "EN_symbol", "french", "german", "japan", "korean", "it", "xi", "pu", "ru",
    "ar", "ta", "ug", "fa", "ur", "rs", "oc", "rsc", "bg", "uk", "be", "te", "ka",
    "chinese_cht", "hi", "mr", "ne", "EN",
)


def read_character_dict(path: str | os.PathLike[str] | None) -> list[str]:
    """One entry per line of a UTF-8 dictionary file (line endings stripped)."""
    if path is None:
        raise ValueError("a character dictionary file is needed for this char_type: pass "
                         "char_dict_path (e.g. ppocr_keys_v1.txt)")
    try:
        with open(path, "rb") as fh:
            text = fh.read().decode("utf-8")
    except OSError as exc:
        raise FileNotFoundError(f"cannot read the OCR character dictionary "
                                f"{os.fspath(path)!r}: {exc}") from exc
    return list("".join(line.strip("\r\n") for line in text.split("\n")))


class CharacterOps:
    """Text <-> index conversion of the legacy (LoD) CTC recognisers: `ch` reads the
    dictionary (no space added), `en` is `0-9a-z`; index `len(characters)` is the blank."""

    def __init__(self, config: Mapping[str, Any]):
        self.character_type = config["character_type"]
        self.loss_type = config.get("loss_type", "ctc")
        if self.character_type == "en":
            chars = list("0123456789abcdefghijklmnopqrstuvwxyz")
        elif self.character_type == "ch":
            chars = read_character_dict(config.get("character_dict_path"))
        elif self.character_type == "en_sensitive":
            chars = list(string.printable[:-6])
        else:
            raise ValueError(f"CharacterOps does not support character_type "
                             f"{self.character_type!r}; use 'ch', 'en' or 'en_sensitive'")
        if self.loss_type == "attention":
            chars = ["sos", "eos"] + chars
        self.character = chars
        self.dict = {c: i for i, c in enumerate(chars)}

    def encode(self, text: str) -> np.ndarray:
        """Indices of the known characters of `text` (lower-cased for `en`)."""
        if self.character_type == "en":
            text = text.lower()
        return np.array([self.dict[c] for c in text if c in self.dict])

    def get_char_num(self) -> int:
        return len(self.character)

    def decode(self, text_index: Sequence[int], is_remove_duplicate: bool = False) -> str:
        """Indices -> text, skipping the blank (and repeats when asked)."""
        ignored = {0, 1} if self.loss_type == "attention" else {self.get_char_num()}
        chars = []
        for idx in range(len(text_index)):
            if int(text_index[idx]) in ignored:
                continue
            if is_remove_duplicate and idx > 0 and text_index[idx - 1] == text_index[idx]:
                continue
            chars.append(self.character[int(text_index[idx])])
        return "".join(chars)


class BaseRecLabelDecode:
    """Text-index <-> text conversion over the character list of `config` (`character_type`,
    `character_dict_path`); `add_special_char` lets subclasses add tokens such as the blank."""

    def __init__(self, config: Mapping[str, Any]):
        character_type = config["character_type"]
        if character_type not in SUPPORTED_CHARACTER_TYPES:
            raise ValueError(f"character_type {character_type!r} is not supported; use one of "
                             f"{list(SUPPORTED_CHARACTER_TYPES)}")
        if character_type == "en":
            chars = list("0123456789abcdefghijklmnopqrstuvwxyz")
        elif character_type == "EN_symbol":
            chars = list(string.printable[:-6])
        else:
            chars = read_character_dict(config.get("character_dict_path")) + [" "]
        self.character_type = character_type
        self.character = self.add_special_char(chars)
        self.dict = {c: i for i, c in enumerate(self.character)}

    def add_special_char(self, dict_character: list[str]) -> list[str]:
        """The full character list (the base class adds nothing)."""
        return dict_character

    def get_ignored_tokens(self) -> list[int]:
        return [0]

    def decode(self, text_index: Any, text_prob: Any = None,
               is_remove_duplicate: bool = False) -> list[tuple[str, float]]:
        """Per row of `text_index` [N, T]: (text, mean confidence)."""
        ignored = set(self.get_ignored_tokens())
        results = []
        for b in range(len(text_index)):
            row = [int(v) for v in text_index[b]]
            chars, confs = [], []
            for idx, token in enumerate(row):
                if token in ignored:
                    continue
                if is_remove_duplicate and idx > 0 and row[idx - 1] == token:
                    continue
                if token >= len(self.character):
                    raise IndexError(f"CTC index {token} is outside the dictionary of "
                                     f"{len(self.character)} entries; the "
                                     "dictionary file does not match the model")
                chars.append(self.character[token])
                confs.append(float(text_prob[b][idx]) if text_prob is not None else 1.0)
            results.append(("".join(chars), float(np.mean(confs)) if confs else 0.0))
        return results


class CTCLabelDecode(BaseRecLabelDecode):
    """Greedy CTC decoding of `[N, T, C]` probabilities: argmax per step, repeats merged, blank
    (index 0) dropped; score = mean probability of the kept steps."""

    def add_special_char(self, dict_character: list[str]) -> list[str]:
        """The CTC blank first, then the characters."""
        return ["blank", *dict_character]

    def __call__(self, preds: np.ndarray, label: Any = None) -> Any:
        preds = np.asarray(preds)
        text = self.decode(preds.argmax(axis=2), preds.max(axis=2), is_remove_duplicate=True)
        if label is None:
            return text
        return text, self.decode(label)


class OCRReader:
    """CRNN text recogniser pre/post-processing (PaddleOCR, as shipped in Paddle Serving)."""

    def __init__(self, algorithm: str = "CRNN", image_shape: Sequence[int] = (3, 32, 320),
                 char_type: str = "ch", batch_num: int = 1,
                 char_dict_path: str | os.PathLike[str] | None = "./ppocr_keys_v1.txt"):
        self.algorithm = algorithm
        self.rec_image_shape = list(image_shape)
        self.character_type = char_type
        self.rec_batch_num = batch_num
        params = {"character_type": char_type, "character_dict_path": char_dict_path,
                  "loss_type": "ctc"}
        self.char_ops = (CharacterOps(params) if char_type in ("ch", "en", "en_sensitive")
                         else None)
        self.label_ops = CTCLabelDecode(params)

    def resize_norm_img(self, img: np.ndarray, max_wh_ratio: float) -> np.ndarray:
        """HWC image -> CHW float32 `(x / 255 - 0.5) / 0.5`, height `image_shape[1]`, width
        `ceil(H * w / h)` capped at the batch width (for `ch`: `int(32 * max_wh_ratio)`), zero
        padded on the right to the batch width."""
        img_c, img_h, img_w = self.rec_image_shape
        if self.character_type == "ch":
            img_w = int(32 * max_wh_ratio)
        h, w = img.shape[:2]
        ratio = w / float(h)
        resized_w = img_w if math.ceil(img_h * ratio) > img_w else int(math.ceil(img_h * ratio))
        resized = imaging.resize_to(img, resized_w, img_h)
        chw = resized.astype(np.float32).transpose((2, 0, 1)) / 255
        chw -= 0.5
        chw /= 0.5
        padded = np.zeros((img_c, img_h, img_w), dtype=np.float32)
        padded[:, :, 0:resized_w] = chw
        return padded

    def preprocess(self, img_list: Sequence[np.ndarray]) -> np.ndarray:
        """Normalise the images to the batch's widest ratio; returns the FIRST one (CHW), as
        Paddle Serving did."""
        max_wh_ratio = max(im.shape[1] * 1.0 / im.shape[0] for im in img_list)
        batch = np.stack([self.resize_norm_img(im, max_wh_ratio) for im in img_list])
        return batch[0].copy()

    def postprocess(self, outputs: Mapping[str, Any], with_score: bool = False) -> list[list[Any]]:
        """Legacy LoD recogniser outputs (`ctc_greedy_decoder_0.tmp_0` + `.lod`, optionally
        `softmax_0.tmp_0`) -> `[[text], ...]` or `[[text, score], ...]`."""
        if self.char_ops is None:
            raise ValueError(f"postprocess (legacy LoD models) supports char_type ch/en only, "
                             f"not {self.character_type!r}; use postprocess_ocrv2")
        rec_idx_lod = np.asarray(outputs["ctc_greedy_decoder_0.tmp_0.lod"]).reshape(-1)
        rec_idx_batch = np.asarray(outputs["ctc_greedy_decoder_0.tmp_0"])
        results: list[list[Any]] = []
        for rno in range(len(rec_idx_lod) - 1):
            beg, end = int(rec_idx_lod[rno]), int(rec_idx_lod[rno + 1])
            text = self.char_ops.decode(rec_idx_batch[beg:end].reshape(end - beg, -1)[:, 0])
            if not with_score:
                results.append([text])
                continue
            lod = np.asarray(outputs["softmax_0.tmp_0.lod"]).reshape(-1)
            probs = np.asarray(outputs["softmax_0.tmp_0"], dtype=np.float32)
            probs = probs[int(lod[rno]):int(lod[rno + 1]), :]
            ind = np.argmax(probs, axis=1)
            valid = np.where(ind != (probs.shape[1] - 1))[0]
            score = float(np.mean(probs[valid, ind[valid]])) if valid.size else 0.0
            results.append([text, score])
        return results

    def postprocess_ocrv2(self, outputs: Mapping[str, Any], with_score: bool = False,
                          fetch_name: str = OCR_V2_FETCH) -> list[tuple[str, float]]:
        """PP-OCRv2+ recogniser output `[N, T, C]` -> `[(text, score), ...]` (score always
        included, as in Paddle Serving). When `fetch_name` is absent and the dict holds exactly
        one 3-D array, that one is used."""
        if fetch_name in outputs:
            preds = outputs[fetch_name]
        else:
            three_d = [k for k, v in outputs.items() if np.ndim(v) == 3]
            if len(three_d) != 1:
                raise KeyError(f"recognition output {fetch_name!r} not in the fetch dict (keys "
                               f"{sorted(outputs)}); pass fetch_name=")
            preds = outputs[three_d[0]]
        preds = np.asarray(preds.numpy() if hasattr(preds, "numpy") else preds)
        return self.label_ops.decode(preds.argmax(axis=2), preds.max(axis=2),
                                     is_remove_duplicate=True)
