"""The two `examples/port_paddle_serving` services with their ORIGINAL Paddle Serving lines put
back (every `# was:` line restored, so `paddle_serving_server` / `paddle_serving_app` imports
and `np.fromstring(data, np.uint8)`) run through `scaffold run` with no other change, and
answer as the ported services do (same models, same direct-inference reference)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from tests.examples.test_port_paddle_serving import (
    EXAMPLE,
    OCR_RECTS,
    _b64,
    _check_ocr_result,
    _copy_example,
    _imagenet_direct,
    _jpeg,
    _ocr_direct,
    _save_ocr_models,
    _text_image,
)
from tests.helpers.services import free_port, start_service, stop_service
from tests.helpers.tiny_models import save_conv_classifier, write_serving_server
from tests.runtime.test_scaffold_run import SCAFFOLD, _scaffold_run

pytestmark = pytest.mark.slow

_WAS = re.compile(r"^(\s*)# was: (.*?)(?:\s{2,}\(.*\))?$")


def restore_original(text: str) -> str:
    """Put back each run of `# was:` lines in place of the statement that follows it."""
    lines, out, i = text.splitlines(), [], 0
    while i < len(lines):
        originals = []
        while i < len(lines) and (m := _WAS.match(lines[i])):
            originals.append(m.group(1) + m.group(2).rstrip())
            i += 1
        if originals:
            if lines[i].rstrip().endswith("("):  # a parenthesised multi-line statement
                while lines[i].strip() != ")":
                    i += 1
            i += 1
            out += originals
            continue
        out.append(lines[i])
        i += 1
    return "\n".join(out) + "\n"


def _code(text: str) -> str:
    return "\n".join(ln for ln in text.splitlines() if not ln.lstrip().startswith("#"))


def _restore(work: Path, *scripts: str) -> None:
    for script in scripts:
        path = work / script
        original = restore_original(path.read_text())
        assert "generator" not in _code(original) and "paddle_serving_" in original
        path.write_text(original)


def test_restore_gives_the_original_lines():
    text = restore_original((EXAMPLE / "imagenet" / "web_service.py").read_text())
    assert "from paddle_serving_server.web_service import WebService, Op\n" in text
    assert ("from paddle_serving_app.reader import Sequential, Resize, CenterCrop, RGB2BGR, "
            "Transpose, Div, Normalize\n") in text
    assert "        data = np.fromstring(data, np.uint8)\n" in text
    assert "frombuffer" not in _code(text) and "generator" not in _code(text)
    ast.parse(text)
    ocr = restore_original((EXAMPLE / "ocr" / "web_service.py").read_text())
    assert ocr.count("from paddle_serving_app.reader import") == 4
    ast.parse(ocr)


@pytest.fixture(scope="module")
def imagenet(tmp_path_factory):
    rpc, http = free_port(), free_port()
    work = _copy_example("imagenet", tmp_path_factory.mktemp("orig"), rpc, http)
    _restore(work, "web_service.py", "pipeline_rpc_client.py")
    model = save_conv_classifier(work / "_raw_model", num_classes=10, image_size=224,
                                 input_name="image", seed=3)
    write_serving_server(model, work / "ResNet50_vd_model", fetch_alias_names=["score"])
    proc = start_service([*SCAFFOLD, "web_service.py"], work, http)
    yield {"proc": proc, "rpc": rpc, "http": http, "dir": work}
    stop_service(proc)


def test_original_imagenet_service_and_client(imagenet):
    label, _ = _imagenet_direct(imagenet["dir"], (imagenet["dir"] / "sample.jpg").read_bytes())
    proc = _scaffold_run(["pipeline_rpc_client.py", "--port", str(imagenet["rpc"])],
                         imagenet["dir"])
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert 'key: "label"' in proc.stdout and label in proc.stdout
    assert "err_no" not in proc.stdout  # err_no 0 is not printed by protobuf


@pytest.fixture(scope="module")
def ocr(tmp_path_factory):
    rpc, http = free_port(), free_port()
    work = _copy_example("ocr", tmp_path_factory.mktemp("orig"), rpc, http)
    _restore(work, "web_service.py")
    chars = (work / "ppocr_keys_v1.txt").read_text().splitlines()
    _save_ocr_models(work, len(chars))
    proc = start_service([*SCAFFOLD, "web_service.py"], work, http)
    yield {"proc": proc, "rpc": rpc, "http": http, "dir": work, "chars": chars}
    stop_service(proc)


def test_original_ocr_service_matches_direct_inference(ocr):
    import requests

    image = _jpeg(_text_image())
    url = f"http://127.0.0.1:{ocr['http']}/ocr/prediction"
    body = requests.post(url, json={"key": ["image"], "value": [_b64(image)]}, timeout=60).json()
    assert body["err_no"] == 0, body["err_msg"]
    result = _check_ocr_result(body["value"][0], ocr["chars"])
    assert len(result) == len(OCR_RECTS)
    expected = _ocr_direct(ocr["dir"], image)
    assert [box for _, box in result] == [box for _, box in expected]
    assert [text for (text, _), _ in result] == [text for (text, _), _ in expected]
