"""Checks `scaffold new` and `scaffold export` run before anything is written: the preprocess
ops (with the very builder the service runs), the `-o` overrides (typos, value types) and, for
`--model-dir`, that the model files load."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import yaml

from generator.scaffold.errors import ScaffoldConfigError
from generator.suggest import closest

#: `-o` keys PaddleDetection's tools accept although configs rarely spell them out
PPDET_EXTRA_KEYS = ("weights", "use_gpu", "use_xpu", "use_npu", "use_mlu", "save_dir",
                    "print_flops", "exclude_nms", "exclude_post_process", "export",
                    "pretrain_weights")


def check_preprocess(ops: Any, task: str, where: str) -> None:
    """Build the Preprocess list the way the generated service does (deploy record ->
    `build_preprocess`); ScaffoldConfigError naming the op when it would not start."""
    from generator.preprocess.base import PreprocessConfigError
    from generator.preprocess.pipeline import build_preprocess
    from generator.service.deploy_config import DeployConfigError, read_deploy_config

    record = {"mode": "paddle", "task": task, "Preprocess": list(ops or [])}
    try:
        with tempfile.TemporaryDirectory(prefix="scaffold-check-") as tmp:
            path = Path(tmp) / "infer_cfg.yml"
            path.write_text(yaml.safe_dump(record, sort_keys=False), encoding="utf-8")
            deploy = read_deploy_config(path)
        build_preprocess(deploy.preprocess, deploy.toolkit)
    except (PreprocessConfigError, DeployConfigError, yaml.YAMLError) as exc:
        raise ScaffoldConfigError(f"{where}: preprocess: {exc}") from None


def check_ppdet_preprocess(cfg: dict[str, Any], where: str) -> None:
    """A PaddleDetection config's TestReader transforms, as the exporter turns them into the
    infer_cfg.yml Preprocess list, build the service's preprocessing. Configs this package
    cannot translate are left to the exporter (it says why)."""
    from generator.ppdet.errors import PpdetConfigError
    from generator.ppdet.infer_cfg import build_infer_cfg

    if cfg.get("architecture") != "YOLOv3":
        return  # not built here: the export names the architecture and the ways forward first
    try:
        infer = build_infer_cfg(cfg, search_dirs=(Path(cfg.get("__config_path__", ".")).parent,
                                                  Path.cwd()))
    except (PpdetConfigError, KeyError, TypeError, ValueError):
        return
    check_preprocess(infer.get("Preprocess"), "detection", f"{where}: TestReader")


def check_deploy_record(path: Path, where: str) -> None:
    """The deploy record of an exported model builds the service's preprocessing."""
    from generator.preprocess.base import PreprocessConfigError
    from generator.preprocess.pipeline import build_preprocess
    from generator.service.deploy_config import DeployConfigError, read_deploy_config
    from generator.toolkit import ToolkitExportError

    try:
        deploy = read_deploy_config(path)
        if deploy.task in ("text_detection", "text_recognition", "textline_orientation"):
            from generator.ocr import load_ocr_model

            load_ocr_model(path)
        else:
            build_preprocess(deploy.preprocess, deploy.toolkit)
    except (PreprocessConfigError, DeployConfigError, ToolkitExportError) as exc:
        raise ScaffoldConfigError(f"{where}: {path.name}: {exc}") from None


def _parse(item: str) -> tuple[list[str], Any] | None:
    key, sep, raw = item.partition("=")
    if not sep or not key.strip():
        return None
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError:
        value = raw
    return key.strip().split("."), value


def _kind(value: Any) -> str | None:
    """The type family an override must keep (None: anything goes)."""
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return None


def _same_kind(old: Any, new: Any) -> bool:
    want = _kind(old)
    if want is None or new is None:
        return True
    if want == "a number":
        return isinstance(new, int | float) and not isinstance(new, bool)
    return _kind(new) == want


def check_overrides(base: dict[str, Any], overrides: list[str], *, ppdet: bool,
                    strict: bool = False, where: str = "config") -> list[str]:
    """Compare each `-o KEY=VALUE` with the config it overrides (`base`, without overrides).

    A value whose type differs from the config's (`num_classes=abc` where the config has 80) is
    an error. On a PaddleDetection config a key the config does not have is a warning with a
    did-you-mean hint (PaddleDetection ignores it), an error when `strict`. Returns the
    warnings; raises ScaffoldConfigError with every error at once."""
    errors: list[str] = []
    warnings: list[str] = []
    for item in overrides:
        parsed = _parse(item)
        if parsed is None:
            continue  # the override parser reports the syntax
        path, value = parsed
        if not ppdet and path == ["weights"]:
            continue  # alias of model.weights
        node: Any = base
        for depth, part in enumerate(path):
            if isinstance(node, dict) and part in node:
                node = node[part]
                continue
            if ppdet and isinstance(node, dict) and not (depth == 0 and part in PPDET_EXTRA_KEYS):
                keys = [str(k) for k in node if not str(k).startswith("__")]
                match = closest(part, keys)
                hint = f" (did you mean {'.'.join([*path[:depth], match])!r}?)" if match else ""
                scope = ".".join(path[:depth]) or "the top level"
                (errors if strict else warnings).append(
                    f"-o {item}: {part!r} is not a key of {scope} in the config{hint}; "
                    "PaddleDetection ignores unknown keys, so this override changes nothing")
            break
        else:
            if not _same_kind(node, value):
                shown = repr(node) if len(repr(node)) <= 60 else repr(node)[:57] + "..."
                errors.append(f"-o {item}: expected {_kind(node)} like the config's "
                              f"{'.'.join(path)}: {shown}, found {value!r}")
    if errors:
        flag = "" if not strict else " (--strict-overrides)"
        raise ScaffoldConfigError(f"{where}: invalid -o overrides{flag}:\n"
                                  + "\n".join(f"  {e}" for e in errors))
    return [f"warning: {where}: {w}" for w in warnings]


