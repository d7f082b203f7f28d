"""`scaffold verify SERVICE_DIR`: served outputs equal the model's outputs."""

from __future__ import annotations

import sys

import click


@click.command(name="verify")
@click.argument("service_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--images", "image_paths", multiple=True, type=click.Path(dir_okay=False),
              help="Image files to send (repeatable); default: generated images.")
@click.option("--count", default=4, show_default=True, help="How many images to generate.")
@click.option("--endpoint", default=None,
              help="Host of a service already running (ports from config.yml unless given).")
@click.option("--rpc-port", type=int, default=None, help="gRPC port of --endpoint.")
@click.option("--http-port", type=int, default=None, help="HTTP port of --endpoint.")
@click.option("--protocol", type=click.Choice(["grpc", "http", "both"]), default="both",
              show_default=True)
@click.option("--rtol", type=float, default=1e-3, show_default=True)
@click.option("--atol", type=float, default=1e-6, show_default=True)
@click.option("--iou", type=float, default=0.99, show_default=True,
              help="Detection: minimal IoU of matched boxes.")
@click.option("--score-atol", type=float, default=1e-4, show_default=True,
              help="Detection: largest score difference of matched boxes.")
@click.option("--no-dynamic", is_flag=True,
              help="Skip the dynamic-graph vs exported model comparison.")
def command(service_dir, image_paths, count, endpoint, rpc_port, http_port, protocol, rtol, atol,
            iou, score_atol, no_dynamic) -> None:
    """Check that SERVICE_DIR's served outputs (gRPC and HTTP) equal in-process inference of
    its exported model through the same preprocessing, and the exported model equals the
    dynamic-graph model. Exits 1 on any difference."""
    from generator.quality.compare import Tolerance
    from generator.quality.samples import generated_images, load_images
    from generator.quality.service_dir import ServiceDirError
    from generator.quality.verify import VerifyOptions, verify_service

    try:
        images = load_images(list(image_paths)) if image_paths else generated_images(count)
    except (OSError, ValueError) as exc:
        raise click.UsageError(str(exc)) from exc
    options = VerifyOptions(
        images=images, endpoint=endpoint, rpc_port=rpc_port, http_port=http_port,
        protocols=("grpc", "http") if protocol == "both" else (protocol,),
        tolerance=Tolerance(rtol, atol, iou, score_atol), check_dynamic=not no_dynamic)
    try:
        report = verify_service(service_dir, options)
    except ServiceDirError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    click.echo(report.table())
    ran = [c for c in report.checks if not c.skipped]
    skipped = len(report.checks) - len(ran)
    click.echo(f"verify {'PASS' if report.ok else 'FAIL'}: {sum(c.ok for c in ran)}/{len(ran)} "
               f"checks passed" + (f", {skipped} skipped" if skipped else ""))
    sys.exit(0 if report.ok else 1)
