# HTTP client of the imagenet pipeline example (Paddle Serving 0.9). It never imported Paddle
# Serving, so it needs no change; --port and --image were added (defaults as in config.yml).
import argparse
import base64
import json

import requests


def cv2_to_base64(image):
    return base64.b64encode(image).decode("utf8")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=18082, help="http_port of config.yml")
    parser.add_argument("--image", default="sample.jpg", help="image file to classify")
    args = parser.parse_args()

    url = f"http://127.0.0.1:{args.port}/imagenet/prediction"
    with open(args.image, "rb") as file:
        image_data = file.read()
    image = cv2_to_base64(image_data)
    data = {"key": ["image"], "value": [image]}
    r = requests.post(url=url, data=json.dumps(data))
    print(r.json())