def check_model_loads(model_dir: Path, where: str) -> None:
    """Paddle Inference loads the model in `model_dir` (a truncated or mismatched program or
    params file fails here, not when the service starts)."""
    from generator.runtime.errors import RuntimeServingError
    from generator.runtime.inference.model_files import find_model_files

    folder = model_dir / "serving_server" if (model_dir / "serving_server").is_dir() \
        else model_dir
    try:
        files = find_model_files(folder)
    except (RuntimeServingError, OSError, ValueError) as exc:
        raise ScaffoldConfigError(f"{where}: {exc}") from None
    try:
        import paddle.inference as paddle_infer

        config = files.paddle_config()
        config.disable_gpu()
        config.disable_mkldnn()  # oneDNN crashes on some exported models (segfault)
        config.disable_glog_info()
        config.switch_ir_optim(False)  # loading is the question, not optimising
        paddle_infer.create_predictor(config)
    except Exception as exc:  # Paddle raises RuntimeError/ValueError/OSError for bad files
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ScaffoldConfigError(
            f"{where}: the model files in {folder} do not load ({first}); they may be "
            "truncated or from another export: copy or export them again") from None


def check_writable(path: Path, option: str) -> None:
    """`path` (a folder to create or fill) can be written: its nearest existing ancestor
    accepts a new entry. A real probe, since os.access() says yes to root everywhere."""
    import os

    probe_dir = Path(path).resolve()
    while not probe_dir.exists():
        probe_dir = probe_dir.parent
    if not probe_dir.is_dir():
        raise ScaffoldConfigError(f"{option} {path}: {probe_dir} is a file, not a folder")
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".scaffold-probe-", dir=probe_dir))
    except OSError as exc:
        raise ScaffoldConfigError(f"{option} {path}: cannot write into {probe_dir} "
                                  f"({exc.strerror}); choose a folder you can write") from None


def precheck_export(config: Path, overrides: list[str], *, strict: bool = False,
                    output_dir: Path | None = None, ppdet_root: Path | None = None) -> list[str]:
    """What `scaffold export` checks before exporting: the overrides against the config, the
    preprocess ops (native configs of a service task) and the output folder. Returns warnings;
    raises ScaffoldConfigError."""
    from generator.export.errors import ExportError
    from generator.export.native_config import load_native_config
    from generator.scaffold.model_source import SERVICE_TASKS

    where = f"-c {config}"
    try:
        warnings = []
        if overrides:
            base = load_native_config(config, [])
            warnings = check_overrides(base, overrides, ppdet=bool(base.get("__ppdet__")),
                                       strict=strict, where=where)
        cfg = load_native_config(config, overrides)
    except ExportError:
        return []  # the exporter reports config errors itself, with its exit code
    if not cfg.get("__ppdet__") and cfg.get("preprocess") and cfg.get("task") in SERVICE_TASKS:
        check_preprocess(cfg["preprocess"], str(cfg["task"]), where)
    if cfg.get("__ppdet__") and ppdet_root is None:
        check_ppdet_preprocess(cfg, where)
    if output_dir is not None:
        check_writable(output_dir, "--output_dir")
    return warnings


#: left next to a model exported without trained weights; `scaffold new --model-dir` reads it
RANDOM_MARKER = "RANDOM_WEIGHTS.txt"


def has_weights(cfg: dict[str, Any]) -> bool:
    """Whether a loaded config (native or PaddleDetection) names trained weights."""
    if cfg.get("__ppdet__"):
        return bool(cfg.get("weights"))
    return bool((cfg.get("model") or {}).get("weights"))


def mark_random_weights(model_dir: Path) -> Path:
    """Write RANDOM_WEIGHTS.txt into an exported model folder."""
    marker = Path(model_dir) / RANDOM_MARKER
    marker.write_text(
        "This model was exported without trained weights (random initialisation): its outputs "
        "are meaningless.\nExport it again with -o weights=PATH.pdparams to serve a trained "
        "model.\n", encoding="utf-8")
    return marker


def marked_random(model_dir: Path) -> bool:
    """Whether an exported model folder says it has random weights (RANDOM_WEIGHTS.txt, or the
    `.scaffold.yml` of a generated service folder)."""
    d = Path(model_dir)
    if (d / RANDOM_MARKER).is_file() or (d.parent / RANDOM_MARKER).is_file():
        return True
    record = d / ".scaffold.yml"
    if record.is_file():
        try:
            data = yaml.safe_load(record.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError):
            return False
        return bool(isinstance(data, dict) and data.get("random_weights"))
    return False
