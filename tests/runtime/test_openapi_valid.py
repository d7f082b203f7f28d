"""`GET /openapi.json` is a valid OpenAPI 3.1 document (`openapi-spec-validator`, what code
generators and API gateways check on import) for every kind of service the project generates:
the four task Ops and a ported Paddle Serving Op without a task. Each service is served for real
(in-process, loopback ports) on a tiny model of its kind."""

from __future__ import annotations

import pytest
import requests
import yaml
from openapi_spec_validator import validate

from tests.helpers.services import free_port
from tests.helpers.tiny_models import save_conv_classifier, save_tiny_detector, write_serving_server

KINDS = ("classification", "detection", "segmentation", "embedding", "ported")
PREPROCESS = [{"type": "ResizeImage", "resize_short": 36}, {"type": "CropImage", "size": 32},
              {"type": "NormalizeImage", "scale": 1 / 255, "mean": [0.485, 0.456, 0.406],
               "std": [0.229, 0.224, 0.225], "order": ""}, {"type": "ToCHWImage"}]


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("openapi")
    cls = save_conv_classifier(root / "cls", num_classes=4, image_size=None)
    write_serving_server(cls, fetch_alias_names=["scores"])
    det = save_tiny_detector(root / "det", image_size=None)
    write_serving_server(det)
    cfg = root / "infer_cfg.yml"
    cfg.write_text(yaml.safe_dump({"mode": "paddle", "arch": "TinyNet", "task": "classification",
                                   "Preprocess": PREPROCESS, "label_list": ["a", "b", "c", "d"]}))
    return {"cls": cls.model_dir, "det": det.model_dir, "cfg": cfg}


def _serve(kind: str, models: dict):
    from generator.runtime import Op, WebService
    from generator.service import OPS_BY_TASK

    model_dir = models["det" if kind == "detection" else "cls"]

    class Svc(WebService):
        def get_pipeline_response(self, read_op):
            if kind == "ported":  # an Op as Paddle Serving's examples write them
                return Op(name="svc", input_ops=[read_op])
            return OPS_BY_TASK[kind](name="svc", input_ops=[read_op], deploy_config=models["cfg"])

    svc = Svc(name="svc")
    svc.prepare_pipeline_config(yml_dict={
        "rpc_port": free_port(), "http_port": free_port(), "worker_num": 2,
        "op": {"svc": {"local_service_conf": {"model_config": str(model_dir),
                                              "client_type": "local_predictor"}}}})
    return svc.start()


@pytest.mark.parametrize("kind", KINDS)
def test_openapi_document_is_valid(models, kind) -> None:
    server = _serve(kind, models)
    try:
        doc = requests.get(f"http://127.0.0.1:{server.http_port}/openapi.json", timeout=30).json()
    finally:
        server.stop(5)
    validate(doc)  # raises OpenAPIValidationError naming the first violation
    assert doc["x-service"]["task"] == (None if kind == "ported" else kind)
    for path in ("/svc/prediction", "/v2", "/v2/models/svc/infer", "/v2/models/svc-model/infer"):
        for operation in doc["paths"][path].values():
            assert all(r.get("description") for r in operation["responses"].values()), path
