"""`GET /openapi.json`, `GET /docs` and the try page `GET /` of a served classification
service; the pages driven in a real headless Chromium (Debian's `chromium`) over the DevTools
protocol: an image is picked, the top-k appears, a screenshot is saved as a test artifact
(`build/test-artifacts/`, or `$TEST_ARTIFACTS_DIR`)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import requests

from tests.helpers.classifier_service import LABELS, classifier_service
from tests.helpers.services import free_port

REPO = Path(__file__).resolve().parents[2]
JPG = REPO / "tests" / "data" / "shapes_320x240.jpg"
ARTIFACTS = Path(os.environ.get("TEST_ARTIFACTS_DIR", REPO / "build" / "test-artifacts"))


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with classifier_service(tmp_path_factory.mktemp("web")) as served:
        yield served


def test_openapi_describes_both_protocols_of_this_service(server) -> None:
    base = f"http://127.0.0.1:{server.http_port}"
    doc = requests.get(f"{base}/openapi.json", timeout=10).json()
    assert doc["openapi"].startswith("3.1") and doc["x-service"] == {"name": "cls",
                                                                    "task": "classification"}
    paths = doc["paths"]
    for path in ("/cls/prediction", "/health/ready", "/v2", "/v2/health/ready",
                 "/v2/models/cls", "/v2/models/cls/infer", "/v2/models/cls-model/infer"):
        assert path in paths, path
    predict = paths["/cls/prediction"]["post"]
    assert "`image`: the base64 of an encoded image file" in predict["description"]
    assert predict["requestBody"]["content"]["application/json"]["example"]["key"] == ["image"]
    bare = paths["/v2/models/cls-model"]["get"]["responses"]["200"]["content"]
    assert bare["application/json"]["example"]["inputs"] == [
        {"name": "x", "datatype": "FP32", "shape": [-1, 3, 32, 32]}]
    docs = requests.get(f"{base}/docs", timeout=10)
    assert docs.headers["Content-Type"].startswith("text/html") and "openapi.json" in docs.text
    page = requests.get(f"{base}/", timeout=10)
    assert '"task": "classification"' in page.text and "<script src" not in page.text
    assert "http://" not in page.text and "https://" not in page.text  # no CDN: self-contained


class DevTools:
    """The few DevTools protocol calls the test needs, over aiohttp's websocket client."""

    def __init__(self, ws) -> None:
        self.ws = ws
        self.next_id = 0

    async def call(self, method: str, **params):
        self.next_id += 1
        await self.ws.send_json({"id": self.next_id, "method": method, "params": params})
        while True:
            message = await self.ws.receive_json(timeout=60)
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message["result"]

    async def evaluate(self, expression: str):
        result = await self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return result["result"].get("value")

    async def wait_for(self, expression: str, timeout: float = 60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = await self.evaluate(expression)
            if value:
                return value
            await asyncio.sleep(0.2)
        raise AssertionError(f"timed out waiting for {expression}")


@contextlib.asynccontextmanager
async def _page(devtools_port: int, url: str) -> AsyncIterator[DevTools]:
    """DevTools on the browser's page, navigated to `url`."""
    import aiohttp

    async with aiohttp.ClientSession() as session:
        targets = await (await session.get(f"http://127.0.0.1:{devtools_port}/json/list")).json()
        target = next(t for t in targets if t["type"] == "page")
        async with session.ws_connect(target["webSocketDebuggerUrl"], max_msg_size=0) as ws:
            tools = DevTools(ws)
            await tools.call("Page.enable")
            await tools.call("Page.navigate", url=url)
            yield tools


@pytest.fixture(scope="module")
def chromium(tmp_path_factory):
    pytest.importorskip("aiohttp", reason="the DevTools client uses aiohttp (test extra)")
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary is None:
        pytest.skip("chromium is not installed (Debian: apt-get install chromium; .ci/run does)")
    port = free_port()
    profile = tmp_path_factory.mktemp("chromium")
    proc = subprocess.Popen(
        [binary, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-extensions", f"--remote-debugging-port={port}",
         f"--user-data-dir={profile}", "--window-size=1000,1000", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 60
    while True:
        try:
            requests.get(f"http://127.0.0.1:{port}/json/version", timeout=2).raise_for_status()
            break
        except requests.RequestException:
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail("chromium did not start its DevTools endpoint")
            time.sleep(0.2)
    yield port
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(20)


async def _drive(devtools_port: int, base: str, probe: str = "null", docs: bool = True) -> dict:
    async with _page(devtools_port, f"{base}/") as tools:
        await tools.wait_for("document.readyState === 'complete' && !!document.getElementById('file')")
        document = await tools.call("DOM.getDocument")
        node = await tools.call("DOM.querySelector", nodeId=document["root"]["nodeId"],
                                selector="#file")
        await tools.call("DOM.setFileInputFiles", files=[str(JPG)], nodeId=node["nodeId"])
        state = await tools.wait_for(
            "['done', 'error'].includes(document.getElementById('status').dataset.state)"
            " && document.getElementById('status').dataset.state")
        out = {"state": state,
               "status": await tools.evaluate("document.getElementById('status').textContent"),
               "rows": await tools.evaluate(
                   "[...document.querySelectorAll('#result tr')].slice(1)"
                   ".map(r => r.cells[0].textContent)"),
               "canvas": await tools.evaluate(
                   "[document.getElementById('canvas').width,"
                   " document.getElementById('canvas').height]"),
               "probe": await tools.evaluate(probe)}
        shot = await tools.call("Page.captureScreenshot", format="png")
        out["screenshot"] = base64.b64decode(shot["data"])
        if not docs:
            return out
        await tools.call("Page.navigate", url=f"{base}/docs")
        out["docs_ops"] = await tools.wait_for(
            "document.querySelectorAll('details.op').length")
        return out


def test_try_page_shows_the_top_k_in_chromium(server, chromium) -> None:
    base = f"http://127.0.0.1:{server.http_port}"
    got = asyncio.run(_drive(chromium, base))
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "try_page_classification.png").write_bytes(got["screenshot"])
    assert got["state"] == "done", got["status"]
    assert got["status"].startswith("top 3: ")
    want = json.loads(requests.post(f"{base}/cls/prediction", timeout=30, json={
        "key": ["image"], "value": [base64.b64encode(JPG.read_bytes()).decode()]}).json()
        ["value"][0])
    assert got["rows"] == [t["label"] for t in want] and set(got["rows"]) <= set(LABELS)
    assert got["canvas"] == [320, 240]  # the picked image, drawn at its size
    assert got["screenshot"][:8] == b"\x89PNG\r\n\x1a\n" and len(got["screenshot"]) > 5000
    assert got["docs_ops"] >= 10  # /docs rendered /openapi.json's endpoints


PIXELS = ("(() => { const c = document.getElementById('canvas').getContext('2d');"
          " return [[20, 90], [10, 10], [300, 230]].map(([x, y]) =>"
          " [...c.getImageData(x, y, 1, 1).data.slice(0, 3)]); })()")


def _fixed_result_service(task: str, result: str, name: str = "fixed"):
    """A service whose Op answers `result` for key `image` whatever the image (no model), so
    the page's drawing of that task is checked on known numbers."""
    from generator.runtime import Op, WebService

    class Fixed(Op):
        def preprocess(self, input_dicts, data_id, log_id):
            return {"image": result}, True, None, ""

    Fixed.task = task

    class Svc(WebService):
        def get_pipeline_response(self, read_op):
            return Fixed(name="fixed", input_ops=[read_op])

    svc = Svc(name=name)
    svc.prepare_pipeline_config(yml_dict={"rpc_port": free_port(), "http_port": free_port()})
    return svc.start()


def _drive_fixed(devtools_port: int, task: str, result: str, probe: str) -> dict:
    """The try page of `_fixed_result_service(task, result)` driven to its answer (`_drive`);
    the screenshot is kept as try_page_<task>.png, and the page must have shown the answer."""
    server = _fixed_result_service(task, result)
    try:
        got = asyncio.run(_drive(devtools_port, f"http://127.0.0.1:{server.http_port}", probe,
                                 docs=False))
    finally:
        server.stop(2)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / f"try_page_{task}.png").write_bytes(got["screenshot"])
    assert got["state"] == "done", got["status"]
    return got


def _label_map_png() -> str:
    import io

    import numpy as np
    from PIL import Image

    ids = np.zeros((240, 320), np.uint8)
    ids[:120, :160] = 1  # class 1 in the top-left quarter
    buffer = io.BytesIO()
    Image.fromarray(ids, mode="L").save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


@pytest.mark.parametrize("task", ["detection", "segmentation"])
def test_try_page_draws_boxes_and_masks_in_chromium(chromium, task) -> None:
    import numpy as np
    from PIL import Image

    if task == "detection":
        result = json.dumps([{"category_id": 0, "label": "square", "score": 0.9,
                              "bbox": [20.0, 20.0, 140.0, 160.0]}])
    else:
        result = json.dumps({"label_map": _label_map_png(), "shape": [240, 320]})
    got = _drive_fixed(chromium, task, result, PIXELS)
    original = np.asarray(Image.open(JPG).convert("RGB"), dtype=float)
    edge, inside, outside = (np.array(p, dtype=float) for p in got["probe"])
    np.testing.assert_allclose(outside, original[230, 300], atol=12)  # untouched
    if task == "detection":
        assert got["status"].startswith("1 boxes")
        np.testing.assert_allclose(edge, [230, 25, 75], atol=3)  # the box's left edge, class 0
        assert got["rows"] == ["square"]
    else:
        assert got["status"].startswith("classes in the mask: 1")
        np.testing.assert_allclose(inside, 0.45 * original[10, 10] + 0.55 * np.array(
            [60, 180, 75]), atol=12)  # class 1's colour over the image


MARKUP = "<img src=x onerror=window.pwned=1>"
INJECTED = ("[document.querySelectorAll('img').length, typeof window.pwned,"
            " document.getElementById('svc').textContent,"
            " [...document.querySelectorAll('#result td')].map(c => c.textContent)]")


def test_pages_show_markup_in_names_and_results_as_text_in_chromium(chromium) -> None:
    """Service-provided text (the service's name, a result's label) is inserted as text: no
    element is made from it on the try page or on /docs (which quotes the name)."""
    result = json.dumps([{"category_id": 0, "label": MARKUP, "score": 0.5,
                          "bbox": [1.0, 1.0, 9.0, 9.0]}])
    server = _fixed_result_service("detection", result, name=f"x{MARKUP}")
    try:
        got = asyncio.run(_drive(chromium, f"http://127.0.0.1:{server.http_port}", INJECTED))
        docs = asyncio.run(_docs_text(chromium, f"http://127.0.0.1:{server.http_port}"))
    finally:
        server.stop(2)
    assert got["state"] == "done", got["status"]
    images, pwned, name, cells = got["probe"]
    assert (images, pwned, name) == (0, "undefined", f"x{MARKUP}")
    assert cells[0] == MARKUP
    assert docs["images"] == 0 and f"x{MARKUP}" in docs["desc"] and docs["code"] >= 1


async def _docs_text(devtools_port: int, base: str) -> dict:
    async with _page(devtools_port, f"{base}/docs") as tools:
        await tools.wait_for("document.querySelectorAll('details.op').length")
        return {"images": await tools.evaluate("document.querySelectorAll('img').length"),
                "desc": await tools.evaluate("document.getElementById('desc').textContent"),
                "code": await tools.evaluate("document.querySelectorAll('#desc code').length")}
