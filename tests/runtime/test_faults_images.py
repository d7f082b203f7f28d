"""Bounded work per request on a served classification model: image limits are checked from
the header before decoding, upscaling resizes past the limit are refused, too many images are
refused, bad images are err_no 5000 (never 10000) and error messages never echo a huge value."""

from __future__ import annotations

import base64
import struct
import zlib

import cv2
import numpy as np
import pytest
import requests

from generator.runtime import PipelineClient
from tests.helpers.classifier_service import start_classifier_service


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png(width: int, height: int, rows: int | None = None) -> bytes:
    """An RGB PNG of `width` x `height` whose IDAT holds `rows` rows (all, by default)."""
    rows = height if rows is None else rows
    raw = (b"\x00" + b"\x80" * (3 * width)) * rows
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2,
                                                                0, 0, 0))
            + _chunk(b"IDAT", zlib.compress(raw, 9)) + _chunk(b"IEND", b""))


def jpeg_claiming(width: int, height: int) -> bytes:
    """A real 16x16 JPEG whose frame header is patched to claim `width` x `height`."""
    ok, buf = cv2.imencode(".jpg", np.full((16, 16, 3), 128, np.uint8))
    data = bytearray(buf.tobytes())
    sof = data.index(b"\xff\xc0")
    data[sof + 5:sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = start_classifier_service(tmp_path_factory.mktemp("cls"))
    yield srv
    srv.stop(2.0)


def post(server, **values) -> dict:
    body = {"key": list(values), "value": list(values.values())}
    r = requests.post(f"http://127.0.0.1:{server.http_port}/cls/prediction", json=body,
                      timeout=30)
    assert r.status_code == 200, r.text
    return r.json()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_a_good_image_still_works(server):
    assert post(server, image=b64(png(40, 30)))["err_no"] == 0


@pytest.mark.parametrize("image, says", [
    (png(30000, 30000, rows=1), "30000x30000 = 900,000,000 pixels"),   # ~100 bytes on the wire
    (jpeg_claiming(60000, 60000), "60000x60000"),
    (png(200000, 1), "resized image"),  # a 1-pixel-high strip: the short-side resize upscales
], ids=["png-bomb", "jpeg-bomb", "upscale"])
def test_images_over_the_pixel_limit_are_5000_naming_the_key(server, image, says):
    answer = post(server, image=b64(image))
    assert answer["err_no"] == 5000, answer
    assert says in answer["err_msg"] and "max_image_pixels" in answer["err_msg"], answer
    assert post(server, image=b64(png(40, 30)))["err_no"] == 0


def test_too_many_images_in_one_request(server):
    one = b64(png(8, 8))
    answer = post(server, **{f"image_{i}": one for i in range(65)})
    assert answer["err_no"] == 5000 and "max_images_per_request" in answer["err_msg"], answer
    assert "65 images" in answer["err_msg"]


def test_empty_pixel_tensor_is_5000(server):
    client = PipelineClient()
    client.connect([f"127.0.0.1:{server.rpc_port}"])
    resp = client.predict({"image": np.zeros((0, 0, 3), np.uint8)}, pack_tensor_format=True)
    assert resp.err_no == 5000 and "empty" in resp.err_msg, resp


def test_a_huge_bad_value_is_not_echoed(server):
    answer = post(server, image="%" * (3 << 20))
    assert answer["err_no"] == 5000
    assert len(answer["err_msg"]) < 2100, len(answer["err_msg"])
