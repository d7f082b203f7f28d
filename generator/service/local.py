"""Run a service's Op in-process, without a server: the same preprocess -> inference ->
postprocess code path the served requests take (used by `infer.py` and `scaffold verify`)."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from generator.runtime.config import op_config
from generator.runtime.errors import ErrorCode
from generator.runtime.pipeline.operator import DAG_EXECUTOR_NAME, Op


class ServiceCallError(RuntimeError):
    """The Op answered with an error (err_no and err_msg as a server would)."""

    def __init__(self, err_no: int, err_msg: str):
        super().__init__(f"err_no {err_no}: {err_msg}")
        self.err_no = err_no
        self.err_msg = err_msg


class LocalService:
    """`op` with a predictor on `model_dir` (a `serving_server/` folder), CPU unless told."""

    def __init__(self, op: Op, model_dir: str | Path, *, device: str = "cpu", device_id: int = 0,
                 **local_service_conf: Any):
        op.init_from_dict(op_config(op.name, {"local_service_conf": {
            "model_config": str(model_dir), "client_type": "local_predictor",
            **local_service_conf}}, "LocalService"))
        op.client = op._build_client(device, device_id)
        op.init_op()
        self.op = op
        self._next_id = 0

    def call(self, request: dict[str, Any]) -> dict[str, Any]:
        """Run one request dict (values as a client would send them); returns the response
        dict of strings, or raises ServiceCallError."""
        self._next_id += 1
        (out, _), = self.op.run_batch([(self._next_id, 0, {DAG_EXECUTOR_NAME: request})])
        if out.error_code != ErrorCode.OK:
            code = out.prod_error_code if out.error_code == ErrorCode.PRODUCT_ERROR else out.error_code
            raise ServiceCallError(int(code), out.error_info or out.prod_error_info or "")
        return out.parse()

    def predict_images(self, images: dict[str, bytes]) -> dict[str, Any]:
        """{request key: encoded image bytes} -> {key: decoded JSON result}."""
        request = {k: base64.b64encode(v).decode("ascii") for k, v in images.items()}
        return {k: json.loads(v) for k, v in self.call(request).items()}
