"""`scaffold new`: plan (validate everything, write nothing) -> build the service folder in a
temporary sibling (export or convert the model, render the templates, check the result) ->
rename it into place. A failure at any step leaves no folder behind."""

from __future__ import annotations

import datetime as _dt
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from generator import __version__
from generator.scaffold import backend_choice, model_source
from generator.scaffold.checks import (
    check_deploy_record,
    check_model_loads,
    check_overrides,
    check_ppdet_preprocess,
    check_preprocess,
    has_weights,
    marked_random,
)
from generator.scaffold.errors import ScaffoldConfigError
from generator.scaffold.names import check_name, slugify
from generator.scaffold.output_checks import _check_generated, _check_output, inputs_fingerprint
from generator.scaffold.ownership import (
    add_file_hashes,
)
from generator.scaffold.render import SERVICE_TEMPLATES, render_service
from generator.scaffold.service_context import _class_ids, _context, _record
from generator.scaffold.service_plan import (
    MODEL_FILES,
    NewServiceRequest,
    ServicePlan,
    ServiceResult,
)
from generator.scaffold.settings import parse_service_section


def _load_config(request: NewServiceRequest) -> dict[str, Any] | None:
    from generator.export.errors import ExportError
    from generator.export.native_config import load_native_config

    if request.config is None:
        return None
    path = Path(request.config)
    if not path.is_file():
        raise ScaffoldConfigError(f"--config {path}: file not found")
    if request.model_dir is not None:
        return model_source.read_processing_config(path, request.overrides)
    try:
        if request.overrides:  # each -o against the config it changes: types, typos
            base = load_native_config(path, [])
            request.warnings += check_overrides(
                base, list(request.overrides), ppdet=bool(base.get("__ppdet__")),
                strict=request.strict_overrides, where=f"--config {path}")
        return load_native_config(path, request.overrides)
    except ExportError as exc:
        raise ScaffoldConfigError(f"--config {path}: {exc}") from None


def _weights(cfg: dict[str, Any] | None, request: NewServiceRequest) -> tuple[bool, str]:
    """(random weights?, how to give weights)."""
    if request.model_dir is not None:
        return marked_random(Path(request.model_dir)), \
            "export the model again with -o weights=PATH.pdparams"
    if cfg is None:
        return False, ""
    return not has_weights(cfg), "scaffold new --config CONFIG -o weights=PATH.pdparams"


def plan_service(request: NewServiceRequest) -> ServicePlan:
    """Validate the request and decide every output; writes nothing."""
    from generator.scaffold import ocr_service
    from generator.service.deploy_config import (
        DeployConfigError,
        find_deploy_config,
        read_deploy_config,
    )

    if ocr_service.is_ocr_request(request):  # det + rec (+ orientation): the OCR service
        return ocr_service.plan_ocr(request)
    if request.config is None and request.model_dir is None:
        raise ScaffoldConfigError("give --config FILE (a model config) or --model-dir DIR (an "
                                  "exported model)")
    cfg = _load_config(request)
    where = f"--config {request.config}" if request.config else f"--model-dir {request.model_dir}"
    deploy_record = None
    if request.model_dir is not None:
        model_dir = Path(request.model_dir)
        if not model_dir.is_dir():
            raise ScaffoldConfigError(f"--model-dir {model_dir}: not a directory")
        if cfg is None or not cfg.get("preprocess"):
            try:
                deploy_record = find_deploy_config(model_dir)
                deploy = read_deploy_config(deploy_record)
            except DeployConfigError as exc:
                raise ScaffoldConfigError(str(exc)) from None
            task = str((cfg or {}).get("task") or deploy.task)
        else:
            task = str(cfg.get("task", "generic"))
        default_name = str(cfg["name"]) if cfg else model_dir.resolve().name
    else:
        assert cfg is not None
        task = "detection" if cfg.get("__ppdet__") else str(cfg.get("task", "generic"))
        default_name = str(cfg.get("name") or Path(request.config).stem)
    if task not in model_source.SERVICE_TASKS:
        raise ScaffoldConfigError(
            f"{where}: task {task!r} cannot be served by a generated service; set `task:` to one "
            f"of {', '.join(model_source.SERVICE_TASKS)}")
    if cfg is not None and cfg.get("preprocess") and not cfg.get("__ppdet__"):
        check_preprocess(cfg["preprocess"], task, f"--config {request.config}")
    if cfg is not None and cfg.get("__ppdet__") and request.ppdet_root is None:
        check_ppdet_preprocess(cfg, f"--config {request.config}")
    if deploy_record is not None:
        check_deploy_record(deploy_record, where)
    if request.model_dir is not None:
        check_model_loads(Path(request.model_dir), where)
    settings = parse_service_section(
        (cfg or {}).get("service"), where=where, device=request.device, trt=request.trt,
        http_port=request.http_port, rpc_port=request.rpc_port, host=request.host,
        image=request.image)
    backend_choice.check_requested(request.backend)
    if request.backend not in (None, "auto", "paddle") and (request.device == "gpu"
                                                              or settings.device == "gpu"):
        raise ScaffoldConfigError(f"--backend {request.backend} runs on CPU only; drop it (or "
                                  "--device gpu)")
    if request.device == "cpu" and request.trt:
        raise ScaffoldConfigError("--trt needs the GPU: drop --device cpu (or --trt)")
    if request.name is not None:
        name = check_name(request.name, "--name")
    else:
        name = slugify(default_name)
    title = settings.title or default_name
    # default folder: <config file name>_serving (serving_configs/yolov3.yml -> yolov3_serving,
    # as the README's next commands say), else <service name>_serving
    stem = slugify(Path(request.config).stem) if request.config and request.model_dir is None \
        and request.name is None else name
    output = Path(request.output) if request.output else Path.cwd() / f"{stem}_serving"
    output = output.resolve()
    random_weights, weights_hint = _weights(cfg, request)
    deploy_file = deploy_record.name if deploy_record else "infer_cfg.yml"
    files = sorted([*MODEL_FILES, deploy_file, "label_list.txt", ".scaffold.yml",
                    *SERVICE_TEMPLATES])
    if request.vendor:
        files = sorted([*files, f"vendor/paddle_serving_scaffold-{__version__}-py3-none-any.whl"])
    plan = ServicePlan(request=request, name=name, title=title, task=task, output=output,
                       settings=settings, config=cfg, deploy_record=deploy_record,
                       random_weights=random_weights, weights_hint=weights_hint, files=files,
                       inputs_hash=inputs_fingerprint(request, name))
    plan.notes += request.warnings
    _check_output(plan)
    if random_weights:
        plan.notes.append(
            "WARNING: no trained weights given: the model has RANDOM weights (random "
            f"initialisation), so its predictions are meaningless. Give weights with: "
            f"{weights_hint}")
    return plan


