"""Asking a running generated service for one image's answer (gRPC or HTTP), and progress lines
on stderr; shared by `scaffold verify` for every service kind."""

from __future__ import annotations

import base64
import json
import sys
from collections.abc import Callable
from typing import Any

from generator.quality.compare import Check
from generator.quality.service_dir import ServiceDir, start_service, stop_service


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


def served_checks(options: Any, sd: ServiceDir, served_dir: ServiceDir,
                  compare: Callable[[str, str, Any], Check]) -> list[Check]:
    """Ask the service (started from `served_dir` unless `options.endpoint` names a running one)
    for every image over every protocol; `compare(label, image_name, answer)` judges each answer.
    A transport failure or an error answer fails that image's check."""
    checks: list[Check] = []
    proc = None
    host = options.endpoint or "127.0.0.1"
    rpc = options.rpc_port or sd.rpc_port
    http = options.http_port or sd.http_port
    try:
        if options.endpoint is None:
            _say(f"starting {served_dir.path / 'web_service.py'} ...")
            proc = start_service(served_dir)
        for protocol in options.protocols:
            for name, data in options.images.items():
                label = f"{protocol} {name}"
                try:
                    err_no, err_msg, got = _served(protocol, host, sd, rpc, http, data)
                except Exception as exc:  # noqa: BLE001 - a transport failure fails the check
                    checks.append(Check(label, False, note=f"{type(exc).__name__}: {exc}"))
                    continue
                if err_no:
                    checks.append(Check(label, False, note=f"err_no {err_no}: {err_msg}"))
                    continue
                checks.append(compare(label, name, got))
    finally:
        if proc is not None:
            stop_service(proc)
    return checks
