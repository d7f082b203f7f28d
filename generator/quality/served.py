"""Asking a running generated service for one image's answer (gRPC or HTTP), and progress lines
on stderr; shared by `scaffold verify` for every service kind."""

from __future__ import annotations

import base64
import json
import sys
from typing import Any

from generator.quality.service_dir import ServiceDir


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _served(protocol: str, host: str, sd: ServiceDir, rpc: int, http: int,
            image: bytes) -> tuple[int, str, Any]:
    b64 = base64.b64encode(image).decode("ascii")
    if protocol == "grpc":
        from generator.runtime import PipelineClient

        with PipelineClient() as client:
            client.connect([f"{host}:{rpc}"])
            resp = client.predict({"image": b64})
        err_no, err_msg, keys, values = resp.err_no, resp.err_msg, list(resp.key), list(resp.value)
    else:
        import urllib.request

        body = json.dumps({"key": ["image"], "value": [b64]}).encode()
        req = urllib.request.Request(f"http://{host}:{http}/{sd.name}/prediction", data=body,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=120) as r:
            data = json.loads(r.read())
        err_no, err_msg, keys, values = data["err_no"], data["err_msg"], data["key"], data["value"]
    if err_no:
        return err_no, err_msg, None
    result = dict(zip(keys, values, strict=False)).get("image")
    return 0, "", json.loads(result) if result is not None else None
