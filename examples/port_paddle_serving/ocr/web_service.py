# OCR (text detection -> text recognition) service written for Paddle Serving 0.9
# (examples/Pipeline/PaddleOCR/ocr), ported to generator.runtime. The only changes are marked
# "# was:". DetOp keeps per-request state on self, so it needs process mode (is_thread_op: False).
import base64
import copy

import cv2
import numpy as np

# was: from paddle_serving_server.web_service import WebService, Op
from generator.runtime import Op, WebService

# was: from paddle_serving_app.reader import OCRReader
# was: from paddle_serving_app.reader import Sequential, ResizeByFactor
# was: from paddle_serving_app.reader import Div, Normalize, Transpose
# was: from paddle_serving_app.reader import DBPostProcess, FilterBoxes, GetRotateCropImage, SortedBoxes
from generator.runtime.reader import (
    DBPostProcess,
    Div,
    FilterBoxes,
    GetRotateCropImage,
    Normalize,
    OCRReader,
    ResizeByFactor,
    Sequential,
    SortedBoxes,
    Transpose,
)


class DetOp(Op):
    def init_op(self):
        self.det_preprocess = Sequential([
            ResizeByFactor(32, 960), Div(255),
            Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]), Transpose((2, 0, 1))
        ])
        self.filter_func = FilterBoxes(10, 10)
        self.post_func = DBPostProcess({
            "thresh": 0.3,
            "box_thresh": 0.6,
            "max_candidates": 1000,
            "unclip_ratio": 1.5,
            "min_size": 3
        })

    def preprocess(self, input_dicts, data_id, log_id):
        (_, input_dict), = input_dicts.items()
        data = base64.b64decode(input_dict["image"].encode("utf8"))
        self.raw_im = data
        # was: data = np.fromstring(data, np.uint8)   (NumPy 2 removed binary fromstring)
        data = np.frombuffer(data, np.uint8)
        # Note: class variables (self.var) can only be used in process op mode
        im = cv2.imdecode(data, cv2.IMREAD_COLOR)
        self.ori_h, self.ori_w, _ = im.shape
        det_img = self.det_preprocess(im)
        _, self.new_h, self.new_w = det_img.shape
        return {"x": det_img[np.newaxis, :].copy()}, False, None, ""

    def postprocess(self, input_dicts, fetch_dict, data_id, log_id):
        det_out = fetch_dict["save_infer_model/scale_0.tmp_1"]
        ratio_list = [float(self.new_h) / self.ori_h, float(self.new_w) / self.ori_w]
        dt_boxes_list = self.post_func(det_out, [ratio_list])
        dt_boxes = self.filter_func(dt_boxes_list[0], [self.ori_h, self.ori_w])
        out_dict = {"dt_boxes": dt_boxes, "image": self.raw_im}
        return out_dict, None, ""


class RecOp(Op):
    def init_op(self):
        self.ocr_reader = OCRReader(char_dict_path="ppocr_keys_v1.txt")
        self.get_rotate_crop_image = GetRotateCropImage()
        self.sorted_boxes = SortedBoxes()

    def preprocess(self, input_dicts, data_id, log_id):
        (_, input_dict), = input_dicts.items()
        raw_im = input_dict["image"]
        # was: data = np.fromstring(raw_im, np.uint8)   (NumPy 2 removed binary fromstring)
        data = np.frombuffer(raw_im, np.uint8)
        im = cv2.imdecode(data, cv2.IMREAD_COLOR)
        self.dt_list = input_dict["dt_boxes"]
        self.dt_list = self.sorted_boxes(self.dt_list)
        # deepcopy to keep the original dt_boxes
        dt_boxes = copy.deepcopy(self.dt_list)

        # No text region: skip the recognition model (fetch_data in postprocess is then {}).
        if len(dt_boxes) == 0:
            return {}, True, None, ""

        # Many mini-batches: the feed is a LIST of feed dicts, process runs once per element.
        max_batch_size = 6
        feed_list = []
        for start in range(0, len(dt_boxes), max_batch_size):
            img_list = []
            max_wh_ratio = 0
            for box in dt_boxes[start:start + max_batch_size]:
                boximg = self.get_rotate_crop_image(im, box)
                img_list.append(boximg)
                h, w = boximg.shape[0:2]
                max_wh_ratio = max(max_wh_ratio, w * 1.0 / h)
            _, h, w = self.ocr_reader.resize_norm_img(img_list[0], max_wh_ratio).shape
            imgs = np.zeros((len(img_list), 3, h, w)).astype("float32")
            for idx, img in enumerate(img_list):
                imgs[idx] = self.ocr_reader.resize_norm_img(img, max_wh_ratio)
            feed_list.append({"x": imgs.copy()})
        return feed_list, False, None, ""

    def postprocess(self, input_dicts, fetch_data, data_id, log_id):
        rec_list = []
        dt_num = len(self.dt_list)
        if isinstance(fetch_data, dict):
            if len(fetch_data) > 0:
                rec_list.extend(self.ocr_reader.postprocess_ocrv2(fetch_data, with_score=True))
        elif isinstance(fetch_data, list):
            for one_batch in fetch_data:
                rec_list.extend(self.ocr_reader.postprocess_ocrv2(one_batch, with_score=True))
        result_list = []
        for i in range(dt_num):
            text = rec_list[i]
            dt_box = self.dt_list[i]
            if text[1] >= 0.5:
                result_list.append([text, dt_box.tolist()])
        res = {"result": str(result_list)}
        return res, None, ""


class OcrService(WebService):
    def get_pipeline_response(self, read_op):
        det_op = DetOp(name="det", input_ops=[read_op])
        rec_op = RecOp(name="rec", input_ops=[det_op])
        return rec_op


ocr_service = OcrService(name="ocr")
ocr_service.prepare_pipeline_config("config.yml")
ocr_service.run_service()
