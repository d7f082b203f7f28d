"""Export a dynamic-graph model to a static inference model (+ Paddle Serving folders).

`export_config` is what `scaffold export` runs: load config -> build -> `export_built_model`.
The legacy format (`model.pdmodel`) needs Paddle's PIR API off before paddle is imported, so
it runs in a worker process (`python -m generator.export._legacy_worker`) that rebuilds the
model from the config path and overrides.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
import tempfile
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from generator.export import infer_cfg as infer_cfg_mod
from generator.export import specs as specs_mod
from generator.export.errors import (
    ERROR_CLASSES,
    ConfigError,
    ExportError,
    InputSpecError,
    ModelBuildError,
    ParityError,
    TraceError,
    legacy_trace_hint,
    short_error,
)
from generator.export.parity import (
    BOX_ATOL_PX,
    OutputParity,
    ParityReport,
    check_parity,
    format_parity_table,
)
from generator.export.progress import note, step
from generator.models import BuiltModel

MODEL_FORMATS = ("pir", "legacy")
RESULT_MARKER = "@@SCAFFOLD_EXPORT_RESULT@@"
ERROR_MARKER = "@@SCAFFOLD_EXPORT_ERROR@@"


@dataclass
class ExportResult:
    """Where an export wrote its files, and the parity report (None with verify=False)."""

    model_dir: Path
    model_file: Path
    params_file: Path
    serving_server: Path | None = None
    serving_client: Path | None = None
    infer_cfg_path: Path | None = None
    parity: ParityReport | None = None
    feed_names: list[str] = field(default_factory=list)
    fetch_names: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict (used between the legacy worker and its parent)."""
        out = {k: (str(v) if isinstance(v, Path) else v) for k, v in self.__dict__.items()
               if k != "parity"}
        out["parity"] = asdict(self.parity) if self.parity is not None else None
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ExportResult:
        """Inverse of `to_json`."""
        paths = {k: (Path(v) if v is not None else None) for k, v in data.items()
                 if k in ("model_dir", "model_file", "params_file", "serving_server",
                          "serving_client", "infer_cfg_path")}
        parity = None
        if data.get("parity"):
            p = dict(data["parity"])
            outs = [OutputParity(**{**o, "dynamic_shape": tuple(o["dynamic_shape"]),
                                    "exported_shape": tuple(o["exported_shape"])})
                    for o in p.pop("outputs")]
            parity = ParityReport(outputs=outs, **p)
        return cls(**paths, parity=parity, feed_names=list(data.get("feed_names", [])),
                   fetch_names=list(data.get("fetch_names", [])))


def pir_api_enabled() -> bool:
    """Whether Paddle in this process saves PIR programs (`FLAGS_enable_pir_api`)."""
    try:
        import paddle

        return bool(paddle.get_flags(["FLAGS_enable_pir_api"])["FLAGS_enable_pir_api"])
    except Exception:
        return os.environ.get("FLAGS_enable_pir_api", "1").lower() not in ("0", "false")


def _check_format(model_format: str) -> None:
    if model_format not in MODEL_FORMATS:
        raise ConfigError(
            f"--model_format {model_format!r}: expected one of {', '.join(MODEL_FORMATS)}"
        )


def _check_tolerance(rtol: float, atol: float) -> None:
    if not (rtol >= 0 and atol >= 0):
        raise ConfigError(f"parity tolerances must be >= 0 (got rtol={rtol}, atol={atol})")


