"""The PP-TSN video readers of `paddle_serving_app.reader` (`pptsn_reader`).

    ops = [VideoDecoder(), Sampler(25, 1, valid_mode=True, select_left=True),
           Scale(256, fixed_ratio=True, do_round=True, backend="cv2"), TenCrop(224),
           Image2Array(), Normalization([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])]
    results = {"filename": "video.mp4"}
    for op in ops:
        results = op(results)          # results["imgs"]: float32 (T, C, H, W)

Each operator reads and updates the `results` dict as in Paddle Serving 0.9: `VideoDecoder`
decodes all frames (RGB) with OpenCV, or with `decord` when installed; `Sampler` picks frame
indices (train / valid / dense / linspace / TSM modes) and returns PIL images; `Scale`,
`CenterCrop` and `TenCrop` resize and crop; `Image2Array` stacks to float32 TCHW (or CTHW);
`Normalization` applies `(x / 255 - mean) / std`.

Not here: the `pyav` backend (TimeSformer, needs PyAV) and the "MRI" format (SimpleITK) raise
`ReaderNotAvailableError`. Differences: frame offsets are always ints (Paddle Serving's float
indices failed in degenerate cases; `np.int` is gone from NumPy); `Normalization` also takes
numpy mean/std; `Scale` takes PIL frames and arrays with either backend.
"""

from __future__ import annotations

import os
import random
from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np
from PIL import Image

from generator.runtime.reader.unavailable import ReaderNotAvailableError

__all__ = ["CenterCrop", "Image2Array", "Normalization", "Sampler", "Scale", "TenCrop",
           "VideoDecoder"]

Results = dict[str, Any]


def _needs(feature: str, package: str) -> ReaderNotAvailableError:
    return ReaderNotAvailableError(
        f"{feature} needs the {package} package, which this runtime does not provide")


class VideoDecoder:
    """Decode `results["filename"]` into RGB frames (`frames`, `frames_len`)."""

    def __init__(self, backend: str = "cv2", mode: str = "train", sampling_rate: int = 32,
                 num_seg: int = 8, num_clips: int = 1, target_fps: int = 30) -> None:
        self.backend = backend
        self.mode = mode
        self.sampling_rate = sampling_rate
        self.num_seg = num_seg
        self.num_clips = num_clips
        self.target_fps = target_fps

    def __call__(self, results: Results) -> Results:
        path = results["filename"]
        results["format"] = "video"
        results["backend"] = self.backend
        if self.backend == "cv2":
            if not os.path.isfile(path):
                raise FileNotFoundError(f"VideoDecoder: no video file {path!r}")
            capture = cv2.VideoCapture(path)
            frames = []
            for _ in range(int(capture.get(cv2.CAP_PROP_FRAME_COUNT))):
                ok, frame = capture.read()
                if ok:  # the first frames may be empty
                    frames.append(frame[:, :, ::-1])
            capture.release()
            results["frames"] = frames
            results["frames_len"] = len(frames)
        elif self.backend == "decord":
            try:
                import decord
            except ImportError:
                raise _needs("VideoDecoder(backend='decord')", "decord") from None
            container = decord.VideoReader(path)
            results["frames"] = container
            results["frames_len"] = len(container)
        elif self.backend == "pyav":
            raise ReaderNotAvailableError(
                "VideoDecoder(backend='pyav') (TimeSformer clip decoding) is not provided: it "
                "needs PyAV (av); use backend='cv2'")
        else:
            raise NotImplementedError(f"VideoDecoder backend {self.backend!r}")
        return results


