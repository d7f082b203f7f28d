"""YOLOBox decoding and multi-class NMS with the Paddle ops PaddleDetection exports.

`paddle.vision.ops.yolo_box` decodes each level into boxes in original-image pixels (it takes
`origin_shape = int(im_shape / scale_factor)`); `paddle._C_ops.multiclass_nms3` gives
`[N, 6]` rows `[class_id, score, x1, y1, x2, y2]` plus the per-image counts (int32). Both export
to a static model (PIR `model.json` or legacy `model.pdmodel`) and run in CPU inference on
Paddle 3.3.1.
"""

from __future__ import annotations

import paddle

from .spec import NMSParams, YOLOBoxParams


def yolo_decode(
    head_outs: list[paddle.Tensor],
    mask_anchors: list[list[int]],
    im_shape: paddle.Tensor,
    scale_factor: paddle.Tensor,
    num_classes: int,
    params: YOLOBoxParams,
) -> tuple[paddle.Tensor, paddle.Tensor]:
    """Boxes `[B, M, 4]` (original-image pixels) and scores `[B, C, M]` of all levels."""
    origin_shape = paddle.cast(im_shape / scale_factor, "int32")
    boxes_list, scores_list = [], []
    for i, out in enumerate(head_outs):
        boxes, scores = paddle.vision.ops.yolo_box(
            out,
            origin_shape,
            mask_anchors[i],
            num_classes,
            params.conf_thresh,
            params.downsample_ratio // 2**i,
            params.clip_bbox,
            scale_x_y=params.scale_x_y,
        )
        boxes_list.append(boxes)
        scores_list.append(paddle.transpose(scores, perm=[0, 2, 1]))
    return paddle.concat(boxes_list, axis=1), paddle.concat(scores_list, axis=2)


def multiclass_nms(
    boxes: paddle.Tensor, scores: paddle.Tensor, params: NMSParams
) -> tuple[paddle.Tensor, paddle.Tensor]:
    """`(bbox [N, 6] float32, bbox_num [B] int32)` after per-class NMS.

    Dygraph and PIR call `_C_ops.multiclass_nms3`; a legacy static program
    (`FLAGS_enable_pir_api=0`, which `_C_ops` cannot take) gets the same op appended.
    """
    if not paddle.in_dynamic_mode() and not paddle.framework.in_pir_mode():
        return _static_multiclass_nms(boxes, scores, params)
    out, _index, nms_rois_num = paddle._C_ops.multiclass_nms3(
        boxes,
        scores,
        None,
        params.score_threshold,
        params.nms_top_k,
        params.keep_top_k,
        params.nms_threshold,
        params.normalized,
        params.nms_eta,
        params.background_label,
    )
    return out, nms_rois_num


def _static_multiclass_nms(
    boxes: paddle.Tensor, scores: paddle.Tensor, params: NMSParams
) -> tuple[paddle.Tensor, paddle.Tensor]:
    """`multiclass_nms3` appended to the current legacy static program (as PaddleDetection 2.x)."""
    from paddle.base.layer_helper import LayerHelper

    helper = LayerHelper("multiclass_nms3")
    out = helper.create_variable_for_type_inference(dtype=boxes.dtype)
    index = helper.create_variable_for_type_inference(dtype="int32")
    nms_rois_num = helper.create_variable_for_type_inference(dtype="int32")
    helper.append_op(
        type="multiclass_nms3",
        inputs={"BBoxes": boxes, "Scores": scores},
        outputs={"Out": out, "Index": index, "NmsRoisNum": nms_rois_num},
        attrs={
            "score_threshold": params.score_threshold,
            "nms_top_k": params.nms_top_k,
            "keep_top_k": params.keep_top_k,
            "nms_threshold": params.nms_threshold,
            "normalized": params.normalized,
            "nms_eta": params.nms_eta,
            "background_label": params.background_label,
        },
    )
    for var in (out, index, nms_rois_num):
        var.stop_gradient = True
    return out, nms_rois_num
