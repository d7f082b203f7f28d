# ImageNet classification service written for Paddle Serving 0.9 (examples/Pipeline/PaddleClas/
# imagenet), ported to generator.runtime. The only changes are marked "# was:".
import base64

import cv2
import numpy as np

# was: from paddle_serving_server.web_service import WebService, Op
from generator.runtime import Op, WebService

# was: from paddle_serving_app.reader import Sequential, Resize, CenterCrop, RGB2BGR, Transpose, Div, Normalize
from generator.runtime.reader import (
    RGB2BGR,
    CenterCrop,
    Div,
    Normalize,
    Resize,
    Sequential,
    Transpose,
)


class ImagenetOp(Op):
    def init_op(self):
        self.seq = Sequential([
            Resize(256), CenterCrop(224), RGB2BGR(), Transpose((2, 0, 1)),
            Div(255), Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225], True)
        ])
        self.label_dict = {}
        label_idx = 0
        with open("imagenet.label") as fin:
            for line in fin:
                self.label_dict[label_idx] = line.strip()
                label_idx += 1

    def preprocess(self, input_dicts, data_id, log_id):
        (_, input_dict), = input_dicts.items()
        data = base64.b64decode(input_dict["image"].encode("utf8"))
        # was: data = np.fromstring(data, np.uint8)   (NumPy 2 removed binary fromstring)
        data = np.frombuffer(data, np.uint8)
        im = cv2.imdecode(data, cv2.IMREAD_COLOR)
        img = self.seq(im)
        return {"image": img[np.newaxis, :].copy()}, False, None, ""

    def postprocess(self, input_dicts, fetch_dict, data_id, log_id):
        score_list = fetch_dict["score"]
        result = {"label": [], "prob": []}
        for score in score_list:
            score = score.tolist()
            max_score = max(score)
            result["label"].append(
                self.label_dict[score.index(max_score)].strip().replace(",", ""))
            result["prob"].append(max_score)
        result["label"] = str(result["label"])
        result["prob"] = str(result["prob"])
        return result, None, ""


class ImageService(WebService):
    def get_pipeline_response(self, read_op):
        image_op = ImagenetOp(name="imagenet", input_ops=[read_op])
        return image_op


imagenet_service = ImageService(name="imagenet")
imagenet_service.prepare_pipeline_config("config.yml")
imagenet_service.run_service()
