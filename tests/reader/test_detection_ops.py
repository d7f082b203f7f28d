from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from generator.runtime import reader as R


def test_detection_resize_exact_target():
    img = np.zeros((300, 400, 3), np.uint8)
    out, info = R.DetectionResize([608, 608], keep_ratio=False)(img, R.detection_ops.new_im_info())
    assert out.shape == (608, 608, 3)
    assert info["im_shape"].dtype == np.float32 and info["im_shape"].tolist() == [608, 608]
    np.testing.assert_array_equal(info["scale_factor"],
                                  np.array([608 / 300, 608 / 400], np.float32))


def test_detection_resize_keep_ratio_rules():
    resize = R.DetectionResize([800, 1333], keep_ratio=True)
    out, info = resize(np.zeros((300, 400, 3), np.uint8), {})
    # s = 800 / 300; long side 400 * s = 1066.7 <= 1333
    assert out.shape[:2] == (800, 1067) and info["im_shape"].tolist() == [800, 1067]
    assert info["scale_factor"].tolist() == pytest.approx([800 / 300] * 2, rel=1e-6)
    out, info = resize(np.zeros((100, 1000, 3), np.uint8), {})
    # 1000 * 8 > 1333 -> s = 1333 / 1000
    assert out.shape[:2] == (133, 1333)
    assert info["scale_factor"].tolist() == pytest.approx([1.333, 1.333], rel=1e-6)


def test_detection_sequential_file_to_chw(png_path, bgr_image):
    seq = R.DetectionSequential([
        R.DetectionFile2Image(), R.DetectionResize(160, keep_ratio=False),
        R.DetectionNormalize([0.5, 0.5, 0.5], [0.5, 0.5, 0.5], is_scale=True),
        R.DetectionTranspose((2, 0, 1)), R.DetectionPadStride(0)])
    im, info = seq(str(png_path))
    assert im.shape == (3, 160, 160) and im.dtype == np.float32
    assert info["im_shape"].tolist() == [160, 160]
    assert info["scale_factor"].tolist() == pytest.approx([160 / 240, 160 / 320])
    rgb = cv2.cvtColor(bgr_image, cv2.COLOR_BGR2RGB)
    expected = cv2.resize(rgb, None, None, fx=0.5, fy=160 / 240).astype(np.float32) / 255.0
    np.testing.assert_allclose(im, ((expected - 0.5) / 0.5).transpose(2, 0, 1), atol=1e-6)


def test_detection_pad_stride_and_div_keep_im_info():
    info = {"im_shape": np.array([5, 7], np.float32), "scale_factor": np.ones(2, np.float32)}
    im, out_info = R.DetectionPadStride(32)(np.ones((3, 5, 7), np.float32), info)
    assert im.shape == (3, 32, 32) and out_info is info
    im, out_info = R.DetectionPadStride(0)(np.ones((3, 5, 7), np.float32), info)
    assert im.shape == (3, 5, 7) and out_info is info  # a pair, also for stride 0
    im, _ = R.DetectionDiv(2.0)(np.full((1, 1, 3), 3, np.uint8), info)
    assert im.tolist() == [[[1.5, 1.5, 1.5]]]
    im, _ = R.DetectionBGR2RGB()(np.array([[[1, 2, 3]]], np.uint8), info)
    assert im.tolist() == [[[3, 2, 1]]]


@pytest.fixture
def label_file(tmp_path):
    path = tmp_path / "label_list.txt"
    path.write_text("person\ncar\ndog\n")
    return path


FETCH = {
    "multiclass_nms3_0.tmp_0": np.array([[0, 0.9, 10, 20, 50, 80], [2, 0.5, 0, 0, 9, 9]],
                                        np.float32),
    "multiclass_nms3_0.tmp_0.lod": np.array([0, 1, 2]),
}


def test_rcnn_postprocess_compatible_xywh(label_file, tmp_path):
    post = R.RCNNPostprocess(str(label_file), str(tmp_path / "out"))
    res = post(dict(FETCH), visualize=False)
    assert res == [{"category_id": 0, "bbox": [10.0, 20.0, 41.0, 61.0],
                    "score": pytest.approx(0.9)},
                   {"category_id": 2, "bbox": [0.0, 0.0, 10.0, 10.0],
                    "score": pytest.approx(0.5)}]


def test_rcnn_postprocess_correct_options(label_file, tmp_path):
    post = R.RCNNPostprocess(label_file, tmp_path, pixel_inclusive_wh=False,
                             scale_to_original=True)
    with pytest.raises(ValueError, match="scale_factor"):
        post(dict(FETCH), visualize=False)
    res = post(dict(FETCH), visualize=False, scale_factor=[[2.0, 0.5], [1.0, 1.0]])
    # image 0: x / 0.5, y / 2 -> (20, 10, 100, 40) -> w 80, h 30
    assert res[0]["bbox"] == pytest.approx([20.0, 10.0, 80.0, 30.0])
    assert res[1]["bbox"] == pytest.approx([0.0, 0.0, 9.0, 9.0])


def test_rcnn_postprocess_modern_outputs_and_visualize(label_file, tmp_path, png_path):
    fetch = {"image": str(png_path), "bbox_num": np.array([2], np.int32),
             "bbox": FETCH["multiclass_nms3_0.tmp_0"]}
    post = R.RCNNPostprocess(label_file, tmp_path / "vis")
    res = post(fetch, visualize=True)
    assert [r["category_id"] for r in res] == [0, 2]
    assert (tmp_path / "vis" / png_path.name).is_file()
    assert json.loads((tmp_path / "vis" / "bbox.json").read_text())[0]["bbox"] == \
        [10.0, 20.0, 41.0, 61.0]


def test_blazeface_postprocess_normalised(label_file, tmp_path):
    fetch = {"im_shape": np.array([[100, 200]]),
             "detection_output_0.tmp_0": np.array([[0, 0.8, 0.1, 0.2, 0.5, 1.2]], np.float32),
             "detection_output_0.tmp_0.lod": np.array([0, 1])}
    res = R.BlazeFacePostprocess(label_file, tmp_path)(fetch, visualize=False)
    assert res[0]["bbox"] == pytest.approx([20.0, 20.0, 80.0, 80.0])


def test_seg_postprocess_writes_mask_and_colour(tmp_path, bgr_image):
    img_path = tmp_path / "scene.png"
    cv2.imwrite(str(img_path), bgr_image)
    mask = np.zeros((1, 60, 80), np.int64)
    mask[0, 10:20, 10:30] = 2
    paths = R.SegPostprocess(3)({"filename": str(img_path), "save_infer_model/scale_0": mask})
    saved = cv2.imread(paths["mask"], cv2.IMREAD_UNCHANGED)
    assert saved.shape == (60, 80) and saved[15, 15] == 2 and saved[0, 0] == 0
    colour = cv2.imread(paths["result"])
    assert colour.shape == (240, 320, 3)
    assert R.detection_post.generate_colormap(3) == [[0, 0, 0], [128, 0, 0], [0, 128, 0]]
