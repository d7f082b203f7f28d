"""`scaffold run` also runs a generated service (and its clients) unchanged: same answers as
`python web_service.py` gives (tests/scaffold/test_new_e2e.py)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from scaffold_helpers import IMAGE

from generator.service import OPS_BY_TASK, LocalService
from tests.helpers.services import service_env, start_service, stop_service

pytestmark = pytest.mark.slow

SCAFFOLD = ["-c", "from generator.cli import main; main()", "run"]


def test_generated_classification_service_under_scaffold_run(generated):
    folder, http_port, rpc_port = generated("classification")
    proc = start_service([*SCAFFOLD, "web_service.py"], folder, http_port)
    try:
        answers = {}
        for client, port in (("pipeline_http_client.py", http_port),
                             ("pipeline_rpc_client.py", rpc_port)):
            out = subprocess.run([sys.executable, *SCAFFOLD, client, str(IMAGE), "--host",
                                  "127.0.0.1", "--port", str(port)], cwd=folder,
                                 capture_output=True, text=True, timeout=120, env=service_env())
            assert out.returncode == 0, out.stderr + out.stdout
            answers[client] = json.loads(out.stdout.strip().splitlines()[-1])
    finally:
        assert stop_service(proc) == 0
    op = OPS_BY_TASK["classification"](name="classification",
                                       deploy_config=folder / "infer_cfg.yml",
                                       labels=folder / "label_list.txt", top_k=3)
    want = LocalService(op, folder / "serving_server").predict_images(
        {"image": IMAGE.read_bytes()})["image"]
    for answer in answers.values():
        assert answer["err_no"] == 0
        got = answer["result"]["image"]
        assert [g["category_id"] for g in got] == [w["category_id"] for w in want]
