"""`scaffold verify`: served outputs (gRPC and HTTP) equal in-process inference of the exported
model through the same preprocessing; and the exported model equals the dynamic-graph model
when `.scaffold.yml` says how to rebuild it.

The reference pipeline is the canonical task Op of `generator.service` fed by the deploy record
the exporter wrote for the source config (rebuilt from `.scaffold.yml`), so a service whose own
preprocessing drifted (edited `infer_cfg.yml`, an overridden Op) fails.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from generator.quality.compare import Check, Report, Tolerance, compare_result
from generator.quality.served import _say, served_checks
from generator.quality.service_dir import ServiceDir, open_service_dir

PROTOCOLS = ("grpc", "http")


@dataclass
class VerifyOptions:
    images: dict[str, bytes]
    endpoint: str | None = None  # host; ports from config.yml unless given
    rpc_port: int | None = None
    http_port: int | None = None
    protocols: tuple[str, ...] = PROTOCOLS
    tolerance: Tolerance = field(default_factory=Tolerance)
    check_dynamic: bool = True


def _rebuild(sd: ServiceDir) -> tuple[Any, dict | None, str]:
    """(BuiltModel, infer_cfg, "") from the source config in `.scaffold.yml`, or
    (None, None, why not)."""
    inputs = sd.record.get("inputs") or {}
    config = inputs.get("config")
    if inputs.get("model_dir"):
        return None, None, ("the service was generated from an exported model (--model-dir "
                            f"{inputs['model_dir']}): there is no dynamic-graph model to rebuild")
    if not sd.record:
        return None, None, f"{sd.path} has no .scaffold.yml saying which config built the model"
    if not config:
        return None, None, ".scaffold.yml names no source config"
    if not Path(config).is_file():
        return None, None, f"the source config {config} no longer exists"
    from generator.export.native_config import build_model, load_native_config

    cfg = load_native_config(config, list(inputs.get("overrides") or []))
    built = build_model(cfg, Path(config))
    return built, built.infer_cfg, ""


def _lowered_copy(sd: ServiceDir, dest: Path, threshold: float) -> Path | None:
    """A copy of the service folder whose web_service.py has `draw_threshold=<threshold>`
    (model folders linked, not copied); None when web_service.py sets no draw_threshold."""
    import re
    import shutil

    source = (sd.path / "web_service.py").read_text(encoding="utf-8")
    lowered, n = re.subn(r"draw_threshold=[-+0-9.eE]+", f"draw_threshold={threshold!r}", source)
    if n != 1:
        return None
    dest.mkdir()
    for item in sd.path.iterdir():
        if item.name in ("PipelineServingLogs", "__pycache__", "scaffold-service.log"):
            continue
        if item.is_dir():
            (dest / item.name).symlink_to(item.resolve(), target_is_directory=True)
        else:
            shutil.copy2(item, dest / item.name)
    (dest / "web_service.py").write_text(lowered, encoding="utf-8")
    return dest


def reference_op(served: Any, deploy_config: Path) -> Any:
    """The canonical task Op with the served Op's options and the given deploy record."""
    from generator.service import OPS_BY_TASK

    cls = OPS_BY_TASK[served.task]
    options = {k: getattr(served, k) for k in ("draw_threshold", "top_k", "normalize")
               if hasattr(served, k)}
    return cls(name=served.name, deploy_config=deploy_config, labels=served.labels_path,
               **options)


