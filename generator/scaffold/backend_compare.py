"""`scaffold bench --backends`: the backends an existing service's model folders allow, measured
as `scaffold new` measures them (backend_choice), with the one its config.yml uses named; an OCR
service is measured stage by stage."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from generator.scaffold.backend_choice import choose_backend, sample_feed


def compare_service_backends(service_dir: Path) -> str:
    """The backend table of each model of the service in `service_dir`."""
    from generator.quality.service_dir import open_service_dir

    sd = open_service_dir(service_dir)
    if getattr(sd.served_op(), "task", None) == "ocr":  # one model per stage: each measured
        return _compare_ocr_stages(sd)
    table = _measured(sd.model_dir, sd.path / sd.served_op().deploy_config_path,
                      int(sd.backend_conf.get("thread_num", 2)))
    return f"{sd.path}: config.yml uses {_used(sd.backend_conf)}\n{table}"


def _compare_ocr_stages(sd: Any) -> str:
    """Each stage's model: a config.yml Op with its serving_server/ next to its inference.yml."""
    from generator.runtime.config import load_pipeline_config

    conf = load_pipeline_config(str(sd.path / "config.yml"))
    out = []
    for op_name, op in conf["op"].items():
        local = op.get("local_service_conf") or {}
        if not local.get("model_config"):
            continue
        server = sd.path / local["model_config"]
        table = _measured(server, server.parent / "inference.yml",
                          int(local.get("thread_num") or 2))
        out.append(f"{op_name} ({server.parent.name}/): config.yml uses {_used(local)}"
                   f"\n{table}")
    return f"{sd.path}:\n" + "\n".join(out)


def _measured(server: Path, deploy: Path, thread_num: int) -> str:
    """The candidates `server`'s program format allows (and its model.onnx, if any), timed on
    the service's own preprocessing of a sample image."""
    from generator.runtime.inference.model_files import find_model_files

    kind = find_model_files(server).kind
    folders = {"pir" if kind == "pir_json" else "legacy": server}
    if (server / "model.onnx").is_file():
        folders["onnx"] = server
    return choose_backend(folders, sample_feed(server, deploy), thread_num=thread_num).table()


def _used(local: dict[str, Any]) -> str:
    backend = local.get("backend") or "paddle"
    return f"backend {backend}" + (" with oneDNN" if local.get("use_mkldnn") and
                                   backend == "paddle" else "")