class Sampler:
    """Choose `num_seg` x `seg_len` frame indices and load those frames as PIL images
    (`results["imgs"]`). Modes as in PaddleVideo: `frame_interval` clips, `linspace_sample`,
    `dense_sample` (ppTSM), TSN segments, or `select_left` (TSM); `valid_mode` is the
    deterministic test-time choice."""

    def __init__(self, num_seg: int, seg_len: int, frame_interval: int | None = None,
                 valid_mode: bool = False, select_left: bool = False, dense_sample: bool = False,
                 linspace_sample: bool = False, use_pil: bool = True) -> None:
        self.num_seg = num_seg
        self.seg_len = seg_len
        self.frame_interval = frame_interval
        self.valid_mode = valid_mode
        self.select_left = select_left
        self.dense_sample = dense_sample
        self.linspace_sample = linspace_sample
        self.use_pil = use_pil

    # ------------------------------------------------------------ loading
    def _get(self, frames_idx: Any, results: Results) -> Results:
        fmt = results["format"]
        if fmt == "frame":
            imgs: Any = [Image.open(os.path.join(results["frame_dir"],
                                                 results["suffix"].format(idx))).convert("RGB")
                         for idx in frames_idx]
        elif fmt == "MRI":
            raise _needs("Sampler on the 'MRI' format", "SimpleITK")
        elif fmt == "video" and results["backend"] == "cv2":
            frames = np.array(results["frames"])
            imgs = [Image.fromarray(np.ascontiguousarray(frames[idx])) for idx in frames_idx]
        elif fmt == "video" and results["backend"] == "decord":
            container = results["frames"]
            if self.use_pil:
                batch = container.get_batch(frames_idx).asnumpy()
                imgs = [Image.fromarray(frame) for frame in batch]
            else:
                idx = np.asarray(frames_idx)
                idx = np.squeeze(idx) if idx.ndim != 1 else idx
                cache = {i: container[int(i)].asnumpy() for i in np.unique(idx)}
                imgs = [cache[i] for i in idx]
        else:
            raise NotImplementedError(f"Sampler: format {fmt!r} with backend "
                                      f"{results.get('backend')!r}")
        results["imgs"] = imgs
        return results

    def _indices(self, offsets: Any, fmt: str, frames_len: int) -> list[int]:
        offsets = [int(x) for x in offsets]
        if fmt == "video":
            return [x % frames_len for x in offsets]
        if fmt == "frame":
            return [x + 1 for x in offsets]
        if fmt == "MRI":
            return offsets
        raise NotImplementedError(f"Sampler: format {fmt!r}")

    # ------------------------------------------------------- clip offsets
    def _train_clips(self, num_frames: int) -> np.ndarray:
        span = self.seg_len * self.frame_interval
        avg = (num_frames - span + 1) // self.num_seg
        if avg > 0:
            return np.arange(self.num_seg) * avg + np.random.randint(avg, size=self.num_seg)
        if num_frames > max(self.num_seg, span):
            return np.sort(np.random.randint(num_frames - span + 1, size=self.num_seg))
        if avg == 0:
            ratio = (num_frames - span + 1.0) / self.num_seg
            return np.around(np.arange(self.num_seg) * ratio).astype(int)
        return np.zeros(self.num_seg, dtype=int)

    def _test_clips(self, num_frames: int) -> np.ndarray:
        span = self.seg_len * self.frame_interval
        avg = (num_frames - span + 1) / float(self.num_seg)
        if num_frames > span - 1:
            return (np.arange(self.num_seg) * avg + avg / 2.0).astype(int)
        return np.zeros(self.num_seg, dtype=int)

    def _segment_starts(self, frames_len: int) -> list[int]:
        avg = int(frames_len / self.num_seg)
        starts = []
        for i in range(self.num_seg):
            if avg >= self.seg_len:
                offset = (avg - 1) // 2 if self.valid_mode else random.randint(0, avg - self.seg_len)
                starts.append(offset + i * avg)
            elif avg >= 1:
                starts.append(i * avg)
            else:
                starts.append(i)
        return starts

    def _dense(self, frames_len: int) -> list[int]:
        sample_pos = max(1, 1 + frames_len - 64)
        stride = 64 // self.num_seg
        if self.valid_mode:
            starts = np.linspace(0, sample_pos - 1, num=10, dtype=int).tolist()
        else:
            starts = [0 if sample_pos == 1 else np.random.randint(0, sample_pos - 1)]
        return [(i * stride + start) % frames_len + 1 for start in starts
                for i in range(self.num_seg)]

    def _tsm(self, frames_len: int) -> np.ndarray:
        avg = int(frames_len / self.num_seg)
        if self.valid_mode:
            if frames_len > self.num_seg:
                step = frames_len / self.num_seg
                return np.array([int(step / 2.0 + step * x) for x in range(self.num_seg)])
            return np.zeros(self.num_seg, dtype=int)
        if avg > 0:
            return np.arange(self.num_seg) * avg + np.random.randint(avg, size=self.num_seg)
        if frames_len > self.num_seg:
            return np.sort(np.random.randint(frames_len, size=self.num_seg))
        return np.zeros(self.num_seg, dtype=int)

    def __call__(self, results: Results) -> Results:
        frames_len = int(results["frames_len"])
        fmt = results["format"]
        if self.frame_interval is not None:
            if not isinstance(self.frame_interval, int):
                raise TypeError("Sampler: frame_interval must be an int")
            starts = self._test_clips(frames_len) if self.valid_mode else self._train_clips(
                frames_len)
            offsets = (starts[:, None] + np.arange(self.seg_len)[None, :] * self.frame_interval)
            offsets = np.mod(offsets.reshape(-1), frames_len)
            if fmt == "video":
                return self._get(offsets, results)
            if fmt == "frame":
                return self._get(list(offsets + 1), results)
            raise NotImplementedError(f"Sampler: format {fmt!r} with frame_interval")
        if self.linspace_sample:
            lo, hi = ((results["start_idx"], results["end_idx"])
                      if "start_idx" in results and "end_idx" in results else (0, frames_len - 1))
            offsets = np.clip(np.linspace(lo, hi, self.num_seg), 0, frames_len - 1).astype(np.int64)
            return self._get(self._indices(offsets, fmt, frames_len), results)
        if self.select_left:
            return self._get(self._indices(self._tsm(frames_len), fmt, frames_len), results)
        if self.dense_sample:
            return self._get(self._dense(frames_len), results)
        if fmt not in ("video", "frame", "MRI"):
            raise NotImplementedError(f"Sampler: format {fmt!r}")
        offsets = [jj for start in self._segment_starts(frames_len)
                   for jj in range(start, start + self.seg_len)]
        return self._get(self._indices(offsets, fmt, frames_len), results)


