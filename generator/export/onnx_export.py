"""Paddle inference model -> ONNX (paddle2onnx), kept only when ONNX Runtime reproduces Paddle.

paddle2onnx 2.1.0 can write models that are wrong without saying so: on Paddle 3 PIR programs
it reads double attributes as floats (a `leaky_relu(negative_slope=0.1)` becomes
`LeakyRelu(alpha=0)`, i.e. a ReLU; Paddle2ONNX#1646), and with missing or broken parameters it
exits 0 with an invalid, weightless model. So `convert_to_onnx` never trusts the converter:

0. Its known misreads of Paddle 3 PIR programs are corrected from the program's own attribute
   values (`pir_fixups`, on by default, `correct_pir=False` shows what paddle2onnx does alone):
   it converts a copy of the program with the double attributes it reads as floats (leaky_relu
   slopes, interpolation scales) tagged as floats, and each LeakyRelu's alpha is checked
   against its op's slope afterwards. What was corrected is recorded in the metadata.
1. paddle2onnx's Python API (`paddle2onnx.export`) runs in a child process (it imports Paddle,
   prints its errors instead of raising them, and its C++ parser can abort the interpreter).
   Its polygraphy constant folding is off: ONNX Runtime folds constants itself, and polygraphy
   `pip install`s missing packages (sympy) into the running environment.
2. The result is checked: `onnx.checker`, and the bytes of its weights (initializers and
   Constant nodes) against the tensor data in `.pdiparams`. Shapes paddle2onnx recorded in
   `graph.value_info` are dropped and re-inferred (they can make ONNX Runtime fail with "Shape
   mismatch attempting to re-use buffer").
3. Paddle Inference (CPU, oneDNN off; `enable_new_ir(False)` for legacy programs) and ONNX
   Runtime run on the same inputs (deterministic random ones, or the caller's `samples`), and
   every output must agree within `allclose(rtol, atol)` (or the caller's `judge`, e.g. the
   backend parity rules that match detections row by row). A conversion that differs, or that
   ONNX Runtime cannot run, is refused (`OnnxParityError` / `OnnxExportError`) and no `.onnx`
   is left at the destination.

The mapping from ONNX input/output names to the Paddle program's feed/fetch names (by name when
paddle2onnx kept them, by position otherwise) is stored in the ONNX model's own
`metadata_props` (keys `METADATA_INPUTS` / `METADATA_OUTPUTS`, JSON lists), so it travels with
the file; `read_name_mapping` reads it back (`OnnxRuntimeEngine` uses it to expose the Paddle
names). Models with `multiclass_nms3` convert for batch 1 only (paddle2onnx says so); that
limit is recorded under `METADATA_MAX_BATCH` and the parity check then runs at batch 1.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from generator.export import pir_fixups
from generator.export.errors import OnnxExportError, OnnxParityError
from generator.export.onnx_graph import (
    _entries,
    _fix_value_info,
    _graph_inputs,
    _known_issue_hints,
    _onnx_dtype,
    _onnx_shape,
    _set_metadata,
    onnx_weight_bytes,
    pdiparams_data_bytes,
)
from generator.export.paddle2onnx_run import (
    _ANSI,
    _conversion_error,
    _run_paddle2onnx,
    _stage_model,
)
from generator.export.parity import ParityReport, compare_arrays, format_parity_table
from generator.export.pir_fixups import Correction
from generator.runtime.inference.backends.onnx_names import (
    METADATA_INPUTS,
    METADATA_MAX_BATCH,
    METADATA_OUTPUTS,
    METADATA_SOURCE,
    ONNX_FILENAME,
    TensorMapping,
)

#: judge(got, want) -> (equivalent?, summary); both keyed by the Paddle program's fetch names
Judge = Callable[[dict[str, np.ndarray], dict[str, np.ndarray]], tuple[bool, str]]
#: paddle2onnx's warning for graphs that only run at batch 1 (multiclass_nms3).
_BATCH1_WARNING = "only supports inference with input batch_size == 1"


@dataclass
class OnnxConversion:
    """A conversion that passed: where the ONNX model is, the name mapping, and the parity."""

    onnx_path: Path
    model_file: Path
    params_file: Path
    opset: int
    inputs: list[TensorMapping]
    outputs: list[TensorMapping]
    parity: ParityReport
    max_batch_size: int | None = None
    #: batch size the parity check ran at (None when the caller's samples were used)
    checked_batch: int | None = None
    value_info_reinferred: bool = False
    warnings: list[str] = field(default_factory=list)
    #: misreads of the PIR program corrected (`pir_fixups`), before and after conversion
    corrections: list[Correction] = field(default_factory=list)


# ----------------------------------------------------------------------------- helpers


def _short(text: str, limit: int = 2000) -> str:
    text = text.strip()
    return text if len(text) <= limit else "..." + text[-limit:]


def _require(module: str) -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise OnnxExportError(
            f"--format onnx needs the {module} package ({exc}); install it with "
            "`pip install onnx onnxruntime paddle2onnx`") from None


def _map_names(what: str, onnx_names: list[str], paddle_names: list[str]) -> list[str]:
    """Paddle name for each ONNX name: by name when paddle2onnx kept them, else by order."""
    if len(onnx_names) != len(paddle_names):
        raise OnnxExportError(
            f"the ONNX model has {len(onnx_names)} {what}(s) {onnx_names}, the Paddle program "
            f"{len(paddle_names)} {paddle_names}; the names cannot be mapped")
    if sorted(onnx_names) == sorted(paddle_names):
        return list(onnx_names)
    return list(paddle_names)


def sample_inputs(shapes: Mapping[str, tuple[int, ...]], dtypes: Mapping[str, str], *,
                  batch_size: int = 2, dynamic_dim: int = 32, seed: int = 0
                  ) -> dict[str, np.ndarray]:
    """Deterministic random inputs: the leading dynamic dim is `batch_size`, other dynamic dims
    `dynamic_dim`. PaddleDetection's `im_shape` gets the image's H, W and `scale_factor` ones."""
    rng = np.random.default_rng(seed)
    concrete = {n: [d if d > 0 else (batch_size if k == 0 else dynamic_dim)
                    for k, d in enumerate(shape)] for n, shape in shapes.items()}
    image_hw = next((dims[-2:] for n, dims in concrete.items() if len(dims) == 4), None)
    out: dict[str, np.ndarray] = {}
    for name, dims in concrete.items():
        dtype = np.dtype(dtypes[name])
        if name == "im_shape" and image_hw is not None and dims[-1:] == [2]:
            arr = np.tile(np.asarray(image_hw, dtype=dtype), (*dims[:-1], 1))
        elif name == "scale_factor" and dims[-1:] == [2]:
            arr = np.ones(dims, dtype=dtype)
        elif dtype.kind == "f":
            arr = rng.standard_normal(dims).astype(dtype)
        elif dtype.kind == "b":
            arr = rng.random(dims) < 0.5
        else:
            arr = rng.integers(0, 10, size=dims).astype(dtype)
        out[name] = np.ascontiguousarray(arr)
    return out


def _paddle_predictor(files: Any) -> Any:
    from paddle import inference

    config = inference.Config(str(files.model_file), str(files.params_file))
    config.disable_gpu()
    config.disable_mkldnn()
    config.disable_glog_info()
    config.set_cpu_math_library_num_threads(1)
    if files.needs_legacy_ir:
        config.enable_new_ir(False)
    return inference.create_predictor(config)


def _run_paddle(predictor: Any, feed: dict[str, np.ndarray]) -> list[np.ndarray]:
    for name in predictor.get_input_names():
        handle = predictor.get_input_handle(name)
        handle.reshape(list(feed[name].shape))
        handle.copy_from_cpu(feed[name])
    predictor.run()
    return [predictor.get_output_handle(n).copy_to_cpu() for n in predictor.get_output_names()]


# ----------------------------------------------------------------------------- public API


def convert_to_onnx(
    model_dir: str | Path,
    onnx_path: str | Path | None = None,
    *,
    opset: int = 16,
    rtol: float = 1e-3,
    atol: float = 1e-5,
    samples: Mapping[str, np.ndarray] | None = None,
    batch_size: int = 2,
    dynamic_dim: int = 32,
    seed: int = 0,
    timeout: float = 600,
    correct_pir: bool = True,
    judge: Judge | None = None,
) -> OnnxConversion:
    """Convert the Paddle inference model in `model_dir` (`model.json` or `*.pdmodel` +
    `.pdiparams`, see `find_model_files`) to ONNX at `onnx_path` (default
    `model_dir/model.onnx`), keeping it only if ONNX Runtime reproduces Paddle Inference.

    Parity runs on `samples` (keyed by Paddle feed names) or on `sample_inputs(batch_size,
    dynamic_dim, seed)` (batch 1 for graphs paddle2onnx limits to batch 1); `judge(got,
    want)` (outputs by Paddle fetch name -> (equal?, why)) replaces the allclose rule when given.
    `correct_pir` (default) corrects paddle2onnx's known misreads of PIR programs from the
    program's own attribute values (`pir_fixups`). Raises
    `OnnxExportError` when paddle2onnx fails or writes an unusable model, `OnnxParityError`
    (with `.report`) when outputs differ beyond `allclose(rtol, atol)`; either way no file is
    left at `onnx_path` (a previous one is removed too).
    """
    from generator.runtime.errors import PredictorError
    from generator.runtime.inference.model_files import find_model_files

    if not (rtol >= 0 and atol >= 0):
        raise OnnxExportError(f"tolerances must be >= 0 (got rtol={rtol}, atol={atol})")
    try:
        files = find_model_files(model_dir)
    except PredictorError as exc:
        raise OnnxExportError(str(exc)) from None
    onnx = _require("onnx")
    ort = _require("onnxruntime")
    p2o_version = _package_version("paddle2onnx")
    if p2o_version is None:
        _require("paddle2onnx")
    target = Path(onnx_path) if onnx_path is not None else files.model_dir / ONNX_FILENAME
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        target.unlink()
    work = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        result = _convert(files, target, work, onnx, ort, opset, rtol, atol, samples,
                          batch_size, dynamic_dim, seed, timeout, p2o_version,
                          correct_pir, judge)
        os.replace(work / "final.onnx", target)
        return result
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _package_version(name: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _convert(files: Any, target: Path, work: Path, onnx: Any, ort: Any, opset: int,
             rtol: float, atol: float, samples: Mapping[str, np.ndarray] | None,
             batch_size: int, dynamic_dim: int, seed: int, timeout: float,
             p2o_version: str | None, correct_pir: bool, judge: Judge | None
             ) -> OnnxConversion:
    program, params, corrections = _stage_model(files, work, correct_pir)
    raw = work / "paddle2onnx.onnx"
    log, rc = _run_paddle2onnx(program, params, raw, opset, timeout)
    errors = _conversion_error(log)
    if rc != 0 or errors or not raw.is_file() or raw.stat().st_size == 0:
        how = (f"crashed (signal {-rc})" if rc < 0 else f"exited with code {rc}" if rc
               else "reported errors")
        detail = errors or _short(_ANSI.sub("", log))
        raise OnnxExportError(f"paddle2onnx could not convert {files.model_file}: it {how}:\n"
                              f"{detail}")
    warnings = list(dict.fromkeys(_ANSI.sub("", ln).strip() for ln in log.splitlines()
                                  if "[WARNING][Paddle2ONNX]" in ln))
    max_batch = 1 if _BATCH1_WARNING in log else None

    model = onnx.load(str(raw))
    try:
        onnx.checker.check_model(model)
    except Exception as exc:
        raise OnnxExportError(f"paddle2onnx wrote an invalid ONNX model for "
                              f"{files.model_file}: {_short(str(exc), 600)}") from None
    expected = pdiparams_data_bytes(files.params_file)
    if expected is None:
        expected = files.params_file.stat().st_size
    have = onnx_weight_bytes(model)
    if have < 0.5 * expected:
        raise OnnxExportError(
            f"the ONNX model holds {have} bytes of weights but {files.params_file.name} has "
            f"{expected}: paddle2onnx lost the parameters (a missing or broken .pdiparams "
            "gives a weightless model with exit code 0)")
    if correct_pir and files.kind == "pir_json":
        corrections += pir_fixups.fix_leaky_relu(
            model, pir_fixups.load_program(files.model_file))
    reinferred = _fix_value_info(model)

    predictor = _paddle_predictor(files)
    paddle_in = list(predictor.get_input_names())
    paddle_out = list(predictor.get_output_names())
    onnx_in = _graph_inputs(model)
    in_names = _map_names("input", [i.name for i in onnx_in], paddle_in)
    onnx_out = list(model.graph.output)
    out_names = _map_names("output", [o.name for o in onnx_out], paddle_out)
    shapes = {p: _onnx_shape(i) for p, i in zip(in_names, onnx_in, strict=True)}
    in_dtypes = {p: _onnx_dtype(i.type.tensor_type.elem_type)
                 for p, i in zip(in_names, onnx_in, strict=True)}
    checked_batch: int | None
    if samples is not None:
        missing = [n for n in paddle_in if n not in samples]
        if missing:
            raise OnnxExportError(f"samples lack input(s) {missing} (the model takes "
                                  f"{paddle_in})")
        feed = {n: np.ascontiguousarray(samples[n], dtype=in_dtypes[n]) for n in paddle_in}
        checked_batch = None
    else:
        checked_batch = 1 if max_batch == 1 else batch_size
        feed = sample_inputs(shapes, in_dtypes, batch_size=checked_batch,
                             dynamic_dim=dynamic_dim, seed=seed)
    try:
        reference = _run_paddle(predictor, feed)
    except Exception as exc:
        raise OnnxExportError(f"Paddle Inference failed on the parity inputs: "
                              f"{_short(str(exc), 1000)}") from None
    del predictor

    inputs = [TensorMapping(i.name, p, in_dtypes[p], in_dtypes[p], shapes[p])
              for p, i in zip(in_names, onnx_in, strict=True)]
    paddle_pos = {n: k for k, n in enumerate(paddle_out)}
    outputs = [TensorMapping(o.name, p, reference[paddle_pos[p]].dtype.name,
                             _onnx_dtype(o.type.tensor_type.elem_type), _onnx_shape(o))
               for p, o in zip(out_names, onnx_out, strict=True)]
    checked = work / "checked.onnx"
    onnx.save(model, str(checked))
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    try:
        session = ort.InferenceSession(str(checked), options, providers=["CPUExecutionProvider"])
        got = session.run([o.onnx_name for o in outputs],
                          {m.onnx_name: feed[m.paddle_name] for m in inputs})
    except Exception as exc:
        hint = ""
        if max_batch == 1 and checked_batch is None:
            hint = "\n(paddle2onnx converted this model for batch size 1 only)"
        raise OnnxExportError(f"ONNX Runtime cannot run the converted model: "
                              f"{_short(str(exc), 1200)}{hint}") from None
    report = ParityReport(rtol=rtol, atol=atol)
    for m, arr in zip(outputs, got, strict=True):
        report.outputs.append(compare_arrays(m.paddle_name, reference[paddle_pos[m.paddle_name]],
                                             np.asarray(arr), rtol, atol))
    verdict = ""
    if judge is not None:
        by_name = {m.paddle_name: np.asarray(a) for m, a in zip(outputs, got, strict=True)}
        same, verdict = judge(by_name, dict(zip(paddle_out, reference, strict=True)))
        for o in report.outputs:  # the judge's rule replaces allclose
            o.ok = o.ok or same
        if not same:
            report.problem = verdict
    if not report.ok:
        bad = [o for o in report.outputs if not o.ok]
        lines = [f"  {o.name}: max abs diff {o.max_abs_diff:.3g}, max rel diff "
                 f"{o.max_rel_diff:.3g}" + (f" ({o.note})" if o.note else "") for o in bad]
        hints = _known_issue_hints(model)
        raise OnnxParityError(
            f"refusing the ONNX conversion of {files.model_file}: ONNX Runtime's outputs differ "
            + (f"from Paddle Inference's ({verdict}):\n" if verdict else
               f"from Paddle Inference's beyond allclose(rtol={rtol:g}, atol={atol:g}):\n")
            + "\n".join(lines) + "\n" + format_parity_table(report)
            + "".join(f"\nlikely cause: {h}" for h in hints), report)

    source = {"model_file": files.model_file.name, "params_file": files.params_file.name,
              "converter": f"paddle2onnx {p2o_version}",
              "corrections": [str(c) for c in corrections],
              "parity": {"rtol": rtol, "atol": atol, "batch": checked_batch,
                         "max_abs_diff": {o.name: o.max_abs_diff for o in report.outputs}}}
    meta = {METADATA_INPUTS: _entries(inputs), METADATA_OUTPUTS: _entries(outputs),
            METADATA_SOURCE: json.dumps(source)}
    if max_batch is not None:
        meta[METADATA_MAX_BATCH] = str(max_batch)
    _set_metadata(model, meta)
    onnx.save(model, str(work / "final.onnx"))
    actual_opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")),
                        opset)
    return OnnxConversion(
        onnx_path=target, model_file=files.model_file, params_file=files.params_file,
        opset=int(actual_opset), inputs=inputs, outputs=outputs, parity=report,
        max_batch_size=max_batch, checked_batch=checked_batch, value_info_reinferred=reinferred,
        warnings=warnings, corrections=corrections)
