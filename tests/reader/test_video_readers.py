"""PP-TSN video readers (`VideoDecoder`, `Sampler`, `Scale`, `CenterCrop`, `TenCrop`,
`Image2Array`, `Normalization`) give the arrays paddle_serving_app 0.9.0's own `pptsn_reader`
gives on the same small video (written here with OpenCV); the original runs in a subprocess."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from generator.runtime.reader import (
    Image2Array,
    Normalization,
    Sampler,
    Scale,
    TenCrop,
    VideoDecoder,
)
from generator.runtime.reader.unavailable import ReaderNotAvailableError
from generator.runtime.reader.video_reader import CenterCrop
from tests.helpers.serving_app_wheel import app_wheel_dir, run_original

MEAN, STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]

#: name -> the pipeline, as Python source valid with both implementations' names in scope
PIPELINES = {
    "pptsn_example": "[VideoDecoder(), Sampler(8, 1, valid_mode=True, select_left=True), "
                     "Scale(40, fixed_ratio=True, do_round=True, backend='cv2'), TenCrop(32), "
                     "Image2Array(), Normalization(MEAN, STD)]",
    "tsn_segments": "[VideoDecoder(), Sampler(4, 2, valid_mode=True), Scale(36), "
                    "CenterCrop(30), Image2Array(data_format='cthw'), Normalization(MEAN, STD, "
                    "tensor_shape=[3, 1, 1, 1])]",
    "interval_clips": "[VideoDecoder(), Sampler(3, 2, frame_interval=2, valid_mode=True), "
                      "Scale(30, fixed_ratio=False, keep_ratio=True, do_round=True), "
                      "Image2Array(transpose=False)]",
    "linspace": "[VideoDecoder(), Sampler(5, 1, linspace_sample=True), "
                "Scale(32, fixed_ratio=False, keep_ratio=True), "
                "CenterCrop(24, do_round=False), Image2Array()]",
    "dense_valid": "[VideoDecoder(), Sampler(4, 1, valid_mode=True, dense_sample=True), "
                   "Scale(28, fixed_ratio=False), Image2Array()]",
    # on HWC arrays (what decord's use_pil=False gives): cv2 backends, in-place normalisation
    "arrays_cv2": "[Scale(30, fixed_ratio=False, keep_ratio=True, backend='cv2'), "
                  "CenterCrop(20, do_round=False, backend='cv2'), Image2Array()]",
    "arrays_inplace_norm": "[Scale(30, fixed_ratio=False, keep_ratio=True, backend='cv2'), "
                           "Normalization(MEAN, STD, inplace=True)]",
}


def _start(name: str, video: Path) -> dict:
    if name.startswith("arrays"):
        rng = np.random.default_rng(1)
        return {"imgs": [(rng.random((40, 52, 3)) * 255).astype(np.uint8) for _ in range(3)]}
    return {"filename": str(video)}


@pytest.fixture(scope="module")
def video(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("video") / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (48, 40))
    assert writer.isOpened()
    rng = np.random.default_rng(0)
    for i in range(23):
        frame = (rng.random((40, 48, 3)) * 60).astype(np.uint8)
        cv2.rectangle(frame, (2 + i, 5), (20 + i, 30), (40 * (i % 6), 200, 255 - 9 * i), -1)
        writer.write(frame)
    writer.release()
    return path


@pytest.fixture(scope="module")
def original(video, tmp_path_factory) -> dict[str, np.ndarray]:
    out = tmp_path_factory.mktemp("oracle") / "out.npz"
    code = f"""
import numpy as np
np.int = int  # the NumPy 1 alias the original's Sampler uses (removed in NumPy 2)
from paddle_serving_app.reader.pptsn_reader import (VideoDecoder, Sampler, Scale, CenterCrop,
    TenCrop, Image2Array, Normalization)
MEAN, STD = {MEAN!r}, {STD!r}
pipelines = {PIPELINES!r}
arrays = {{}}
for name, source in pipelines.items():
    if name.startswith("arrays"):
        rng = np.random.default_rng(1)
        results = {{"imgs": [(rng.random((40, 52, 3)) * 255).astype(np.uint8) for _ in range(3)]}}
    else:
        results = {{"filename": {str(video)!r}}}
    for op in eval(source):
        results = op(results)
    arrays[name] = np.asarray(results["imgs"])
np.savez({str(out)!r}, **arrays)
print(json.dumps(sorted(arrays)))
"""
    assert run_original(app_wheel_dir(), code) == sorted(PIPELINES)
    with np.load(out) as data:
        return {k: data[k] for k in data.files}


def _run(name: str, video: Path) -> np.ndarray:
    scope = {"VideoDecoder": VideoDecoder, "Sampler": Sampler, "Scale": Scale,
             "CenterCrop": CenterCrop, "TenCrop": TenCrop, "Image2Array": Image2Array,
             "Normalization": Normalization, "MEAN": MEAN, "STD": STD}
    results = _start(name, video)
    for op in eval(PIPELINES[name], scope):  # noqa: S307 - the fixed pipelines above
        results = op(results)
    return np.asarray(results["imgs"])


@pytest.mark.parametrize("name", sorted(PIPELINES))
def test_pipeline_matches_the_original(name, video, original):
    ours = _run(name, video)
    assert ours.shape == original[name].shape and ours.dtype == original[name].dtype
    if name == "arrays_inplace_norm":  # the original normalises with cv2.subtract/multiply in place
        np.testing.assert_allclose(ours, original[name], rtol=1e-5, atol=1e-4)
    else:
        np.testing.assert_array_equal(ours, original[name])


def test_pptsn_example_shape(video):
    imgs = _run("pptsn_example", video)
    assert imgs.shape == (80, 3, 32, 32) and imgs.dtype == np.float32


def test_cv2_scale_also_takes_the_pil_frames_sampler_returns(video):
    # Paddle Serving's Scale(keep_ratio=..., backend="cv2") failed on Sampler's PIL images
    results = Sampler(2, 1, valid_mode=True)(VideoDecoder()({"filename": str(video)}))
    out = Scale(20, fixed_ratio=False, keep_ratio=True, do_round=True, backend="cv2")(results)["imgs"]
    assert [img.shape for img in out] == [(20, 24, 3), (20, 24, 3)]


def test_missing_backends_and_files_are_clear(video, tmp_path):
    with pytest.raises(ReaderNotAvailableError, match="PyAV"):
        VideoDecoder(backend="pyav")({"filename": str(video)})
    with pytest.raises(FileNotFoundError, match="nothing.mp4"):
        VideoDecoder()({"filename": str(tmp_path / "nothing.mp4")})
    with pytest.raises(ValueError, match="at least the crop size"):
        CenterCrop(100, backend="cv2")({"imgs": [np.zeros((40, 48, 3), np.uint8)]})
    with pytest.raises(ValueError, match="cannot be true at the same time"):
        Scale(10, fixed_ratio=True, keep_ratio=True)