def _is_paddle_tensor(value: Any) -> bool:
    return type(value).__module__.startswith("paddle") and type(value).__name__ == "Tensor"


def _corner(size: int, target: int, do_round: bool) -> int:
    return int(round((size - target) / 2.0)) if do_round else (size - target) // 2


class CenterCrop:
    """Centre square crop of each frame (PIL images, or HWC arrays with backend='cv2'; an NCHW
    paddle Tensor is cropped as a whole)."""

    def __init__(self, target_size: int, do_round: bool = True, backend: str = "pillow") -> None:
        self.target_size = target_size
        self.do_round = do_round
        self.backend = backend

    def __call__(self, results: Results) -> Results:
        imgs = results["imgs"]
        size = self.target_size
        if _is_paddle_tensor(imgs):
            h, w = imgs.shape[-2:]
            x1, y1 = _corner(w, size, self.do_round), _corner(h, size, self.do_round)
            results["imgs"] = imgs[:, :, y1:y1 + size, x1:x1 + size]
            return results
        cropped = []
        for img in imgs:
            if self.backend == "pillow":
                w, h = img.size
            elif self.backend == "cv2":
                h, w = img.shape[:2]
            else:
                raise NotImplementedError(f"CenterCrop backend {self.backend!r}")
            if w < size or h < size:
                raise ValueError(f"CenterCrop: image width ({w}) and height ({h}) must be at "
                                 f"least the crop size {size}")
            x1, y1 = _corner(w, size, self.do_round), _corner(h, size, self.do_round)
            cropped.append(img[y1:y1 + size, x1:x1 + size] if self.backend == "cv2"
                           else img.crop((x1, y1, x1 + size, y1 + size)))
        results["imgs"] = cropped
        return results


class Scale:
    """Resize each frame so its short side is `short_size`; with `fixed_ratio` the long side
    becomes `int(short_size * 4 / 3)`, with neither `fixed_ratio` nor `keep_ratio` it becomes
    `short_size` too. The `keep_ratio` arithmetic is Paddle Serving's (including its `w / h`
    factor for the side it does not round)."""

    def __init__(self, short_size: int, fixed_ratio: bool = True, keep_ratio: bool | None = None,
                 do_round: bool = False, backend: str = "pillow") -> None:
        if fixed_ratio and keep_ratio:
            raise ValueError("Scale: fixed_ratio and keep_ratio cannot be true at the same time")
        if backend not in ("pillow", "cv2"):
            raise ValueError(f"Scale's backend must be pillow or cv2, but got {backend!r}")
        self.short_size = short_size
        self.fixed_ratio = fixed_ratio
        self.keep_ratio = keep_ratio
        self.do_round = do_round
        self.backend = backend

    def _size(self, w: int, h: int) -> tuple[int, int]:
        s = self.short_size
        if self.fixed_ratio or not self.keep_ratio:
            long_side = int(s * 4.0 / 3.0) if self.fixed_ratio else s
            return (s, long_side) if w <= h else (long_side, s)
        factor = s / w if w <= h else s / h
        if self.do_round:
            return int(w * factor + 0.5), int(h * factor + 0.5)
        return int(w * s / h), int(h * s / w)

    def __call__(self, results: Results) -> Results:
        resized = []
        for img in results["imgs"]:
            if isinstance(img, np.ndarray):
                h, w = img.shape[:2]
            elif isinstance(img, Image.Image):
                w, h = img.size
            else:
                raise NotImplementedError(f"Scale: frames must be PIL images or arrays, "
                                          f"found {type(img).__name__}")
            size = self._size(w, h)
            if self.backend == "pillow":
                pil = img if isinstance(img, Image.Image) else Image.fromarray(img)
                resized.append(pil.resize(size, Image.Resampling.BILINEAR))
            elif self.keep_ratio is not None:
                resized.append(cv2.resize(np.asarray(img), size, interpolation=cv2.INTER_LINEAR))
            else:
                resized.append(Image.fromarray(
                    cv2.resize(np.asarray(img), size, interpolation=cv2.INTER_LINEAR)))
        results["imgs"] = resized
        return results


