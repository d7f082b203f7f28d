"""Locate the Paddle inference model files inside a model directory.

The search order follows Paddle Serving's `LocalPredictor.load_model_config`, extended with the
PIR program format that `paddle.jit.save` writes in Paddle 3:

1. `__model__` + `__params__`          -> "combined_legacy"
2. `*.pdmodel` + `*.pdiparams`          -> "pdmodel"
3. `*.json` + `*.pdiparams` (same stem) -> "pir_json"
4. `__model__` + one file per parameter -> "separate"
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from generator.runtime.errors import PredictorError

ModelKind = Literal["combined_legacy", "pdmodel", "pir_json", "separate"]

EXPECTED_LAYOUTS = (
    "__model__ + __params__, *.pdmodel + *.pdiparams, *.json + *.pdiparams, "
    "or __model__ with separate parameter files"
)


@dataclass(frozen=True)
class ModelFiles:
    """Where a model's program and parameters are, and how Paddle must load them.

    `model_file`/`params_file` are None for the "separate" layout, which is loaded with
    `Config(model_dir)`. `needs_legacy_ir` is True for ProgramDesc files that must run with
    `config.enable_new_ir(False)`.
    """

    kind: ModelKind
    model_dir: Path
    model_file: Path | None
    params_file: Path | None
    needs_legacy_ir: bool

    def paddle_config(self) -> Any:
        """A `paddle.inference.Config` that loads these files (legacy IR where they need it)."""
        import paddle.inference as paddle_infer

        if self.model_file is None:
            config = paddle_infer.Config(str(self.model_dir))
        else:
            config = paddle_infer.Config(str(self.model_file), str(self.params_file))
        if self.needs_legacy_ir:
            config.enable_new_ir(False)
        return config


def _pick_pair(model_dir: Path, model_suffix: str) -> tuple[Path, Path] | None:
    """Return (program, params) for `*<model_suffix>` + `*.pdiparams`, preferring equal stems."""
    programs = sorted(p for p in model_dir.glob(f"*{model_suffix}") if p.is_file())
    params = sorted(p for p in model_dir.glob("*.pdiparams") if p.is_file())
    if not programs or not params:
        return None
    params_by_stem = {p.stem: p for p in params}
    for prog in programs:
        if prog.stem in params_by_stem:
            return prog, params_by_stem[prog.stem]
    if model_suffix == ".json":
        # Any *.json is not a program: only accept one whose stem matches the params file.
        return None
    return programs[0], params[0]


def list_dir(model_dir: str | Path, limit: int = 20) -> str:
    """Comma-separated file names in `model_dir` (for error messages)."""
    d = Path(model_dir)
    if not d.is_dir():
        return "(directory does not exist)"
    names = sorted(p.name + ("/" if p.is_dir() else "") for p in d.iterdir())
    if not names:
        return "(empty)"
    more = f", ... ({len(names) - limit} more)" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def find_model_files(model_dir: str | Path) -> ModelFiles:
    """Find the model program and parameter files in `model_dir`.

    Raises `PredictorError` naming the directory, the layouts looked for and the files found.
    """
    d = Path(model_dir)
    if not d.is_dir():
        raise PredictorError(
            f"{d}: model directory not found; set local_service_conf.model_config to a folder "
            f"holding {EXPECTED_LAYOUTS}"
        )
    model = d / "__model__"
    combined = d / "__params__"
    if model.is_file() and combined.is_file():
        return ModelFiles("combined_legacy", d, model, combined, needs_legacy_ir=True)
    pair = _pick_pair(d, ".pdmodel")
    if pair is not None:
        return ModelFiles("pdmodel", d, pair[0], pair[1], needs_legacy_ir=True)
    pair = _pick_pair(d, ".json")
    if pair is not None:
        return ModelFiles("pir_json", d, pair[0], pair[1], needs_legacy_ir=False)
    if model.is_file():
        return ModelFiles("separate", d, None, None, needs_legacy_ir=True)
    raise PredictorError(
        f"{d}/: no model found; expected {EXPECTED_LAYOUTS}. Files found: {list_dir(d)}. "
        "Export the model with `scaffold export` (or paddle.jit.save) into this folder."
    )
