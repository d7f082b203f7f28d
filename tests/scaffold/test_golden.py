"""Golden files: the text files of one generated service per task kind, compared with
`tests/golden/<kind>/<path>.golden` after normalising volatile values (timestamp, versions,
absolute paths, ports; the `.golden` suffix keeps linters off the placeholders). Regenerate with `UPDATE_GOLDEN=1 pytest tests/scaffold/test_golden.py`."""

from __future__ import annotations

import os
import platform
import re
from importlib import metadata

import pytest
import yaml
from scaffold_helpers import SERVICES

from generator import __version__
from generator.runtime.config import load_pipeline_config
from generator.scaffold.render import SERVICE_TEMPLATES
from tests.helpers.services import REPO_ROOT

GOLDEN = REPO_ROOT / "tests" / "golden"
TEXT_FILES = sorted([*SERVICE_TEMPLATES, "infer_cfg.yml", "label_list.txt", ".scaffold.yml"])


def _normalise(text: str, folder, http_port: int, rpc_port: int) -> str:
    text = re.sub(r"timestamp: '[^']*'", "timestamp: '<timestamp>'", text)
    text = text.replace(str(folder.parent), "<tmp>").replace(str(REPO_ROOT), "<repo>")
    text = re.sub(rf"(?<![\d.]){http_port}(?!\d)", "<http_port>", text)
    text = re.sub(rf"(?<![\d.]){rpc_port}(?!\d)", "<rpc_port>", text)
    text = re.sub(rf"(paddle-serving-scaffold(?:\[[\w,-]+\])?(?:==|: | )){re.escape(__version__)}",
                  r"\1<version>", text)
    paddle = metadata.version("paddlepaddle")
    text = re.sub(rf"(paddlepaddle(?:-gpu)?(?:==|: )){re.escape(paddle)}", r"\1<paddle>", text)
    text = re.sub(r"\b[0-9a-f]{64}\b", "<sha256>", text)  # .scaffold.yml file/input hashes
    return text.replace(f"python: {platform.python_version()}", "python: <python>")


@pytest.mark.parametrize("kind", sorted(SERVICES))
def test_generated_text_files_match_golden(generated, kind):
    folder, http_port, rpc_port = generated(kind)
    # the generated YAML loads, the config.yml with the runtime's own validator
    load_pipeline_config(str(folder / "config.yml"))
    for rel in TEXT_FILES:
        if rel.endswith((".yml", ".yaml")):
            list(yaml.safe_load_all((folder / rel).read_text()))  # k8s files: several docs
    golden_dir = GOLDEN / kind
    update = os.environ.get("UPDATE_GOLDEN") == "1"
    mismatched = []
    for rel in TEXT_FILES:
        got = _normalise((folder / rel).read_text(encoding="utf-8"), folder, http_port, rpc_port)
        path = golden_dir / f"{rel}.golden"
        if update:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(got, encoding="utf-8")
        elif not path.is_file() or path.read_text(encoding="utf-8") != got:
            mismatched.append(rel)
    assert not mismatched, (
        f"generated {kind} files differ from tests/golden/{kind}/: {mismatched}; if the change "
        "is intended, regenerate with UPDATE_GOLDEN=1 pytest tests/scaffold/test_golden.py")
