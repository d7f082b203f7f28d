"""`scaffold new`: generate a Pipeline service folder from a config or an exported model."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import click


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-c", "--config", "config", type=click.Path(dir_okay=False, path_type=Path),
              help="Model config (serving_configs/*.yml or a PaddleDetection config); with "
                   "--model-dir, a native config giving pre/post-processing.")
@click.option("--model-dir", "model_dirs", type=click.Path(file_okay=False, path_type=Path),
              multiple=True,
              help="An exported model (PaddleDetection infer_cfg.yml, PaddleClas inference.yml, "
                   "PaddleSeg deploy.yaml, or a bare model with --config). Repeated: a two-stage "
                   "OCR service from a text detection and a text recognition export (and "
                   "optionally a text-line orientation one).")
@click.option("-o", "--opt", "opts", multiple=True, metavar="KEY=VALUE",
              help="Config override (value parsed as YAML; dotted keys nest). Repeatable.")
@click.option("--output", type=click.Path(path_type=Path),
              help="Service folder to create [default: ./<config file name>_serving, or "
                   "./<name>_serving with --name or --model-dir].")
@click.option("--name", help="Service name, the HTTP path segment /<name>/prediction "
                             "[default: the model name].")
@click.option("--device", type=click.Choice(["cpu", "gpu"]), help="Inference device.")
@click.option("--trt", type=click.Choice(["fp32", "fp16", "int8"]),
              help="Run on the GPU with TensorRT at this precision.")
@click.option("--http-port", type=click.IntRange(1, 65535), help="HTTP port.")
@click.option("--rpc-port", type=click.IntRange(1, 65535), help="gRPC port.")
@click.option("--host", metavar="ADDRESS",
              help="Listen address of `python web_service.py` [default: 127.0.0.1, this "
                   "machine only; 0.0.0.0: all interfaces]. The Dockerfile and k8s/ listen on "
                   "0.0.0.0 whatever this is.")
@click.option("--image", metavar="REGISTRY/NAME:TAG",
              help="Container image named in the Kubernetes manifests and the README "
                   "[default: <name>-serving:latest].")
@click.option("--overwrite", is_flag=True,
              help="Regenerate an output folder that `scaffold new` made: files you added are "
                   "kept; files you changed are refused (see --force).")
@click.option("--force", is_flag=True,
              help="With --overwrite: also replace the files you changed (they are listed).")
@click.option("--update", is_flag=True,
              help="Keep the output folder when it was generated from the same inputs; "
                   "otherwise regenerate it as --overwrite does.")
@click.option("--strict-overrides", is_flag=True,
              help="Fail on -o keys a PaddleDetection config does not have (PaddleDetection "
                   "ignores them; without this flag they are warnings).")
@click.option("--dry-run", is_flag=True, help="Validate and list the files; write nothing.")
@click.option("--verify", is_flag=True,
              help="Check the exported model against the dynamic one (config sources).")
@click.option("--ppdet-root", type=click.Path(file_okay=False, path_type=Path),
              help="A PaddleDetection checkout: export the PaddleDetection config with its own "
                   "tools/export_model.py (any architecture) and serve the result.")
@click.option("--backend", type=click.Choice(["auto", "paddle", "openvino", "onnxruntime"]),
              help="CPU inference backend. Default auto: each available backend is measured "
                   "on this machine for this model and the fastest with Paddle's outputs is "
                   "written into config.yml.")
@click.option("--sweep/--no-sweep", default=True, show_default=True, envvar="SCAFFOLD_SWEEP",
              show_envvar=True,
              help="Measure the served throughput of model instances (processes, and threads "
                   "where the backend releases the GIL) x threads per instance x batch size on "
                   "this machine (16 clients, half gRPC and half HTTP, interleaved rounds, "
                   "about half a minute for small models) and write the winner into "
                   "config.yml, on every model Op. CPU services; --no-sweep keeps the default "
                   "serving configuration.")
@click.option("--vendor/--no-vendor", default=True, show_default=True,
              help="Put this package's wheel in vendor/, so the folder installs (pip, docker "
                   "build) on a machine that has never seen this repository.")
def command(config: Path | None, model_dirs: tuple[Path, ...], opts: tuple[str, ...],
            output: Path | None, name: str | None, device: str | None, trt: str | None,
            http_port: int | None, rpc_port: int | None, host: str | None,
            image: str | None, overwrite: bool, force: bool,
            update: bool, strict_overrides: bool, dry_run: bool, verify: bool,
            ppdet_root: Path | None, backend: str | None, sweep: bool, vendor: bool) -> None:
    """Generate a ready-to-run Paddle Serving Pipeline service folder."""
    from generator.scaffold import (
        NewServiceRequest,
        ScaffoldError,
        ServicePlan,
        create_service,
        plan_service,
    )

    model_dir = model_dirs[0] if len(model_dirs) == 1 else None
    request = NewServiceRequest(config=config, model_dir=model_dir, overrides=list(opts),
                                output=output, name=name, device=device, trt=trt,
                                http_port=http_port, rpc_port=rpc_port, overwrite=overwrite,
                                verify=verify, ppdet_root=ppdet_root, vendor=vendor,
                                force=force, update=update, host=host, image=image,
                                strict_overrides=strict_overrides,
                                backend=backend, sweep=sweep,
                                model_dirs=list(model_dirs) if len(model_dirs) > 1 else [])
    if force and not (overwrite or update):
        click.echo("Error: --force only applies with --overwrite (or --update)", err=True)
        sys.exit(2)
    try:
        plan: ServicePlan = plan_service(request)
        if plan.up_to_date:
            click.echo(f"{plan.output}/ is up to date (generated from the same inputs); kept "
                       "as it is")
            return
        for note in plan.notes:
            click.echo(note, err=True)
        if dry_run:
            click.echo(f"would write {plan.output}/ ({plan.task} service {plan.name!r}):")
            for rel in plan.files:
                click.echo(f"  {rel}")
            if plan.replace is not None:
                for rel in plan.replace.changed:
                    click.echo(f"would replace your changed file {rel}", err=True)
            return
        result = create_service(plan)
    except ScaffoldError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(exc.exit_code)
    s = plan.settings
    if plan.replace is not None:
        for rel in plan.replace.changed:
            click.echo(f"replaced your changed file {rel} (--force)", err=True)
        for rel in plan.kept:
            click.echo(f"kept your file {rel}", err=True)
    if plan.backend is not None:
        click.echo(plan.backend.table())
    if plan.sweep is not None:
        click.echo(plan.sweep.table())
    if plan.sweep_note:
        click.echo(plan.sweep_note)
    if plan.sweep_warning:
        click.echo(f"warning: {plan.sweep_warning}", err=True)
    click.echo(f"created {result.output}/ ({plan.task} service {plan.name!r}, "
               f"{len(result.files)} files)")
    if plan.random_weights:
        click.echo("note: the model has RANDOM weights (no weights given)", err=True)
    python = shlex.quote(sys.executable)  # the interpreter that has this package installed
    click.echo(f"run:   cd {shlex.quote(str(result.output))} && {python} web_service.py   "
               f"(listens on {s.host})")
    click.echo(f"http:  http://127.0.0.1:{s.http_port}/{plan.name}/prediction")
    click.echo(f"grpc:  127.0.0.1:{s.rpc_port}")
