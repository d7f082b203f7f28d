"""`scaffold new`: plan (validate everything, write nothing) -> build the service folder in a
temporary sibling (export or convert the model, render the templates, check the result) ->
rename it into place. A failure at any step leaves no folder behind."""

from __future__ import annotations

import datetime as _dt
import os
import platform
import shutil
import tempfile
from dataclasses import dataclass, field, fields
from importlib import metadata
from pathlib import Path
from typing import Any

import yaml

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
from generator.scaffold.errors import ScaffoldConfigError, ScaffoldError
from generator.scaffold.names import check_name, k8s_name, slugify
from generator.scaffold.ownership import (
    ReplacePlan,
    add_file_hashes,
    check_replaceable,
    read_record,
)
from generator.scaffold.render import SERVICE_TEMPLATES, render_service
from generator.scaffold.settings import ServiceSettings, bind_hosts, parse_service_section

OP_CLASSES = {"detection": "DetectionOp", "classification": "ClassificationOp",
              "segmentation": "SegmentationOp", "embedding": "EmbeddingOp",
              "text_detection": "TextDetectionOp", "text_recognition": "TextRecognitionOp",
              "textline_orientation": "TextlineOrientationOp"}
MODEL_FILES = ("serving_server/", "serving_client/")
PRESTOP_SLEEP_S = 5
CONTAINER_UID = 10001  # the non-root user of the generated image and Deployment


@dataclass
class NewServiceRequest:
    """The inputs of `scaffold new` (CLI options; None means "not given")."""

    config: Path | None = None
    model_dir: Path | None = None
    overrides: list[str] = field(default_factory=list)
    output: Path | None = None
    name: str | None = None
    device: str | None = None
    trt: str | None = None
    http_port: int | None = None
    rpc_port: int | None = None
    overwrite: bool = False
    verify: bool = False
    ppdet_root: Path | None = None
    vendor: bool = True  # this package's wheel in vendor/ (False: --no-vendor)
    force: bool = False  # with overwrite: also replace files the user changed
    update: bool = False  # regenerate only when the inputs changed (keeps an up-to-date folder)
    host: str | None = None
    image: str | None = None
    strict_overrides: bool = False  # unknown -o keys of PaddleDetection configs are errors
    warnings: list[str] = field(default_factory=list)  # found while planning
    backend: str | None = None  # None/"auto": the fastest with Paddle's outputs (backend_choice)
    #: several --model-dir: the toolkit exports of a two-stage OCR service (ocr_service)
    model_dirs: list[Path] = field(default_factory=list)


@dataclass
class ServicePlan:
    """Everything decided before writing: validated settings, names, files."""

    request: NewServiceRequest
    name: str
    title: str
    task: str
    output: Path
    settings: ServiceSettings
    config: dict[str, Any] | None
    deploy_record: Path | None  # --model-dir: the source's deploy record (None: from config)
    random_weights: bool
    weights_hint: str
    files: list[str]
    notes: list[str] = field(default_factory=list)
    backend: Any = None  # the BackendChoice made while building
    replace: ReplacePlan | None = None  # the existing generated folder --overwrite replaces
    kept: list[str] = field(default_factory=list)  # the user's files carried over
    up_to_date: bool = False  # --update: the folder was generated from these same inputs
    inputs_hash: str = ""

    @property
    def source_desc(self) -> str:
        r = self.request
        if r.model_dir is not None:
            return f"the exported model {r.model_dir.name}"
        assert r.config is not None
        return f"the config {r.config.name}"


@dataclass
class ServiceResult:
    """A generated service folder."""

    output: Path
    files: list[str]
    plan: ServicePlan


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


def inputs_fingerprint(request: NewServiceRequest, name: str) -> str:
    """SHA-256 of what a generated folder depends on: the source files' content, the options
    and this package's version (`--update` regenerates only when it changes)."""
    import hashlib

    h = hashlib.sha256()
    sources = [Path(p) for p in (request.config,) if p]
    for d in [request.model_dir, *request.model_dirs]:
        if d and Path(d).is_dir():
            sources += sorted(p for p in Path(d).iterdir() if p.is_file())
    for path in sources:
        h.update(str(path.resolve()).encode() + b"\0" + path.read_bytes() + b"\0")
    for item in request.overrides:  # a file an override names (weights): a new one counts
        value = Path(item.partition("=")[2].strip())
        if value.is_file():
            st = value.stat()
            h.update(f"{value.resolve()}:{st.st_size}:{st.st_mtime_ns}".encode())
    # every option that shapes the folder (new request fields count without a change here)
    ignored = {"output", "overwrite", "force", "update", "warnings", "strict_overrides",
               "config", "model_dir", "model_dirs"}  # the last three: hashed above, by content
    options = {f.name: str(getattr(request, f.name)) for f in fields(request)
               if f.name not in ignored}
    options.update(name=name, version=__version__)
    h.update(repr(sorted(options.items())).encode())
    return h.hexdigest()


def _check_output(plan: ServicePlan) -> None:
    """The output location: absent and creatable, or a generated folder --overwrite may replace
    (files the user changed need --force). Raises ScaffoldConfigError; writes nothing."""
    request, output = plan.request, plan.output
    if output.exists() and not output.is_dir():
        raise ScaffoldConfigError(f"--output {output}: it exists and is not a folder; remove it "
                                  "or choose another --output")
    if output.exists():
        if request.update:
            record = read_record(output) or {}
            if record.get("inputs_hash") == plan.inputs_hash:
                plan.up_to_date = True
                return
        if not (request.overwrite or request.update):
            raise ScaffoldConfigError(
                f"--output {output}: it already exists. Nothing was changed; pass --overwrite "
                "to regenerate a folder `scaffold new` made (your changes are kept or refused), "
                "or choose another folder with --output")
        generates = {p for p in plan.files if not p.endswith("/")}
        plan.replace = check_replaceable(output, force=request.force, generates=generates)
    parent = output.parent
    if not parent.is_dir():
        raise ScaffoldConfigError(f"--output {output}: the parent folder {parent} does not "
                                  "exist; create it first or choose another --output")
    try:  # a real probe: os.access() says yes to root on read-only or special filesystems
        os.rmdir(tempfile.mkdtemp(prefix=f".{output.name}.probe-", dir=parent))
    except OSError as exc:
        raise ScaffoldConfigError(f"--output {output}: cannot write into {parent} "
                                  f"({exc.strerror}); choose a folder you can write with "
                                  "--output") from None


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


def _check_generated(folder: Path) -> None:
    """The generated config.yml loads with the runtime's validator; Python files compile."""
    from generator.runtime.config import load_pipeline_config
    from generator.runtime.errors import PipelineConfigError

    try:
        load_pipeline_config(str(folder / "config.yml"))
    except PipelineConfigError as exc:
        raise ScaffoldError(f"internal error: the generated config.yml is invalid: {exc}") from exc
    for py in folder.glob("*.py"):
        compile(py.read_text(encoding="utf-8"), str(py), "exec")


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
