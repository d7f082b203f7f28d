"""Paddle Serving's detection and segmentation post-processors: `RCNNPostprocess`,
`BlazeFacePostprocess`, `SegPostprocess`.

Compatibility notes (defaults keep Paddle Serving's behaviour; options give the correct one):

* `RCNNPostprocess` reports `[x, y, w, h]` with `w = x2 - x1 + 1` (a pixel-inclusive width that
  the exported detectors' continuous coordinates do not use). `pixel_inclusive_wh=False` gives
  `w = x2 - x1`.
* Boxes are in whatever coordinates the model returned. Paddle Serving's detection examples fed
  `scale_factor = 1` after a non-aspect-preserving resize, so boxes came back in resized-image
  pixels. `scale_to_original=True` divides the boxes by the `scale_factor` passed to the call
  (or found under the `scale_factor` key of the fetch dict) to give original-image pixels; a
  service that feeds the real `scale_factor` to the model (as `DetectionResize` computes it)
  already gets original-image pixels and must not use this option.
* The fetch key is chosen as Paddle Serving does (the last key that is not `image`, `*.lod` or
  `im_shape`), but a `[N, 6]` array is preferred, and per-image counts come from `<key>.lod`
  or, for Paddle 2+/3 exports without LoD, from an integer `bbox_num`-like 1-D fetch.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from typing import Any

import cv2
import numpy as np

__all__ = ["BlazeFacePostprocess", "RCNNPostprocess", "SegPostprocess", "generate_colormap"]


def generate_colormap(num_classes: int) -> list[list[int]]:
    """The PASCAL VOC style palette used by Paddle's visualisers: class i -> [r, g, b] built
    from the bits of i."""
    color_map = []
    for i in range(num_classes):
        rgb = [0, 0, 0]
        lab, j = i, 0
        while lab:
            for c in range(3):
                rgb[c] |= ((lab >> c) & 1) << (7 - j)
            j += 1
            lab >>= 3
        color_map.append(rgb)
    return color_map


def _read_labels(label_file: str | os.PathLike[str]) -> list[str]:
    try:
        with open(label_file, encoding="utf-8") as fh:
            return [line.strip() for line in fh]
    except OSError as exc:
        raise FileNotFoundError(f"cannot read the label file {os.fspath(label_file)!r} (one "
                                f"class name per line): {exc}") from exc


def _offsets_to_lengths(offsets: Sequence[int]) -> list[int]:
    flat = np.asarray(offsets).reshape(-1).tolist()
    return [int(flat[i + 1] - flat[i]) for i in range(len(flat) - 1)]


class RCNNPostprocess:
    """Detection output `[N, 6]` rows `(class_id, score, x1, y1, x2, y2)` -> a list of
    `{"category_id", "bbox": [x, y, w, h], "score"}` over all images of the batch.

    Call as `post(fetch_map, visualize=True, scale_factor=None)`; with `visualize=True` the boxes
    are drawn on the image whose path is `fetch_map["image"]` into `output_dir`, and
    `output_dir/bbox.json` is written."""

    def __init__(self, label_file: str | os.PathLike[str], output_dir: str | os.PathLike[str],
                 resize_shape: Sequence[int] | None = None, *, pixel_inclusive_wh: bool = True,
                 scale_to_original: bool = False):
        self.label_file = label_file
        self.output_dir = os.fspath(output_dir)
        self.resize_shape = resize_shape
        self.pixel_inclusive_wh = pixel_inclusive_wh
        self.scale_to_original = scale_to_original
        self.label_list = _read_labels(label_file)
        self.clsid2catid = {i: i for i in range(len(self.label_list))}
        self.catid2name = dict(enumerate(self.label_list))

    # -- choosing what to read -------------------------------------------------------------
    @staticmethod
    def _fetch_name(fetch_map: Mapping[str, Any]) -> str:
        candidates = [k for k in fetch_map
                      if k != "image" and ".lod" not in k and "im_shape" not in k
                      and k != "scale_factor"]
        if not candidates:
            raise KeyError(f"no detection output among the fetch keys {sorted(fetch_map)}")
        boxes_like = [k for k in candidates
                      if np.ndim(fetch_map[k]) == 2 and np.shape(fetch_map[k])[-1] == 6]
        return (boxes_like or candidates)[-1]

    @staticmethod
    def _lengths(fetch_map: Mapping[str, Any], name: str, n_rows: int) -> list[int]:
        if name + ".lod" in fetch_map:
            return _offsets_to_lengths(fetch_map[name + ".lod"])
        for key, value in fetch_map.items():
            arr = np.asarray(value) if not isinstance(value, str) else None
            if (key != name and arr is not None and arr.ndim == 1
                    and np.issubdtype(arr.dtype, np.integer) and int(arr.sum()) == n_rows):
                return [int(v) for v in arr]
        return [n_rows]

    def _scales(self, fetch_map: Mapping[str, Any], scale_factor: Any,
                n_images: int) -> np.ndarray | None:
        if not self.scale_to_original:
            return None
        if scale_factor is None:
            scale_factor = fetch_map.get("scale_factor")
        if scale_factor is None:
            raise ValueError("RCNNPostprocess(scale_to_original=True) needs the resize factors: "
                             "call it with scale_factor=[scale_y, scale_x] (per image: [[sy, sx], "
                             "...]) or put 'scale_factor' in the fetch dict")
        scales = np.asarray(scale_factor, dtype=np.float64).reshape(-1, 2)
        if scales.shape[0] == 1 and n_images > 1:
            scales = np.repeat(scales, n_images, axis=0)
        if scales.shape[0] != n_images:
            raise ValueError(f"got {scales.shape[0]} scale factors for {n_images} images")
        return scales

    # -- conversion ------------------------------------------------------------------------
    def _to_coco(self, bboxes: np.ndarray, lengths: Sequence[int],
                 scales: np.ndarray | None, im_shape: Any = None) -> list[dict[str, Any]]:
        results: list[dict[str, Any]] = []
        row = 0
        extra = 1 if self.pixel_inclusive_wh else 0
        for image_index, count in enumerate(lengths):
            for _ in range(count):
                clsid, score, xmin, ymin, xmax, ymax = bboxes[row].tolist()
                row += 1
                if scales is not None:
                    sy, sx = scales[image_index]
                    xmin, xmax, ymin, ymax = xmin / sx, xmax / sx, ymin / sy, ymax / sy
                xywh = self._xywh(xmin, ymin, xmax, ymax, extra, im_shape)
                results.append({"category_id": self.clsid2catid.get(int(clsid), int(clsid)),
                                "bbox": xywh, "score": score})
        return results

    def _xywh(self, xmin: float, ymin: float, xmax: float, ymax: float, extra: int,
              im_shape: Any) -> list[float]:
        return [xmin, ymin, xmax - xmin + extra, ymax - ymin + extra]

    def _bbox_result(self, fetch_map: Mapping[str, Any], scale_factor: Any = None,
                     ) -> list[dict[str, Any]]:
        name = self._fetch_name(fetch_map)
        bboxes = np.asarray(fetch_map[name])
        if bboxes.shape == (1, 1) or bboxes.size == 0:
            return []
        bboxes = bboxes.reshape(-1, 6)
        lengths = self._lengths(fetch_map, name, bboxes.shape[0])
        scales = self._scales(fetch_map, scale_factor, len(lengths))
        return self._to_coco(bboxes, lengths, scales, fetch_map.get("im_shape"))

    def __call__(self, image_with_bbox: Mapping[str, Any], visualize: bool = True,
                 scale_factor: Any = None) -> list[dict[str, Any]]:
        result = self._bbox_result(image_with_bbox, scale_factor)
        if not visualize:
            return result
        os.makedirs(self.output_dir, exist_ok=True)
        self.visualize(image_with_bbox["image"], result)
        with open(os.path.join(self.output_dir, "bbox.json"), "w", encoding="utf-8") as fh:
            json.dump(result, fh, indent=4)
        return result

    # -- drawing ---------------------------------------------------------------------------
    def visualize(self, infer_img: str | os.PathLike[str], bbox_results: list[dict[str, Any]],
                  threshold: float = 0.5) -> str:
        """Draw boxes with score >= threshold on the image file; returns the written path."""
        from PIL import Image, ImageDraw

        image = Image.open(infer_img).convert("RGB")
        palette = generate_colormap(max(len(self.label_list), 1))
        draw = ImageDraw.Draw(image)
        img_w, img_h = image.size
        for det in bbox_results:
            if det["score"] < threshold:
                continue
            xmin, ymin, w, h = det["bbox"]
            xmax, ymax = xmin + w, ymin + h
            if self.resize_shape is not None:
                xmin, xmax = xmin * img_w / self.resize_shape[0], xmax * img_w / self.resize_shape[0]
                ymin, ymax = ymin * img_h / self.resize_shape[1], ymax * img_h / self.resize_shape[1]
            color = tuple(palette[det["category_id"] % len(palette)])
            draw.line([(xmin, ymin), (xmin, ymax), (xmax, ymax), (xmax, ymin), (xmin, ymin)],
                      width=2, fill=color)
            text = f"{self.catid2name.get(det['category_id'], det['category_id'])} " \
                   f"{det['score']:.2f}"
            left, top, right, bottom = draw.textbbox((0, 0), text)
            tw, th = right - left, bottom - top
            draw.rectangle([(xmin + 1, ymin - th), (xmin + tw + 1, ymin)], fill=color)
            draw.text((xmin + 1, ymin - th), text, fill=(255, 255, 255))
        out_path = os.path.join(self.output_dir, os.path.basename(os.fspath(infer_img)))
        image.save(out_path, quality=95)
        return out_path

    def __repr__(self) -> str:
        return f"{type(self).__name__}(label_file={self.label_file}, output_dir={self.output_dir})"


class BlazeFacePostprocess(RCNNPostprocess):
    """`RCNNPostprocess` for models returning normalised [0, 1] boxes (BlazeFace): boxes are
    clipped to [0, 1] and multiplied by `fetch_map["im_shape"]` (h, w); `w = x2 - x1`."""

    def _xywh(self, xmin: float, ymin: float, xmax: float, ymax: float, extra: int,
              im_shape: Any) -> list[float]:
        if im_shape is None:
            raise KeyError("BlazeFacePostprocess needs 'im_shape' (h, w) in the fetch dict to "
                           "turn normalised boxes into pixels")
        im_h, im_w = (int(v) for v in np.asarray(im_shape).reshape(-1)[:2])
        xmin, ymin, xmax, ymax = (min(max(v, 0.0), 1.0) for v in (xmin, ymin, xmax, ymax))
        return [xmin * im_w, ymin * im_h, (xmax - xmin) * im_w, (ymax - ymin) * im_h]


class SegPostprocess:
    """Segmentation label map -> `<image>_<ext>_mask.png` (class ids) and `<image>_<ext>_result.png`
    (colour map resized to the original image with INTER_CUBIC), next to the input image.

    Call with a dict holding `filename` (the input image path) and the label-map fetch. Paddle
    Serving reshaped the map to a fixed 512x512; here its own (H, W) is used."""

    def __init__(self, class_num: int):
        self.class_num = class_num

    def colorize(self, mask: np.ndarray) -> np.ndarray:
        """Label map (H, W) -> colour image (H, W, 3) uint8 with `generate_colormap`."""
        palette = np.asarray(generate_colormap(max(self.class_num, 1)), dtype=np.uint8)
        labels = np.asarray(mask).astype(np.int64)
        if labels.size and (labels.min() < 0 or labels.max() >= len(palette)):
            raise ValueError(f"label map has ids outside [0, {self.class_num}); "
                             "check class_num")
        return palette[labels]

    def __call__(self, image_with_result: Mapping[str, Any]) -> dict[str, str]:
        if "filename" not in image_with_result:
            raise KeyError("SegPostprocess needs 'filename' (the input image path) in its input")
        img_name = os.fspath(image_with_result["filename"])
        mask = None
        for key, value in image_with_result.items():
            if ".lod" in key or "filename" in key:
                continue
            mask = value
        if mask is None:
            raise KeyError("SegPostprocess found no label map besides 'filename'")
        ori = cv2.imread(img_name, cv2.IMREAD_UNCHANGED)
        if ori is None:
            raise FileNotFoundError(f"cannot read the input image {img_name!r}")
        labels = np.squeeze(np.asarray(mask)).astype(np.uint8)
        if labels.ndim != 2:
            raise ValueError(f"expected one (H, W) label map, got shape {np.shape(mask)}")
        stem, _, ext = img_name.rpartition(".")
        base = f"{stem}_{ext}" if stem else img_name
        mask_path, result_path = base + "_mask.png", base + "_result.png"
        cv2.imwrite(mask_path, labels)
        color = self.colorize(labels)
        color = cv2.resize(color, (ori.shape[1], ori.shape[0]), interpolation=cv2.INTER_CUBIC)
        cv2.imwrite(result_path, color)
        return {"mask": mask_path, "result": result_path}