def _build(plan: ServicePlan, folder: Path, now: _dt.datetime) -> None:
    from generator.service.deploy_config import read_deploy_config

    r = plan.request
    if plan.task == "ocr":
        from generator.scaffold.ocr_service import build_ocr

        build_ocr(plan, folder, now)
        return
    if r.model_dir is not None:
        infer_cfg = None if plan.deploy_record is not None else \
            model_source.infer_cfg_from_config(plan.config or {}, plan.task)
        out = model_source.convert_into(Path(r.model_dir), folder, plan.deploy_record, infer_cfg)
    else:
        assert r.config is not None
        out = model_source.export_into(Path(r.config), list(r.overrides), folder, verify=r.verify,
                                       ppdet_root=r.ppdet_root)
    plan.backend = _choose_backend(plan, folder, out.deploy_file)
    deploy = read_deploy_config(folder / out.deploy_file)
    labels = list(deploy.labels) or _class_ids(plan.task, folder)
    (folder / "label_list.txt").write_text("".join(f"{x}\n" for x in labels), encoding="utf-8")
    for rel, text in render_service(_context(plan, out.deploy_file, deploy, folder)).items():
        target = folder / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    if r.sweep:
        from generator.scaffold.serving_sweep import sweep_into

        plan.sweep = sweep_into(plan, folder)
    (folder / ".scaffold.yml").write_text(_record(plan, now), encoding="utf-8")
    if r.vendor:
        vendor_wheel(folder / "vendor")
    _check_generated(folder)


def _choose_backend(plan: ServicePlan, folder: Path, deploy_file: str) -> Any:
    """Measure the backends for this model (see backend_choice) and print the comparison."""
    r = plan.request
    s = plan.settings
    requested = backend_choice.check_requested(r.backend)
    legacy = None
    if s.device == "cpu" and not (requested == "paddle" and s.use_mkldnn is False) \
            and requested != "onnxruntime":
        if r.config is not None and r.model_dir is None:
            legacy = model_source.export_legacy_into(Path(r.config), list(r.overrides),
                                                     folder / ".legacy", r.ppdet_root)
    try:
        choice = backend_choice.choose_for_service(
            folder, deploy_file, requested=requested, device=s.device,
            thread_num=s.thread_num, use_mkldnn=s.use_mkldnn, legacy=legacy)
    finally:
        shutil.rmtree(folder / ".legacy", ignore_errors=True)
    return choice


def vendor_wheel(dest: Path) -> Path:
    """Put this package's wheel into `dest` (see generator.scaffold.vendor)."""
    from generator.scaffold.vendor import vendor_wheel as _vendor

    return _vendor(dest)


def _set_permissions(folder: Path) -> None:
    """Temporary folders are created 0700: give the tree the usual umask permissions."""
    umask = os.umask(0)
    os.umask(umask)
    for path in [folder, *folder.rglob("*")]:
        if path.is_dir():
            path.chmod(0o777 & ~umask)


def create_service(plan: ServicePlan, now: _dt.datetime | None = None) -> ServiceResult:
    """Generate the planned service folder atomically (temporary sibling, then rename)."""
    now = now or _dt.datetime.now(_dt.UTC)
    output = plan.output
    if plan.up_to_date:
        files = sorted(str(p.relative_to(output)) for p in output.rglob("*") if p.is_file())
        return ServiceResult(output=output, files=files, plan=plan)
    tmp = Path(tempfile.mkdtemp(prefix=f".{output.name}.tmp-", dir=output.parent))
    old = None
    try:
        _build(plan, tmp, now)
        add_file_hashes(tmp)
        if output.exists():
            if plan.replace is None:  # appeared since planning
                raise ScaffoldConfigError(f"--output {output}: it appeared while generating; "
                                          "nothing was changed, run scaffold new again")
            generated = {p.relative_to(tmp).as_posix() for p in tmp.rglob("*") if p.is_file()}
            plan.kept = plan.replace.carry_over(tmp, generated, plan.request.force)
            old = output.with_name(f".{output.name}.old-{os.getpid()}")
            os.replace(output, old)
        _set_permissions(tmp)
        os.replace(tmp, output)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if old is not None and not output.exists():
            os.replace(old, output)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    files = sorted(str(p.relative_to(output)) for p in output.rglob("*") if p.is_file())
    return ServiceResult(output=output, files=files, plan=plan)


def new_service(request: NewServiceRequest, dry_run: bool = False) -> ServicePlan | ServiceResult:
    """Plan, then (unless `dry_run`) create the service folder."""
    plan = plan_service(request)
    return plan if dry_run else create_service(plan)
