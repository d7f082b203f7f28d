"""`scaffold new`: generate a Pipeline service folder from a config or an exported model."""

from __future__ import annotations

import sys
from pathlib import Path

import click


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-c", "--config", "config", type=click.Path(dir_okay=False, path_type=Path),
              help="Model config (serving_configs/*.yml or a PaddleDetection config); with "
                   "--model-dir, a native config giving pre/post-processing.")
@click.option("--model-dir", "model_dir", type=click.Path(file_okay=False, path_type=Path),
              help="An exported model (PaddleDetection infer_cfg.yml, PaddleClas inference.yml, "
                   "PaddleSeg deploy.yaml, or a bare model with --config).")
@click.option("-o", "--opt", "opts", multiple=True, metavar="KEY=VALUE",
              help="Config override (value parsed as YAML; dotted keys nest). Repeatable.")
@click.option("--output", type=click.Path(path_type=Path),
              help="Service folder to create [default: ./<name>_serving].")
@click.option("--name", help="Service name, the HTTP path segment /<name>/prediction "
                             "[default: the model name].")
@click.option("--device", type=click.Choice(["cpu", "gpu"]), help="Inference device.")
@click.option("--trt", type=click.Choice(["fp32", "fp16", "int8"]),
              help="Run on the GPU with TensorRT at this precision.")
@click.option("--http-port", type=click.IntRange(1, 65535), help="HTTP port.")
@click.option("--rpc-port", type=click.IntRange(1, 65535), help="gRPC port.")
@click.option("--overwrite", is_flag=True, help="Replace an existing output folder.")
@click.option("--dry-run", is_flag=True, help="Validate and list the files; write nothing.")
@click.option("--verify", is_flag=True,
              help="Check the exported model against the dynamic one (config sources).")
@click.option("--ppdet-root", type=click.Path(file_okay=False, path_type=Path),
              help="A PaddleDetection checkout: export the PaddleDetection config with its own "
                   "tools/export_model.py (any architecture) and serve the result.")
@click.option("--vendor", is_flag=True,
              help="Put this package's wheel in vendor/ for `docker build` (before it is on "
                   "your package index).")
def command(config: Path | None, model_dir: Path | None, opts: tuple[str, ...],
            output: Path | None, name: str | None, device: str | None, trt: str | None,
            http_port: int | None, rpc_port: int | None, overwrite: bool, dry_run: bool,
            verify: bool, ppdet_root: Path | None, vendor: bool) -> None:
    """Generate a ready-to-run Paddle Serving Pipeline service folder."""
    from generator.scaffold import (
        NewServiceRequest,
        ScaffoldError,
        ServicePlan,
        create_service,
        plan_service,
    )

    request = NewServiceRequest(config=config, model_dir=model_dir, overrides=list(opts),
                                output=output, name=name, device=device, trt=trt,
                                http_port=http_port, rpc_port=rpc_port, overwrite=overwrite,
                                verify=verify, ppdet_root=ppdet_root, vendor=vendor)
    try:
        plan: ServicePlan = plan_service(request)
        for note in plan.notes:
            click.echo(note, err=True)
        if dry_run:
            click.echo(f"would write {plan.output}/ ({plan.task} service {plan.name!r}):")
            for rel in plan.files:
                click.echo(f"  {rel}")
            return
        result = create_service(plan)
    except ScaffoldError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(exc.exit_code)
    s = plan.settings
    click.echo(f"created {result.output}/ ({plan.task} service {plan.name!r}, "
               f"{len(result.files)} files)")
    if plan.random_weights:
        click.echo("note: the model has RANDOM weights (no weights given)", err=True)
    click.echo(f"run:   cd {result.output} && python web_service.py")
    click.echo(f"http:  http://127.0.0.1:{s.http_port}/{plan.name}/prediction")
    click.echo(f"grpc:  127.0.0.1:{s.rpc_port}")
