"""PaddleX basic serving's API on generated services (`generator.runtime.protocols.paddlex`):
the same pipeline answers as `POST /{name}/prediction`, in PaddleX's envelope and field names,
with its options honoured, its error statuses and `GET /health` next to ours. (Against PaddleX
itself, schemas and `paddlex --serve`: tests/toolkits/test_paddlex_api_parity.py.)"""

from __future__ import annotations

import base64
import json

import cv2
import numpy as np
import pytest
import requests

from tests.helpers import toolkit_exports as te
from tests.helpers.parity import ask, decode_label_map, generate, running

pytestmark = pytest.mark.slow
TIMEOUT = 120


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    root = tmp_path_factory.mktemp("pdx_api_images")
    paths = []
    for i, (w, h) in enumerate([(640, 480), (257, 193)]):
        paths.append(root / f"shapes_{i}.png")
        assert cv2.imwrite(str(paths[-1]), te.draw_shapes(w, h, n=5 + i, seed=i))
    page = root / "page.png"
    assert cv2.imwrite(str(page), te.draw_text_lines(640, 480, ["ab12 cd", "hello world"]))
    return {"shapes": paths, "page": page}


def _b64(path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def _post(base: str, path: str, body=None, raw: bytes | None = None) -> requests.Response:
    if raw is not None:
        return requests.post(base + path, data=raw, timeout=TIMEOUT,
                             headers={"Content-Type": "application/json"})
    return requests.post(base + path, json=body, timeout=TIMEOUT)


def _ok(resp: requests.Response) -> dict:
    assert resp.status_code == 200, resp.text[:2000]
    doc = resp.json()
    assert doc["errorCode"] == 0 and doc["errorMsg"] == "Success", doc
    assert isinstance(doc["logId"], str) and doc["logId"]
    return doc["result"]


def _error(resp: requests.Response, status: int) -> str:
    assert resp.status_code == status, resp.text[:2000]
    doc = resp.json()
    assert set(doc) == {"logId", "errorCode", "errorMsg"} and doc["errorCode"] == status, doc
    return doc["errorMsg"]


@pytest.fixture(scope="module")
def detection(tmp_path_factory):
    root = tmp_path_factory.mktemp("pdx_api_det")
    model = te.save_picodet(root / "PicoDet-S")
    folder, port, _ = generate([model.model_dir], root / "svc", name="det")
    with running(folder, port) as url:
        yield {"url": url, "base": f"http://127.0.0.1:{port}"}


def test_detection_answers_paddlex_fields_of_the_same_boxes(detection, images):
    for img in images["shapes"]:
        ours = ask(detection["url"], img)
        result = _ok(_post(detection["base"], "/object-detection",
                           {"image": _b64(img), "visualize": False, "logId": "abc"}))
        assert list(result) == ["detectedObjects"]  # null image left out, as PaddleX does
        assert len(ours) >= 3
        assert result["detectedObjects"] == [
            {"bbox": b["bbox"], "categoryId": b["category_id"], "categoryName": b["label"],
             "score": b["score"]} for b in ours]


def test_detection_threshold_option(detection, images):
    img = _b64(images["shapes"][0])
    everything = _ok(_post(detection["base"], "/object-detection",
                           {"image": img, "threshold": 0.0}))["detectedObjects"]
    scores = sorted(o["score"] for o in everything)
    cut = scores[len(scores) // 2]
    above = _ok(_post(detection["base"], "/object-detection",
                      {"image": img, "threshold": cut}))["detectedObjects"]
    assert above and len(above) < len(everything)
    assert [o for o in everything if o["score"] > cut] == above
    cls = everything[0]["categoryId"]
    per_class = _ok(_post(detection["base"], "/object-detection",
                          {"image": img, "threshold": {str(cls): 0.0}}))["detectedObjects"]
    assert per_class == [o for o in everything
                         if o["score"] > (0.0 if o["categoryId"] == cls else 0.5)]


def _picture(b64: str) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(base64.b64decode(b64), np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    return image.astype(np.int16)


def test_visualize_draws_the_boxes(detection, images):
    img = images["shapes"][0]
    source = cv2.imread(str(img)).astype(np.int16)
    drawn = {}
    for threshold in (0.0, 1.0):
        result = _ok(_post(detection["base"], "/object-detection",
                           {"image": _b64(img), "threshold": threshold, "visualize": True}))
        drawn[threshold] = _picture(result["image"])
        assert drawn[threshold].shape == source.shape
    assert not _ok(_post(detection["base"], "/object-detection",
                         {"image": _b64(img), "threshold": 1.0}))["detectedObjects"]
    plain, boxed = (float(np.abs(drawn[t] - source).mean()) for t in (1.0, 0.0))
    assert plain < 3 < boxed, (plain, boxed)  # JPEG noise only vs boxes drawn


def test_logid_and_health_next_to_ours(detection, images):
    resp = _post(detection["base"], "/object-detection",
                 {"image": _b64(images["shapes"][1]), "logId": "my-log-1"})
    assert resp.json()["logId"] == "my-log-1"
    health = requests.get(detection["base"] + "/health", timeout=TIMEOUT)
    assert health.status_code == 200
    assert {k: v for k, v in health.json().items() if k != "logId"} == \
        {"errorCode": 0, "errorMsg": "Healthy"}
    assert requests.get(detection["base"] + "/health/live", timeout=TIMEOUT).json() == \
        {"status": "alive"}
    assert requests.get(detection["base"] + "/health/ready", timeout=TIMEOUT).status_code == 200


def test_bad_requests_get_paddlex_errors_and_the_server_keeps_serving(detection, images):
    base = detection["base"]
    missing = json.loads(_error(_post(base, "/object-detection", {}), 422))
    assert missing == [{"type": "missing", "loc": "body.image", "msg": "Field required"}]
    wrong = json.loads(_error(_post(base, "/object-detection",
                                    {"image": "x", "threshold": "high"}), 422))
    assert [e["loc"] for e in wrong] == ["body.threshold.float",
                                         "body.threshold.dict[int,float]"]
    bad_json = json.loads(_error(_post(base, "/object-detection", raw=b"{bad"), 422))
    assert bad_json[0]["type"] == "json_invalid"
    assert "URL" in _error(_post(base, "/object-detection", {"image": "http://h/x.png"}), 422)
    assert "base64" in _error(_post(base, "/object-detection", {"image": "***"}), 422)
    assert "decode" in _error(_post(base, "/object-detection", {"image": "AAAA"}), 422)
    assert _error(requests.get(base + "/object-detection", timeout=TIMEOUT), 405)
    # another task's endpoint is not this service's
    assert _post(base, "/image-classification", {"image": "AAAA"}).status_code == 404
    _ok(_post(base, "/object-detection", {"image": _b64(images["shapes"][0])}))


def test_classification_categories_and_topk(tmp_path, images):
    model = te.save_paddleclas(tmp_path / "PP-LCNet_x1_0")
    folder, port, _ = generate([model.model_dir], tmp_path / "svc", name="cls")
    base = f"http://127.0.0.1:{port}"
    with running(folder, port) as url:
        img = images["shapes"][0]
        ours = ask(url, img)
        result = _ok(_post(base, "/image-classification", {"image": _b64(img)}))
        assert result == {"categories": [{"id": c["category_id"], "name": c["label"],
                                          "score": c["score"]} for c in ours]}
        shown = _ok(_post(base, "/image-classification", {"image": _b64(img),
                                                            "visualize": True}))
        assert _picture(shown.pop("image")).shape == (480, 640, 3) and shown == result
        top2 = _ok(_post(base, "/image-classification", {"image": _b64(img), "topk": 2}))
        assert top2["categories"] == result["categories"][:2]
        top9 = _ok(_post(base, "/image-classification", {"image": _b64(img), "topk": 9}))
        assert len(top9["categories"]) == 9 and top9["categories"][:5] == result["categories"]
        errors = json.loads(_error(_post(base, "/image-classification",
                                         {"image": _b64(img), "topk": 0}), 422))
        assert errors[0]["type"] == "greater_than" and errors[0]["loc"] == "body.topk"


def test_segmentation_label_map_and_size(tmp_path, images):
    model = te.save_paddleseg(tmp_path / "PP-LiteSeg-T")
    folder, port, _ = generate([model.model_dir], tmp_path / "svc", name="seg")
    base = f"http://127.0.0.1:{port}"
    with running(folder, port) as url:
        for img in images["shapes"]:
            want = decode_label_map(ask(url, img)["label_map"])
            result = _ok(_post(base, "/semantic-segmentation", {"image": _b64(img)}))
            h, w = cv2.imread(str(img)).shape[:2]
            assert result["size"] == [h, w]
            got = np.asarray(result["labelMap"]).reshape(h, w)
            assert len(np.unique(got)) >= 2 and np.array_equal(got, want)
        shown = _ok(_post(base, "/semantic-segmentation", {"image": _b64(img),
                                                            "visualize": True}))
        assert _picture(shown.pop("image")).shape == (h, w, 3) and shown == result
        assert "targetSize" in _error(_post(base, "/semantic-segmentation",
                                            {"image": _b64(img), "targetSize": 64}), 422)


def test_ocr_pruned_result(tmp_path, images):
    """Without the orientation model (with it, against `paddlex --serve`: tests/toolkits/
    test_paddlex_api_parity.py)."""
    dirs = [te.save_ppocr_det(tmp_path / "det").model_dir,
            te.save_ppocr_rec(tmp_path / "rec").model_dir]
    folder, port, _ = generate(dirs, tmp_path / "svc", name="ocr")
    base = f"http://127.0.0.1:{port}"
    assert f"http://127.0.0.1:{port}/ocr -H" in (folder / "README.md").read_text()
    page = images["page"]
    with running(folder, port) as url:
        ours = ask(url, page)
        assert len(ours) >= 2
        result = _ok(_post(base, "/ocr", {"file": _b64(page), "fileType": 1,
                                          "visualize": False}))
        assert result["dataInfo"] == {"width": 640, "height": 480, "type": "image"}
        [item] = result["ocrResults"]
        assert list(item) == ["prunedResult"]
        pruned = item["prunedResult"]
        assert list(pruned) == [
            "model_settings", "dt_polys", "text_det_params", "text_type",
            "textline_orientation_angles", "text_rec_score_thresh", "return_word_box",
            "rec_texts", "rec_scores", "rec_polys", "rec_boxes"]
        assert pruned["model_settings"] == {"use_doc_preprocessor": False,
                                            "use_textline_orientation": False}
        assert pruned["rec_texts"] == [line["text"] for line in ours]
        assert pruned["rec_scores"] == [line["score"] for line in ours]
        polys = [[[round(x), round(y)] for x, y in line["poly"]] for line in ours]
        assert pruned["rec_polys"] == polys == pruned["dt_polys"]
        assert pruned["rec_boxes"] == [[min(p[0] for p in q), min(p[1] for p in q),
                                        max(p[0] for p in q), max(p[1] for p in q)]
                                       for q in polys]
        angles = pruned["textline_orientation_angles"]
        assert len(angles) == len(ours)
        assert set(angles) == {-1}
        shown = _ok(_post(base, "/ocr", {"file": _b64(page), "fileType": 1,
                                         "visualize": True}))["ocrResults"][0]
        source = cv2.imread(str(page)).astype(np.int16)
        assert float(np.abs(_picture(shown["inputImage"]) - source).mean()) < 3
        assert float(np.abs(_picture(shown["ocrImage"]) - source).mean()) > 1
        assert shown["prunedResult"] == pruned
        high = sorted(pruned["rec_scores"])[-1]
        kept = _ok(_post(base, "/ocr", {"file": _b64(page), "fileType": 1,
                                        "textRecScoreThresh": high}))
        kept = kept["ocrResults"][0]["prunedResult"]
        assert kept["rec_scores"] == [high] and kept["dt_polys"] == polys
        assert "fileType" in _error(_post(base, "/ocr", {"file": _b64(page)}), 422)
        assert "PDF" in _error(_post(base, "/ocr", {"file": _b64(page), "fileType": 0}), 422)
        assert "fixed" in _error(_post(base, "/ocr", {"file": _b64(page), "fileType": 1,
                                                      "textDetThresh": 0.9}), 422)


def test_openapi_describes_paddlex_endpoints(detection):
    doc = requests.get(detection["base"] + "/openapi.json", timeout=TIMEOUT).json()
    post = doc["paths"]["/object-detection"]["post"]
    schema = post["requestBody"]["content"]["application/json"]["schema"]
    assert schema["required"] == ["image"]
    assert {"image", "threshold", "visualize", "logId"} <= set(schema["properties"])
    result = post["responses"]["200"]["content"]["application/json"]["schema"]
    assert set(result["properties"]["result"]["properties"]) == {"detectedObjects", "image"}
    assert "/health" in doc["paths"] and "/det/prediction" in doc["paths"]
    assert "/ocr" not in doc["paths"]
    validator = pytest.importorskip("openapi_spec_validator")
    validator.validate(doc)
