"""The record and the template context of a generated service folder: `.scaffold.yml`
(`_record`), the Jinja context (`_context`) and the class-id labels of a classifier without names."""

from __future__ import annotations

import datetime as _dt
import platform
from importlib import metadata
from pathlib import Path
from typing import Any

import yaml

from generator import __version__
from generator.scaffold import backend_choice, model_source
from generator.scaffold.names import k8s_name
from generator.scaffold.service_plan import CONTAINER_UID, OP_CLASSES, PRESTOP_SLEEP_S, ServicePlan
from generator.scaffold.settings import bind_hosts


def _versions() -> dict[str, str]:
    def version_of(dist: str) -> str | None:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return None

    paddle = version_of("paddlepaddle") or version_of("paddlepaddle-gpu") or "unknown"
    return {"paddle-serving-scaffold": __version__, "paddlepaddle": paddle,
            "python": platform.python_version()}


def _op_kwargs(plan: ServicePlan, deploy: Any) -> dict[str, Any]:
    s = plan.settings
    if plan.task == "detection":
        threshold = s.draw_threshold if s.draw_threshold is not None else deploy.draw_threshold
        return {"draw_threshold": float(threshold)}
    if plan.task == "classification":
        return {"top_k": s.top_k}
    if plan.task == "embedding":
        return {"normalize": s.normalize}
    return {}


def _record(plan: ServicePlan, now: _dt.datetime) -> str:
    r = plan.request
    data = {
        "generated_by": "paddle-serving-scaffold",
        "timestamp": now.isoformat(timespec="seconds"),
        "versions": _versions(),
        "inputs": {
            "config": str(Path(r.config).resolve()) if r.config else None,
            "model_dir": str(Path(r.model_dir).resolve()) if r.model_dir else None,
            "overrides": list(r.overrides),
            "name": plan.name,
            "device": r.device,
            "trt": r.trt,
            "http_port": r.http_port,
            "rpc_port": r.rpc_port,
            "host": r.host,
            "image": r.image,
            "vendor": r.vendor,
            "backend": r.backend,
        },
        "task": plan.task,
        "title": plan.title,
        "random_weights": plan.random_weights,
        "service": plan.settings.to_dict(),
        "inputs_hash": plan.inputs_hash,
    }
    return "# What produced this service (scaffold new); do not edit.\n" + yaml.safe_dump(
        data, sort_keys=False, allow_unicode=True)


def _context(plan: ServicePlan, deploy_file: str, deploy: Any, folder: Path) -> dict[str, Any]:
    s = plan.settings
    versions = _versions()
    trt_shapes = model_source.trt_dynamic_shapes(folder / "serving_server", s.max_batch) \
        if s.trt else None
    return {
        "name": plan.name, "title": plan.title, "task": plan.task, "version": __version__,
        "op_name": plan.task, "op_class": OP_CLASSES[plan.task],
        "op_kwargs": _op_kwargs(plan, deploy), "deploy_file": deploy_file,
        "settings": s, "device_type": s.device_type,
        "devices": s.devices if s.device == "gpu" else "",
        "precision": s.trt or "fp32", "min_subgraph_size": int(deploy.min_subgraph_size),
        "trt_shapes": trt_shapes, "image": s.image or f"{k8s_name(plan.name)}-serving:latest",
        "k8s_name": k8s_name(plan.name), "paddle_extra": s.device,
        "service_extras": backend_choice.service_extras(
            s.device, plan.backend.chosen.backend if plan.backend else "paddle"),
        "paddle_version": versions["paddlepaddle"] if versions["paddlepaddle"] != "unknown"
        else "3.3.1",
        "prestop_sleep_s": PRESTOP_SLEEP_S, "random_weights": plan.random_weights,
        "weights_hint": plan.weights_hint, "source_desc": plan.source_desc,
        "vendored": plan.request.vendor,
        "http_host": bind_hosts(s.host)[0], "rpc_host": bind_hosts(s.host)[1],
        "container_uid": CONTAINER_UID,
        "backend": plan.backend.chosen.backend if plan.backend else "paddle",
        "use_mkldnn": bool(plan.backend.chosen.use_mkldnn) if plan.backend else False,
        "backend_comment": backend_choice.comment_lines(plan.backend) if plan.backend else [],
        "concurrency": s.concurrency or backend_choice.default_concurrency(plan.backend),
    }


def _class_ids(task: str, folder: Path) -> list[str]:
    """A classifier without class names: its class ids as labels (what responses carry
    anyway), one per class of the model output, so label_list.txt is there to edit."""
    from generator.serving_model.model_config import read_model_config

    if task != "classification":
        return []
    try:
        fetch = read_model_config(folder / "serving_server").fetch_vars
    except Exception:  # noqa: BLE001 - labels are a convenience; the service reads ids anyway
        return []
    dims = [int(d) for d in fetch[0].shape] if fetch else []
    return [str(i) for i in range(dims[-1])] if dims and dims[-1] > 0 else []
