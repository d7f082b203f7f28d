# gRPC client of the PaddleOCR ocr pipeline example (Paddle Serving 0.9), ported to
# generator.runtime. The only change is marked "# was:"; --port and --image were added
# (defaults as in config.yml; --image takes a file or a folder, like the original's imgs/ loop).
import argparse
import base64
import os

# was: from paddle_serving_server.pipeline import PipelineClient
from generator.runtime import PipelineClient


def cv2_to_base64(image):
    return base64.b64encode(image).decode("utf8")


def image_files(path):
    if os.path.isdir(path):
        return [os.path.join(path, name) for name in sorted(os.listdir(path))]
    return [path]


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=18090, help="rpc_port of config.yml")
    parser.add_argument("--image", default="imgs/", help="image file or folder of images")
    args = parser.parse_args()

    client = PipelineClient()
    client.connect([f"127.0.0.1:{args.port}"])
    for img_file in image_files(args.image):
        with open(img_file, "rb") as file:
            image_data = file.read()
        image = cv2_to_base64(image_data)
        ret = client.predict(feed_dict={"image": image}, fetch=["res"])
        print(ret)