def verify_service(service_dir: str | Path, options: VerifyOptions) -> Report:
    """Run every check; the report's `.ok` is the verdict."""
    from generator.export.infer_cfg import write_infer_cfg
    from generator.service import LocalService

    sd = open_service_dir(service_dir)
    served_op = sd.served_op()
    task = served_op.task
    if task == "ocr":  # the two-stage OCR service: its in-process pipeline is the reference
        from generator.quality.ocr_quality import verify_ocr_service

        return verify_ocr_service(sd, options)
    tol = options.tolerance
    report = Report()
    scratch = tempfile.TemporaryDirectory(prefix="scaffold-verify-")

    built, infer_cfg, why_not = _rebuild(sd)
    with tempfile.TemporaryDirectory() as tmp:
        deploy = served_op.deploy_config_path
        if infer_cfg is not None:
            deploy = write_infer_cfg(infer_cfg, Path(tmp) / "infer_cfg.yml")
            _say(f"reference: exported model + preprocessing of {sd.record['inputs']['config']}")
        else:
            _say(f"reference: exported model + preprocessing of {deploy}")
        ref_op = reference_op(served_op, Path(deploy))
        ref = LocalService(ref_op, sd.model_dir, **sd.backend_conf)
        expected = {name: ref.predict_images({"image": data})["image"]
                    for name, data in options.images.items()}
        served_dir = sd
        if task == "detection" and not any(expected.values()):
            expected, served_dir = _lower_threshold(sd, served_op, Path(deploy), options,
                                                    expected, report, Path(scratch.name))
        if not options.check_dynamic:
            report.checks.append(Check("dynamic vs exported", True, skipped=True,
                                       note="skipped: --no-dynamic"))
        elif built is None:
            report.checks.append(Check("dynamic vs exported", True, skipped=True,
                                       note=f"skipped: {why_not}"))
        else:
            report.checks += _dynamic_checks(built, ref, sd, options)

    try:
        report.checks += served_checks(
            options, sd, served_dir,
            lambda label, name, got: compare_result(label, task, got, expected[name], tol))
    finally:
        scratch.cleanup()
    return report


def _lower_threshold(sd: ServiceDir, served_op: Any, deploy: Path, options: VerifyOptions,
                     expected: dict[str, Any], report: Report,
                     scratch: Path) -> tuple[dict[str, Any], ServiceDir]:
    """No image has a box at the served draw_threshold (random weights, or images without
    objects): comparing 0 boxes with 0 boxes proves nothing. Serve a copy of the service at
    draw_threshold 0 and compare that; returns (expected results, the folder to serve)."""
    from generator.service import LocalService

    threshold = getattr(served_op, "draw_threshold", None)
    if options.endpoint is not None:
        report.checks.append(Check(
            "detections", False, note=f"nothing to compare: no box reaches draw_threshold "
            f"{threshold} in any image, and the running service (--endpoint) cannot be served "
            "at a lower threshold; run verify without --endpoint, or pass --images with objects"))
        return expected, sd
    copy = _lowered_copy(sd, scratch / sd.path.name, 0.0)
    if copy is None:
        report.checks.append(Check(
            "detections", False, note=f"nothing to compare: no box reaches draw_threshold "
            f"{threshold}, and {sd.path / 'web_service.py'} sets no draw_threshold= to lower"))
        return expected, sd
    _say(f"no box reaches draw_threshold {threshold} in any image (random weights?): comparing "
         f"at draw_threshold 0.0 instead, serving a copy of the service in {copy}")
    from generator.quality.service_dir import open_service_dir as _open

    lowered = _open(copy)
    op = reference_op(lowered.served_op(), deploy)
    ref = LocalService(op, sd.model_dir, **sd.backend_conf)
    return {name: ref.predict_images({"image": data})["image"]
            for name, data in options.images.items()}, lowered


def _dynamic_checks(built: Any, ref: Any, sd: ServiceDir, options: VerifyOptions) -> list[Check]:
    """Exported model vs the dynamic-graph model on the reference feeds of every image."""
    from generator.export.parity import check_parity
    from generator.preprocess import decode_rgb, make_feed

    op = ref.op
    layer = built.layer
    layer.eval()
    worst: dict[str, Check] = {}
    for name, data in options.images.items():
        feed = make_feed([op.preprocessor(decode_rgb(data))], op.right_feed_names)
        feed = {k: np.ascontiguousarray(v) for k, v in feed.items()}
        parity = check_parity(layer, sd.model_dir, feed, options.tolerance.rtol,
                              options.tolerance.atol, input_spec=built.input_spec)
        if parity.problem:
            return [Check(f"dynamic vs exported ({name})", False, note=parity.problem)]
        for out in parity.outputs:
            label = f"dynamic vs exported: {out.name}"
            row = Check(label, bool(out.ok), out.max_abs_diff, out.max_rel_diff,
                        out.note or f"{len(options.images)} images")
            prev = worst.get(label)
            if prev is None or (prev.ok and not row.ok) or row.max_abs > prev.max_abs:
                worst[label] = row
    return list(worst.values())
