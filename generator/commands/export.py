"""`scaffold export`: PaddleDetection's tools/export_model.py flags over `generator.export`."""

from __future__ import annotations

import sys
from pathlib import Path

import click

BOOL_TRUE = ("true", "1", "yes", "y", "on")
BOOL_FALSE = ("false", "0", "no", "n", "off")


def parse_bool(value: str | bool, option: str = "value") -> bool:
    """A real boolean: True/False/true/false/1/0/yes/no/on/off; anything else is an error."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in BOOL_TRUE:
        return True
    if text in BOOL_FALSE:
        return False
    raise click.BadParameter(f"{value!r} is not a boolean; use True or False", param_hint=option)


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-c", "--config", "config", required=True,
              type=click.Path(exists=True, dir_okay=False),
              help="Model config: native `version: 1` yml or a PaddleDetection config.")
@click.option("-o", "--opt", "opts", multiple=True, metavar="KEY=VALUE",
              help="Config override (value parsed as YAML; dotted keys nest). Repeatable; "
                   "further KEY=VALUE words after it are taken too.")
@click.argument("more_opts", nargs=-1, metavar="[KEY=VALUE]...")
@click.option("--output_dir", "--output-dir", "output_dir", default="output_inference",
              show_default=True, help="The model goes to OUTPUT_DIR/<config basename>/.")
@click.option("--export_serving_model", "--export-serving-model", "export_serving_model",
              default="True", show_default=True, metavar="BOOL",
              help="Also write serving_server/ and serving_client/ (True/False).")
@click.option("--fixed_input_shape", "--fixed-input-shape", "fixed_input_shape", default=None,
              metavar="[w,h]|[n,c,w,h]", help="Fix the image input shape (PaddleRS semantics).")
@click.option("--model_format", "--model-format", "model_format",
              type=click.Choice(["pir", "legacy"]), default="pir", show_default=True,
              help="pir: model.json (Paddle 3); legacy: model.pdmodel (Paddle 2.x, Serving).")
@click.option("--format", "export_format", type=click.Choice(["paddle", "onnx"]),
              default="paddle", show_default=True,
              help="onnx: also convert the exported model to model.onnx (in serving_server/, "
                   "else next to the model), kept only if ONNX Runtime reproduces Paddle "
                   "Inference's outputs (always checked, also with --no-verify).")
@click.option("--onnx_rtol", "--onnx-rtol", "onnx_rtol", type=float, default=1e-3,
              show_default=True, help="ONNX parity rtol (ONNX Runtime vs Paddle Inference).")
@click.option("--onnx_atol", "--onnx-atol", "onnx_atol", type=float, default=1e-5,
              show_default=True, help="ONNX parity atol.")
@click.option("--opset", type=int, default=16, show_default=True,
              help="ONNX opset for --format onnx (paddle2onnx raises it where an op needs it).")
@click.option("--verify/--no-verify", default=True, show_default=True,
              help="Check the exported model against the dynamic one.")
@click.option("--rtol", type=float, default=1e-3, show_default=True, help="Parity rtol.")
@click.option("--atol", type=float, default=1e-6, show_default=True, help="Parity atol.")
@click.option("--strict-overrides", is_flag=True,
              help="Fail on -o keys a PaddleDetection config does not have (PaddleDetection "
                   "ignores them; without this flag they are warnings).")
@click.option("--ppdet-root", "--ppdet_root", "ppdet_root", default=None,
              type=click.Path(file_okay=False),
              help="A PaddleDetection checkout: run its tools/export_model.py for this "
                   "PaddleDetection config (any architecture), then write the serving folders.")
def command(config: str, opts: tuple[str, ...], more_opts: tuple[str, ...], output_dir: str,
            export_serving_model: str, fixed_input_shape: str | None, model_format: str,
            export_format: str, onnx_rtol: float, onnx_atol: float, opset: int, verify: bool,
            rtol: float, atol: float, strict_overrides: bool, ppdet_root: str | None) -> None:
    """Export a trained dynamic-graph model to an inference model (+ Paddle Serving folders,
    + model.onnx with --format onnx)."""
    serving = parse_bool(export_serving_model, "--export_serving_model")
    from generator.export.errors import ExportError
    from generator.export.exporter import export_config
    from generator.scaffold.checks import precheck_export
    from generator.scaffold.errors import ScaffoldConfigError

    try:  # every config error before anything is written
        for warning in precheck_export(Path(config), list(opts) + list(more_opts),
                                       strict=strict_overrides, output_dir=Path(output_dir),
                                       ppdet_root=Path(ppdet_root) if ppdet_root else None):
            click.echo(warning, err=True)
    except ScaffoldConfigError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(exc.exit_code)
    try:
        result = export_config(
            config, output_dir, list(opts) + list(more_opts), model_format=model_format,
            fixed_input_shape=fixed_input_shape, export_serving_model=serving, verify=verify,
            rtol=rtol, atol=atol, ppdet_root=ppdet_root,
        )
    except ExportError as exc:
        from generator.scaffold.model_source import short_error

        click.echo(f"Error: {short_error(str(exc))}", err=True)
        sys.exit(exc.exit_code)
    _note_random_weights(Path(config), list(opts) + list(more_opts), result.model_dir)
    click.echo(f"model:   {result.model_file}")
    click.echo(f"params:  {result.params_file}")
    click.echo(f"infer:   {result.infer_cfg_path}")
    if result.serving_server is not None:
        click.echo(f"serving: {result.serving_server} {result.serving_client}")
    if export_format == "onnx":
        _export_onnx(result.serving_server or result.model_dir, opset, onnx_rtol, onnx_atol)


def _note_random_weights(config: Path, overrides: list[str], model_dir: Path) -> None:
    """A model exported without weights says so in RANDOM_WEIGHTS.txt, which `scaffold new
    --model-dir` reads (the warning is not lost between the two commands)."""
    from generator.export.errors import ExportError
    from generator.export.native_config import load_native_config
    from generator.scaffold.checks import has_weights, mark_random_weights

    try:
        cfg = load_native_config(config, overrides)
    except ExportError:
        return
    if not has_weights(cfg):
        marker = mark_random_weights(model_dir)
        click.echo(f"note: no weights given: the model has RANDOM weights ({marker}); export "
                   "again with -o weights=PATH.pdparams", err=True)


def _export_onnx(model_dir: Path, opset: int, rtol: float, atol: float) -> None:
    """Convert the exported model in `model_dir` to model.onnx behind the parity check."""
    from generator.export.errors import ExportError
    from generator.export.onnx_export import convert_to_onnx
    from generator.export.parity import format_parity_table

    try:
        conv = convert_to_onnx(model_dir, opset=opset, rtol=rtol, atol=atol)
    except ExportError as exc:
        click.echo(f"Error: ONNX conversion refused: {exc}\nno model.onnx written; the Paddle "
                   f"model in {model_dir} is kept", err=True)
        sys.exit(exc.exit_code)
    click.echo(format_parity_table(conv.parity) + " (ONNX Runtime vs Paddle Inference)",
               err=True)
    for warning in conv.warnings:
        click.echo(warning, err=True)
    for fix in conv.corrections:
        click.echo(f"corrected a paddle2onnx misread from the PIR program: {fix}", err=True)
    limit = f", batch size <= {conv.max_batch_size}" if conv.max_batch_size else ""
    click.echo(f"onnx:    {conv.onnx_path} (opset {conv.opset}{limit})")