class Image2Array:
    """Stack the frames into a float32 array, transposed from THWC to TCHW (or CTHW)."""

    def __init__(self, transpose: bool = True, data_format: str = "tchw") -> None:
        if data_format not in ("tchw", "cthw"):
            raise ValueError(f"Target format must be in ['tchw', 'cthw'], but got {data_format!r}")
        self.transpose = transpose
        self.data_format = data_format

    def __call__(self, results: Results) -> Results:
        imgs = results["imgs"]
        if results.get("backend") != "pyav":
            imgs = np.stack([np.asarray(img) for img in imgs]).astype("float32")
        if self.transpose:
            imgs = imgs.transpose((0, 3, 1, 2) if self.data_format == "tchw" else (3, 0, 1, 2))
        results["imgs"] = imgs
        return results


class Normalization:
    """`(imgs / 255 - mean) / std` with mean/std shaped `tensor_shape`; `inplace=True` takes a
    list of HWC frames and returns (N, H, W, C) float32 `(frame - mean) / std` (no /255)."""

    def __init__(self, mean: Sequence[float] | np.ndarray, std: Sequence[float] | np.ndarray,
                 tensor_shape: Sequence[int] = (3, 1, 1), inplace: bool = False) -> None:
        for what, value in (("Mean", mean), ("Std", std)):
            if not isinstance(value, Sequence | np.ndarray):
                raise TypeError(f"{what} must be list, tuple or np.ndarray, but got {type(value)}")
        self.inplace = inplace
        if inplace:
            self.mean = np.array(mean, dtype=np.float32)
            self.std = np.array(std, dtype=np.float32)
        else:
            self.mean = np.array(mean).reshape(list(tensor_shape)).astype(np.float32)
            self.std = np.array(std).reshape(list(tensor_shape)).astype(np.float32)

    def __call__(self, results: Results) -> Results:
        imgs = results["imgs"]
        if self.inplace:
            stacked = np.stack([np.asarray(img, dtype=np.float32) for img in imgs])
            mean = self.mean.reshape(1, -1).astype(np.float64)
            inv_std = 1.0 / self.std.reshape(1, -1).astype(np.float64)
            results["imgs"] = ((stacked - mean) * inv_std).astype(np.float32)
            return results
        out = imgs / 255.0
        out -= self.mean
        out /= self.std
        results["imgs"] = out
        return results


class TenCrop:
    """Four corner crops and the centre crop of every PIL frame, each followed by its mirror:
    10 x the frames, in the order corner/centre crops of all frames, then their flips."""

    def __init__(self, target_size: int) -> None:
        self.target_size = (target_size, target_size)

    def __call__(self, results: Results) -> Results:
        imgs = results["imgs"]
        img_w, img_h = imgs[0].size
        crop_w, crop_h = self.target_size
        w_step, h_step = (img_w - crop_w) // 4, (img_h - crop_h) // 4
        offsets = [(0, 0), (4 * w_step, 0), (0, 4 * h_step), (4 * w_step, 4 * h_step),
                   (2 * w_step, 2 * h_step)]
        crops: list[Image.Image] = []
        for x, y in offsets:
            window = [img.crop((x, y, x + crop_w, y + crop_h)) for img in imgs]
            crops.extend(window)
            crops.extend(c.transpose(Image.Transpose.FLIP_LEFT_RIGHT) for c in window)
        results["imgs"] = crops
        return results
