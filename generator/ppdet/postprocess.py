"""YOLOBox decoding and multi-class NMS with the Paddle ops PaddleDetection exports.

`paddle.vision.ops.yolo_box` decodes each level into boxes in original-image pixels (it takes
`origin_shape = int(im_shape / scale_factor)`); `paddle._C_ops.multiclass_nms3` gives
`[N, 6]` rows `[class_id, score, x1, y1, x2, y2]` plus the per-image counts (int32). Both export
to a static model and run in CPU inference on Paddle 3.3.1.
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
    """`(bbox [N, 6] float32, bbox_num [B] int32)` after per-class NMS."""
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
