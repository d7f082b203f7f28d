"""Open an exported inference model with `paddle.inference` (CPU, oneDNN off)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from generator.export.errors import ExportError


def find_model_files(model_dir: str | Path, model_name: str | None = None) -> tuple[Path, Path]:
    """Return (program file, params file) of an inference model directory.

    Program: `<name>.json` (PIR) or `<name>.pdmodel` (legacy); params `<name>.pdiparams`.
    """
    d = Path(model_dir)
    names = [model_name] if model_name else sorted(
        {p.stem for p in d.glob("*.pdiparams")})
    for name in names:
        params = d / f"{name}.pdiparams"
        for ext in (".json", ".pdmodel"):
            prog = d / f"{name}{ext}"
            if prog.is_file() and params.is_file():
                return prog, params
    raise ExportError(
        f"{d}: no inference model found (expected <name>.json or <name>.pdmodel with "
        "<name>.pdiparams)"
    )


def pir_enabled() -> bool:
    """Whether this process runs Paddle with the PIR API (the 3.x default)."""
    return os.environ.get("FLAGS_enable_pir_api", "1").lower() not in ("0", "false")


def create_predictor(model_dir: str | Path, model_name: str | None = None,
                     threads: int = 1) -> Any:
    """A CPU predictor with oneDNN disabled (it crashes on some exported models, §7)."""
    from paddle import inference

    prog, params = find_model_files(model_dir, model_name)
    config = inference.Config(str(prog), str(params))
    config.disable_gpu()
    config.disable_mkldnn()
    config.set_cpu_math_library_num_threads(threads)
    config.disable_glog_info()
    if prog.suffix == ".pdmodel" and not pir_enabled():
        config.enable_new_ir(False)
    return inference.create_predictor(config)


def run_predictor(predictor: Any, inputs: dict[str, np.ndarray]) -> list[tuple[str, np.ndarray]]:
    """Feed `inputs` by name (inputs the model does not take are ignored) and return the
    outputs as (name, array) in the predictor's output order."""
    for name in predictor.get_input_names():
        if name not in inputs:
            raise ExportError(
                f"the exported model takes input {name!r} but no value was given "
                f"(have: {', '.join(inputs)})"
            )
        handle = predictor.get_input_handle(name)
        arr = np.ascontiguousarray(inputs[name])
        handle.reshape(list(arr.shape))
        handle.copy_from_cpu(arr)
    predictor.run()
    return [(n, predictor.get_output_handle(n).copy_to_cpu()) for n in predictor.get_output_names()]
