"""`scaffold new` for the two-stage OCR service: several `--model-dir` (a text detection and a
text recognition export, optionally a text-line orientation one), or a config with `task: ocr`
naming those folders (serving_configs/ocr.yml):

    name: ocr
    task: ocr
    models:                         # toolkit export folders (relative to this file)
      text_detection: PP-OCRv5_mobile_det_infer
      text_recognition: PP-OCRv5_mobile_rec_infer
      textline_orientation: null    # optional: PP-LCNet_x0_25_textline_ori
    ocr:
      rec_batch_size: 6             # crops recognised per inference (grouped by aspect ratio)
      score_thresh: 0.0             # lines recognised with a lower score are left out
    service: {...}                  # as in every config (generator.scaffold.settings)

Each model's kind comes from its inference.yml (generator.toolkit). Every folder is checked
before anything is written; each stage gets its folder in the service (`det/`, `ori/`, `rec/`:
serving_server/, serving_client/, inference.yml), its Op in config.yml and its own backend,
chosen by measuring that model.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from generator.ocr import pipeline as ocr_defaults
from generator.scaffold.errors import ScaffoldConfigError

#: kind -> (folder and Op name in the service, what it is), in pipeline order
STAGES: dict[str, tuple[str, str]] = {
    "text_detection": ("det", "text detection"),
    "textline_orientation": ("ori", "text-line orientation"),
    "text_recognition": ("rec", "text recognition"),
}
CONFIG_KEYS = ("version", "name", "task", "models", "ocr", "service")
OCR_KEYS = ("rec_batch_size", "score_thresh")


@dataclass(frozen=True)
class OcrStage:
    kind: str
    source: Path  # the toolkit export folder
    model_name: str

    @property
    def folder(self) -> str:
        return STAGES[self.kind][0]


def _config_data(path: Path | None) -> dict[str, Any] | None:
    if path is None or not Path(path).is_file():
        return None
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return None  # the regular config loader reports it
    return data if isinstance(data, dict) else None


def is_ocr_request(request: Any) -> bool:
    """Several --model-dir, or a config whose `task` is ocr."""
    if len(request.model_dirs or []) > 1:
        return True
    data = _config_data(request.config)
    return bool(data) and data.get("task") == "ocr"


def _read_config(path: Path) -> tuple[dict[str, Any], list[Path]]:
    """(validated config, model folders) of an OCR config file."""
    where = f"--config {path}"
    data = _config_data(path)
    if data is None:
        raise ScaffoldConfigError(f"{where}: cannot read it as a YAML mapping")
    unknown = [str(k) for k in data if k not in CONFIG_KEYS]
    if unknown:
        raise ScaffoldConfigError(f"{where}: unknown key(s) {', '.join(unknown)}; an OCR config "
                                  f"has {', '.join(CONFIG_KEYS)}")
    models = data.get("models")
    if not isinstance(models, dict) or not models:
        raise ScaffoldConfigError(
            f"{where}: `models:` must map kinds to toolkit export folders, e.g. "
            "{text_detection: PP-OCRv5_mobile_det_infer, text_recognition: "
            "PP-OCRv5_mobile_rec_infer}")
    dirs = []
    for kind, value in models.items():
        if kind not in STAGES:
            raise ScaffoldConfigError(f"{where}: models.{kind}: unknown kind; use "
                                      f"{', '.join(STAGES)}")
        if value is None:
            continue
        p = Path(str(value)).expanduser()
        dirs.append(p if p.is_absolute() else (Path(path).parent / p))
    section = data.get("ocr") or {}
    if not isinstance(section, dict) or any(k not in OCR_KEYS for k in section):
        raise ScaffoldConfigError(f"{where}: `ocr:` takes {', '.join(OCR_KEYS)}, found "
                                  f"{section!r}")
    batch = section.get("rec_batch_size", ocr_defaults.REC_BATCH_SIZE)
    thresh = section.get("score_thresh", ocr_defaults.REC_SCORE_THRESH)
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise ScaffoldConfigError(f"{where}: ocr.rec_batch_size: expected an integer >= 1, "
                                  f"found {batch!r}")
    if isinstance(thresh, bool) or not isinstance(thresh, int | float) or not 0 <= thresh <= 1:
        raise ScaffoldConfigError(f"{where}: ocr.score_thresh: expected a number in [0, 1], "
                                  f"found {thresh!r}")
    data["ocr"] = {"rec_batch_size": int(batch), "score_thresh": float(thresh)}
    return data, dirs


def read_stages(dirs: list[Path], where: str) -> list[OcrStage]:
    """The OCR stages of the given toolkit export folders (kinds from their inference.yml):
    exactly one text detection and one text recognition, at most one text-line orientation."""
    from generator.toolkit import ToolkitExportError, read_toolkit_export

    found: dict[str, OcrStage] = {}
    for d in dirs:
        if not Path(d).is_dir():
            raise ScaffoldConfigError(
                f"{where}: {d}: not a directory; give a toolkit export folder (inference.json + "
                "inference.pdiparams + inference.yml, as PaddleOCR 3's tools/export_model.py "
                "writes it)")
        try:
            export = read_toolkit_export(d)
        except ToolkitExportError as exc:
            raise ScaffoldConfigError(f"{where}: {exc}") from None
        if export.kind not in STAGES:
            raise ScaffoldConfigError(
                f"{where}: {d} is a {export.kind} model ({export.model_name or 'no model_name'}); "
                "an OCR service takes a text detection, a text recognition and optionally a "
                "text-line orientation export (several --model-dir make an OCR service)")
        if export.kind in found:
            raise ScaffoldConfigError(f"{where}: two {STAGES[export.kind][1]} models: "
                                      f"{found[export.kind].source} and {d}; give one")
        found[export.kind] = OcrStage(export.kind, Path(d), export.model_name)
    missing = [STAGES[k][1] for k in ("text_detection", "text_recognition") if k not in found]
    if missing:
        kinds = ", ".join(f"{s.source} ({s.kind})" for s in found.values()) or "none"
        raise ScaffoldConfigError(f"{where}: an OCR service needs a {' and a '.join(missing)} "
                                  f"model too; given: {kinds}")
    return [found[k] for k in STAGES if k in found]


def plan_ocr(request: Any) -> Any:
    """The ServicePlan of an OCR service (validates everything; writes nothing)."""
    from generator import __version__
    from generator.scaffold import backend_choice
    from generator.scaffold.checks import check_model_loads, marked_random
    from generator.scaffold.names import check_name, slugify
    from generator.scaffold.output_checks import _check_output, inputs_fingerprint
    from generator.scaffold.render import OCR_TEMPLATES
    from generator.scaffold.service_plan import ServicePlan
    from generator.scaffold.settings import parse_service_section

    if request.config is not None and request.model_dirs:
        raise ScaffoldConfigError("give the OCR models either as several --model-dir or in the "
                                  "config's `models:`, not both")
    if request.overrides:
        raise ScaffoldConfigError("-o overrides do not apply to an OCR service; edit the "
                                  "config (or the generated config.yml) instead")
    if request.config is not None:
        cfg, dirs = _read_config(Path(request.config))
        where = f"--config {request.config}"
    else:
        cfg = {"ocr": {"rec_batch_size": ocr_defaults.REC_BATCH_SIZE,
                       "score_thresh": ocr_defaults.REC_SCORE_THRESH}}
        dirs = [Path(d) for d in request.model_dirs]
        where = "--model-dir " + " --model-dir ".join(map(str, dirs))
    stages = read_stages(dirs, where)
    settings = parse_service_section(
        cfg.get("service"), where=where, device=request.device, trt=request.trt,
        http_port=request.http_port, rpc_port=request.rpc_port, host=request.host,
        image=request.image)
    backend_choice.check_requested(request.backend)
    if request.backend not in (None, "auto", "paddle") and settings.device == "gpu":
        raise ScaffoldConfigError(f"--backend {request.backend} runs on CPU only; drop it (or "
                                  "--device gpu)")
    if request.device == "cpu" and request.trt:
        raise ScaffoldConfigError("--trt needs the GPU: drop --device cpu (or --trt)")
    if settings.trt:
        raise ScaffoldConfigError("TensorRT is not supported by the OCR service yet (its "
                                  "stages' input sizes vary per image and per line); use "
                                  "--device gpu without --trt")
    default_name = str(cfg.get("name") or "ocr")
    name = check_name(request.name, "--name") if request.name is not None \
        else slugify(default_name)
    stem = slugify(Path(request.config).stem) if request.config and request.name is None \
        else name
    output = (Path(request.output) if request.output else Path.cwd() / f"{stem}_serving")
    for stage in stages:  # the costliest check last
        check_model_loads(stage.source, f"{where}: {stage.source}")
    cfg["stages"] = stages
    files = sorted([*(f"{s.folder}/" for s in stages), ".scaffold.yml", *OCR_TEMPLATES])
    if request.vendor:
        files = sorted([*files, f"vendor/paddle_serving_scaffold-{__version__}-py3-none-any.whl"])
    random = any(marked_random(s.source) for s in stages)
    plan = ServicePlan(request=request, name=name, title=settings.title or default_name,
                          task="ocr", output=output.resolve(), settings=settings, config=cfg,
                          deploy_record=None, random_weights=random,
                          weights_hint="export the models again with trained weights",
                          files=files,  # the folders a config names count as --model-dir
                          inputs_hash=inputs_fingerprint(
                              replace(request, model_dirs=[s.source for s in stages]), name))
    plan.notes += request.warnings
    _check_output(plan)
    if random:
        plan.notes.append("WARNING: a model was exported without trained weights (random "
                          "initialisation): the OCR answers are meaningless")
    return plan


class OcrBackends:
    """The backend chosen for each stage (what `scaffold new` prints)."""

    def __init__(self, choices: dict[str, Any]):
        self.choices = choices

    def table(self) -> str:
        return "\n".join(f"{STAGES[kind][1]} ({STAGES[kind][0]}/): {choice.table()}"
                         for kind, choice in self.choices.items())


def _context(plan: Any, backends: OcrBackends) -> dict[str, Any]:
    from generator import __version__
    from generator.scaffold import backend_choice
    from generator.scaffold.names import k8s_name
    from generator.scaffold.service_context import _versions
    from generator.scaffold.service_plan import CONTAINER_UID, PRESTOP_SLEEP_S
    from generator.scaffold.settings import bind_hosts

    s = plan.settings
    versions = _versions()
    stages = []
    for stage in plan.config["stages"]:
        choice = backends.choices[stage.kind]
        stages.append({
            "op": stage.folder, "folder": stage.folder, "kind": stage.kind,
            "what": STAGES[stage.kind][1], "model_name": stage.model_name or stage.source.name,
            "backend": choice.chosen.backend, "use_mkldnn": bool(choice.chosen.use_mkldnn),
            "backend_comment": backend_choice.comment_lines(choice),
            "concurrency": s.concurrency or backend_choice.default_concurrency(choice)})
    sources = ", ".join(st.source.name for st in plan.config["stages"])
    return {
        "name": plan.name, "title": plan.title, "task": "ocr", "version": __version__,
        "deploy_file": ", ".join(f"{st['folder']}/inference.yml" for st in stages),
        "settings": s, "device_type": s.device_type,
        "devices": s.devices if s.device == "gpu" else "", "precision": s.trt or "fp32",
        "image": s.image or f"{k8s_name(plan.name)}-serving:latest",
        "k8s_name": k8s_name(plan.name), "paddle_extra": s.device,
        "paddle_version": versions["paddlepaddle"] if versions["paddlepaddle"] != "unknown"
        else "3.3.1",
        "prestop_sleep_s": PRESTOP_SLEEP_S, "random_weights": plan.random_weights,
        "weights_hint": plan.weights_hint, "vendored": plan.request.vendor,
        "source_desc": f"the config {Path(plan.request.config).name}" if plan.request.config
        else f"the exported models {sources}",
        "http_host": bind_hosts(s.host)[0], "rpc_host": bind_hosts(s.host)[1],
        "container_uid": CONTAINER_UID, "stages": stages,
        "has_ori": any(st["kind"] == "textline_orientation" for st in stages),
        # requirements.txt: Paddle plus the runtime of every stage's backend
        "backend": " + ".join(backend_choice.fast_runtimes(*(st["backend"] for st in stages)))
        or "paddle",
        "service_extras": backend_choice.service_extras(s.device,
                                                        *(st["backend"] for st in stages)),
        "ocr": plan.config["ocr"],
    }


def build_ocr(plan: Any, folder: Path, now: _dt.datetime) -> None:
    """Write the OCR service into `folder` (a temporary sibling of the output)."""
    from generator.scaffold import backend_choice, model_source
    from generator.scaffold.output_checks import _check_generated
    from generator.scaffold.render import OCR_TEMPLATES, render_service
    from generator.scaffold.service_context import _record
    from generator.scaffold.vendor import vendor_wheel

    s = plan.settings
    requested = backend_choice.check_requested(plan.request.backend)
    choices: dict[str, Any] = {}
    for stage in plan.config["stages"]:
        target = folder / stage.folder
        model_source.convert_into(stage.source, target, stage.source / "inference.yml", None)
        choices[stage.kind] = backend_choice.choose_for_service(
            target, "inference.yml", requested=requested, device=s.device,
            thread_num=s.thread_num, use_mkldnn=s.use_mkldnn, legacy=None)
    plan.backend = OcrBackends(choices)
    for rel, text in render_service(_context(plan, plan.backend), OCR_TEMPLATES).items():
        target = folder / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    if plan.request.sweep:
        from generator.scaffold.serving_sweep import sweep_into

        plan.sweep = sweep_into(plan, folder)
    record = yaml.safe_load(_record(plan, now))
    record["inputs"]["model_dirs"] = [str(st.source.resolve()) for st in plan.config["stages"]]
    record["stages"] = {st.folder: {"kind": st.kind, "model_name": st.model_name}
                        for st in plan.config["stages"]}
    (folder / ".scaffold.yml").write_text(
        "# What produced this service (scaffold new); do not edit.\n"
        + yaml.safe_dump(record, sort_keys=False, allow_unicode=True), encoding="utf-8")
    if plan.request.vendor:
        vendor_wheel(folder / "vendor")
    _check_generated(folder)
