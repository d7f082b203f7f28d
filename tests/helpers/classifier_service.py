"""A served tiny classification service (conv classifier, ppcls-style preprocessing), in-process
on free loopback ports, for protocol and page tests."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from tests.helpers.services import free_port
from tests.helpers.tiny_models import save_conv_classifier, write_serving_server

LABELS = ["cat", "dog", "ship", "tree"]


def start_classifier_service(root: Path, name: str = "cls", top_k: int = 3,
                             op_class: type | None = None, **conf: Any) -> Any:
    """Export the model under `root`, start the service and return the `PipelineServer`
    (call `.stop()`); `server.model_dir` is the serving model folder. `op_class`: a subclass
    of ClassificationOp to serve instead; `conf`: more config.yml keys (`op` is merged into
    the model Op's)."""
    from generator.runtime import WebService
    from generator.service import ClassificationOp

    model = save_conv_classifier(root / "serving_server", num_classes=len(LABELS), image_size=32)
    write_serving_server(model, fetch_alias_names=["scores"])
    cfg = {"mode": "paddle", "arch": "TinyNet", "task": "classification",
           "Preprocess": [{"type": "ResizeImage", "resize_short": 36},
                          {"type": "CropImage", "size": 32},
                          {"type": "NormalizeImage", "scale": 1 / 255,
                           "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225],
                           "order": ""},
                          {"type": "ToCHWImage"}],
           "label_list": LABELS}
    (root / "infer_cfg.yml").write_text(yaml.safe_dump(cfg, sort_keys=False))

    class Svc(WebService):
        def get_pipeline_response(self, read_op):
            return (op_class or ClassificationOp)(name=name, input_ops=[read_op], top_k=top_k,
                                                  deploy_config=root / "infer_cfg.yml")

    svc = Svc(name=name)
    op_conf = {"local_service_conf": {"model_config": str(root / "serving_server"),
                                      "client_type": "local_predictor"}, **conf.pop("op", {})}
    svc.prepare_pipeline_config(yml_dict={
        "rpc_port": free_port(), "http_port": free_port(), "worker_num": 4,
        "op": {name: op_conf}, **conf})
    server = svc.start()
    server.model_dir = root / "serving_server"
    return server


@contextlib.contextmanager
def classifier_service(root: Path, **kwargs: Any) -> Iterator[Any]:
    """`start_classifier_service(root, **kwargs)` for a `with` block: stopped on the way out."""
    server = start_classifier_service(root, **kwargs)
    try:
        yield server
    finally:
        server.stop(5)