def _replace_dir(tmp: Path, final: Path) -> None:
    if final.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{final.name}.old-", dir=final.parent))
        old.rmdir()
        final.rename(old)
        tmp.rename(final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        tmp.rename(final)


def export_built_model(
    built: BuiltModel,
    output_dir: str | Path,
    *,
    model_format: str = "pir",
    fixed_input_shape: list[int] | str | None = None,
    export_serving_model: bool = True,
    verify: bool = True,
    rtol: float = 1e-3,
    atol: float = 1e-6,
    model_name: str = "model",
) -> ExportResult:
    """Export `built` into `output_dir` (the final model directory).

    Writes `<model_name>.json` (pir) or `<model_name>.pdmodel` (legacy) + `.pdiparams`,
    `infer_cfg.yml`, and with `export_serving_model` `serving_server/` + `serving_client/`.
    `fixed_input_shape` follows PaddleRS: `[w, h]` or `[n, c, w, h]`.
    With `verify`, the exported model must match the dynamic one (`allclose(rtol, atol)`), or
    ParityError is raised. Everything is written into a temporary sibling directory renamed
    at the end, so a failure leaves nothing behind. The legacy format requires a process
    started with `FLAGS_enable_pir_api=0` (use `export_config`, which arranges that).
    """
    _check_format(model_format)
    _check_tolerance(rtol, atol)
    pir = pir_api_enabled()
    if model_format == "legacy" and pir:
        raise ExportError(
            "--model_format legacy needs Paddle's PIR API off before paddle is imported; "
            "export from a config with export_config() (it starts a worker process) or set "
            "FLAGS_enable_pir_api=0 in the environment"
        )
    if model_format == "pir" and not pir:
        raise ExportError("--model_format pir needs FLAGS_enable_pir_api on (the default)")
    nchw = specs_mod.parse_fixed_input_shape(fixed_input_shape)
    final = Path(output_dir)
    layer = built.layer
    layer.eval()
    fn = getattr(layer, built.method, None)
    if not callable(fn):
        raise InputSpecError(f"{type(layer).__name__} has no method {built.method!r} to export")
    plain = specs_mod.check_signature(fn, copy.deepcopy(specs_mod.from_paddle_specs(built.input_spec)),
                                      built.method)
    specs_mod.name_tensors(plain)
    cfg = copy.deepcopy(built.infer_cfg) if built.infer_cfg is not None else \
        infer_cfg_mod.build_infer_cfg(type(layer).__name__, built.task, built.input_spec,
                                      built.label_list)
    if nchw is not None:
        changed = specs_mod.apply_fixed_shape(plain, nchw, built.fixed_input_shape_target)
        cfg = infer_cfg_mod.apply_fixed_shape(cfg, nchw)
        shape = next(s["shape"] for s in specs_mod.iter_tensor_specs(plain) if s["name"] == changed)
        note(f"fixed input shape: {changed} -> {shape}")
    paddle_spec = specs_mod.to_paddle_specs(plain)

    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-", dir=final.parent))
    try:
        result = _export_into(tmp, final, fn, plain, paddle_spec, cfg, built, model_format,
                              export_serving_model, verify, rtol, atol, model_name,
                              use_sample=nchw is None)
        _replace_dir(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    note(f"exported to {final}")
    return result


def _export_into(tmp: Path, final: Path, fn, plain, paddle_spec, cfg, built: BuiltModel,
                 model_format: str, export_serving_model: bool, verify: bool, rtol: float,
                 atol: float, model_name: str, use_sample: bool) -> ExportResult:
    import paddle

    with step(f"tracing {type(built.layer).__name__}.{built.method} (to_static)"):
        try:
            static_fn = paddle.jit.to_static(fn, input_spec=paddle_spec, full_graph=True)
            static_fn.concrete_program  # noqa: B018  (traces now, so errors surface here)
        except ExportError:
            raise
        except Exception as exc:
            hint = legacy_trace_hint(exc) if model_format == "legacy" else ""
            raise TraceError(f"tracing failed: {short_error(exc)}{hint}") from None
    with step(f"saving {model_format} inference model"):
        try:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message="What you save is a function")
                paddle.jit.save(static_fn, str(tmp / model_name))
        except Exception as exc:
            raise TraceError(f"paddle.jit.save failed: {short_error(exc)}") from None
    ext = ".json" if model_format == "pir" else ".pdmodel"
    model_file, params_file = tmp / f"{model_name}{ext}", tmp / f"{model_name}.pdiparams"
    if not model_file.is_file() or not params_file.is_file():
        raise TraceError(
            f"paddle.jit.save did not write {model_file.name} + {params_file.name} "
            f"(got: {', '.join(sorted(p.name for p in tmp.iterdir()))}); a model without "
            "parameters cannot be exported"
        )
    infer_path = infer_cfg_mod.write_infer_cfg(cfg, tmp / "infer_cfg.yml")
    feed_names: list[str] = []
    fetch_names: list[str] = []
    server = client = None
    if export_serving_model:
        from generator.export.convert import inference_model_to_serving

        with step("writing serving_server/ and serving_client/"):
            feed_names, fetch_names = inference_model_to_serving(
                tmp, tmp / "serving_server", tmp / "serving_client",
                model_filename=model_file.name, params_filename=params_file.name)
        server, client = final / "serving_server", final / "serving_client"
    report = None
    if verify:
        with step("verifying exported model against the dynamic model"):
            if use_sample and built.sample_inputs is not None:
                inputs = built.sample_inputs()
            else:
                inputs = specs_mod.random_inputs(plain)
            try:
                report = check_parity(
                    fn, tmp, inputs, rtol, atol, input_spec=plain, model_name=model_name,
                    box_atol=BOX_ATOL_PX if built.task == "detection" else None)
            except ExportError:
                raise
            except Exception as exc:
                raise ParityError(f"parity check could not run: {short_error(exc)}") from None
            table = format_parity_table(report)
            print(table, file=sys.stderr, flush=True)
            if not report.ok:
                raise ParityError(
                    "the exported model does not reproduce the dynamic model's outputs:\n"
                    f"{table}\nrerun with --no-verify to keep it anyway", report)
    return ExportResult(model_dir=final, model_file=final / model_file.name,
                        params_file=final / params_file.name, serving_server=server,
                        serving_client=client, infer_cfg_path=final / infer_path.name,
                        parity=report, feed_names=feed_names, fetch_names=fetch_names)


def export_config(
    config_path: str | Path,
    output_dir: str | Path = "output_inference",
    overrides: list[str] | None = None,
    *,
    model_format: str = "pir",
    fixed_input_shape: list[int] | str | None = None,
    export_serving_model: bool = True,
    verify: bool = True,
    rtol: float = 1e-3,
    atol: float = 1e-6,
    ppdet_root: str | Path | None = None,
) -> ExportResult:
    """Export the model a config describes into `<output_dir>/<config basename>/`.

    Native (`version: 1`) and PaddleDetection configs are accepted. `model_format="legacy"`
    writes `model.pdmodel` (same `model.pdiparams` as the PIR export) from a worker process
    with the PIR API off; an architecture that cannot be traced that way raises TraceError
    (an ExportError) naming the operator. With `ppdet_root` (a PaddleDetection checkout), a
    PaddleDetection config is exported by that checkout's own `tools/export_model.py` (any
    architecture) and its output converted to the serving folders.
    """
    from generator.export.native_config import load_native_config

    _check_format(model_format)
    _check_tolerance(rtol, atol)
    specs_mod.parse_fixed_input_shape(fixed_input_shape)  # validate before any work
    config_path = Path(config_path)
    final = Path(output_dir) / config_path.stem
    if ppdet_root is not None:
        return _export_with_ppdet(config_path, final, list(overrides or []), Path(ppdet_root),
                                  export_serving_model)
    if model_format == "legacy" and pir_api_enabled():
        load_native_config(config_path, overrides)  # report config errors without a worker
        return _run_legacy_worker(config_path, output_dir, overrides, fixed_input_shape,
                                  export_serving_model, verify, rtol, atol)
    cfg = load_native_config(config_path, overrides)
    with step("building model"):
        built = _build_fresh_names(cfg, config_path)
    return export_built_model(built, final, model_format=model_format,
                              fixed_input_shape=fixed_input_shape,
                              export_serving_model=export_serving_model, verify=verify,
                              rtol=rtol, atol=atol)


def _build_fresh_names(cfg: dict[str, Any], config_path: Path) -> BuiltModel:
    """Build with parameter names counted from zero (`conv2d_0.w_0`, ...), whatever was built
    in this process before: `model.pdiparams` stores parameters sorted by name, so the PIR
    export and the legacy worker's export of one config write the same bytes."""
    import paddle

    from generator.export.native_config import build_model

    with paddle.utils.unique_name.guard():
        return build_model(cfg, config_path)


def _export_with_ppdet(config_path: Path, final: Path, overrides: list[str], ppdet_root: Path,
                       export_serving_model: bool) -> ExportResult:
    """PaddleDetection's own exporter in a subprocess, then `inference_model_to_serving`."""
    from generator.export.convert import inference_model_to_serving
    from generator.export.native_config import _read_yaml, is_ppdet_config
    from generator.ppdet.errors import PpdetError
    from generator.ppdet.external import run_ppdet_exporter
    from generator.runtime.inference.model_files import find_model_files

    if not is_ppdet_config(_read_yaml(config_path)):
        raise ConfigError(f"{config_path}: --ppdet-root applies to PaddleDetection configs only "
                          "(this one is a native config)")
    work = final.parent / f".{final.name}.ppdet-tmp"
    shutil.rmtree(work, ignore_errors=True)
    try:
        with step("running PaddleDetection's tools/export_model.py"):
            try:
                model_dir = run_ppdet_exporter(ppdet_root, config_path, overrides, work)
            except PpdetError as exc:
                raise ModelBuildError(str(exc)) from exc
        files = find_model_files(model_dir)
        if export_serving_model:
            with step("writing serving_server/ and serving_client/"):
                inference_model_to_serving(
                    model_dir, model_dir / "serving_server", model_dir / "serving_client",
                    model_filename=files.model_file.name if files.model_file else None,
                    params_filename=files.params_file.name if files.params_file else None)
        if final.exists():
            shutil.rmtree(final)
        final.parent.mkdir(parents=True, exist_ok=True)
        model_dir.rename(final)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    files = find_model_files(final)
    infer_cfg = next((final / n for n in ("infer_cfg.yml", "inference.yml")
                      if (final / n).is_file()), None)
    return ExportResult(
        model_dir=final, model_file=files.model_file or final, params_file=files.params_file or final,
        serving_server=final / "serving_server" if export_serving_model else None,
        serving_client=final / "serving_client" if export_serving_model else None,
        infer_cfg_path=infer_cfg)


def _run_legacy_worker(config_path: Path, output_dir: str | Path, overrides, fixed_input_shape,
                       export_serving_model: bool, verify: bool, rtol: float,
                       atol: float) -> ExportResult:
    request = {
        "config_path": str(Path(config_path).resolve()),
        "output_dir": str(Path(output_dir).resolve()),
        "overrides": list(overrides or []),
        "fixed_input_shape": fixed_input_shape,
        "export_serving_model": export_serving_model,
        "verify": verify,
        "rtol": rtol,
        "atol": atol,
    }
    env = dict(os.environ, FLAGS_enable_pir_api="0")
    note("legacy format: exporting in a worker process with FLAGS_enable_pir_api=0")
    proc = subprocess.run(
        [sys.executable, "-m", "generator.export._legacy_worker"],
        input=json.dumps(request), stdout=subprocess.PIPE, stderr=None, text=True, env=env,
        cwd=os.getcwd(), check=False,
    )
    for line in proc.stdout.splitlines():
        if line.startswith(RESULT_MARKER):
            return ExportResult.from_json(json.loads(line[len(RESULT_MARKER):]))
        if line.startswith(ERROR_MARKER):
            err = json.loads(line[len(ERROR_MARKER):])
            cls = ERROR_CLASSES.get(err.get("type"), ExportError)
            raise cls(err.get("message", "legacy export failed"))
    raise ExportError(
        f"the legacy export worker exited with code {proc.returncode} without a result:\n"
        + proc.stdout[-2000:]
    )
