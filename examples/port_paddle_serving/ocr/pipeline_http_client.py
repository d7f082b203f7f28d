# HTTP client of the PaddleOCR ocr pipeline example (Paddle Serving 0.9). It never imported
# Paddle Serving, so it needs no change; --port and --image were added (defaults as in
# config.yml; --image takes a file or a folder, like the original's imgs/ loop).
import argparse
import ast
import base64
import json
import os

import requests


def cv2_to_base64(image):
    return base64.b64encode(image).decode("utf8")


def image_files(path):
    if os.path.isdir(path):
        return [os.path.join(path, name) for name in sorted(os.listdir(path))]
    return [path]


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=9999, help="http_port of config.yml")
    parser.add_argument("--image", default="imgs/", help="image file or folder of images")
    args = parser.parse_args()

    url = f"http://127.0.0.1:{args.port}/ocr/prediction"
    for img_file in image_files(args.image):
        with open(img_file, "rb") as file:
            image_data = file.read()
        image = cv2_to_base64(image_data)
        data = {"key": ["image"], "value": [image]}
        r = requests.post(url=url, data=json.dumps(data))
        result = r.json()
        print(result)
        if result["err_no"] == 0:
            # the original used eval(); literal_eval reads the same str() output safely
            for text, box in ast.literal_eval(result["value"][0]):
                print(img_file, text, box)
