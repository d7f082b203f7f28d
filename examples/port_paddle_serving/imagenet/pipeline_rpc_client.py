# gRPC client of the imagenet pipeline example (Paddle Serving 0.9), ported to generator.runtime.
# The only change is marked "# was:"; --port and --image were added (defaults as in config.yml).
import argparse
import base64

# was: from paddle_serving_server.pipeline import PipelineClient
from generator.runtime import PipelineClient


def cv2_to_base64(image):
    return base64.b64encode(image).decode("utf8")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=9999, help="rpc_port of config.yml")
    parser.add_argument("--image", default="sample.jpg", help="image file to classify")
    args = parser.parse_args()

    client = PipelineClient()
    client.connect([f"127.0.0.1:{args.port}"])
    with open(args.image, "rb") as file:
        image_data = file.read()
    image = cv2_to_base64(image_data)
    ret = client.predict(feed_dict={"image": image}, fetch=["label", "prob"])
    print(ret)
