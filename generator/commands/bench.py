"""`scaffold bench SERVICE_DIR`: a service's speed against its model's in-process speed."""

from __future__ import annotations

import json
import sys

import click


def _levels(value: str) -> tuple[int, ...]:
    try:
        levels = tuple(int(v) for v in value.split(",") if v.strip())
    except ValueError:
        levels = ()
    if not levels or min(levels) < 1:
        raise click.BadParameter(f"expected comma-separated positive integers like 1,4,16, "
                                 f"got {value!r}")
    return levels


@click.command(name="bench")
@click.argument("service_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--concurrency", default="1,4,16", show_default=True,
              help="Concurrent clients per level, comma-separated.")
@click.option("--duration", type=float, default=10.0, show_default=True,
              help="Seconds per level.")
@click.option("--protocol", type=click.Choice(["grpc", "http", "both"]), default="grpc",
              show_default=True)
@click.option("--image", "image_path", type=click.Path(exists=True, dir_okay=False),
              default=None, help="Image to send (default: a generated 640x480 image).")
@click.option("--endpoint", default=None,
              help="Host of a service already running (ports from config.yml unless given).")
@click.option("--rpc-port", type=int, default=None)
@click.option("--http-port", type=int, default=None)
@click.option("--baseline-seconds", type=click.FloatRange(min=0.1), default=3.0,
              show_default=True,
              help="Seconds for the whole in-process baseline (all batch sizes, warm-ups "
                   "included; at least one batch-1 run).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--backends", "compare_backends", is_flag=True,
              help="Instead of load levels: measure every available inference backend on this "
                   "service's model in-process (probe processes), against Paddle with oneDNN "
                   "off, as `scaffold new` does, and print the comparison.")
@click.option("--configs", "sweep_configs", is_flag=True,
              help="Instead of load levels: measure the served throughput of model instances x "
                   "threads per instance x batch size (each started from this service with "
                   "that op variant, 16 gRPC clients, interleaved rounds), as `scaffold new "
                   "--sweep` does, and print the sweep.")
def command(service_dir, concurrency, duration, protocol, image_path, endpoint, rpc_port,
            http_port, baseline_seconds, as_json, compare_backends, sweep_configs) -> None:
    """Measure QPS and p50/p90/p99 latency of SERVICE_DIR per concurrency level, and the
    in-process speed of the same Op and model (best batch size) in the same run."""
    from pathlib import Path

    if compare_backends:
        from generator.quality.service_dir import ServiceDirError
        from generator.scaffold.backend_compare import compare_service_backends
        from generator.scaffold.errors import ScaffoldError

        try:
            click.echo(compare_service_backends(Path(service_dir)))
        except (ServiceDirError, ScaffoldError) as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)
        return

    from generator.quality.bench import BenchOptions, bench_service
    from generator.quality.samples import generated_images
    from generator.quality.service_dir import ServiceDirError

    image = (Path(image_path).read_bytes() if image_path
             else generated_images(2)["generated_1.png"])
    if sweep_configs:
        from generator.quality.samples import text_page
        from generator.quality.service_dir import open_service_dir
        from generator.scaffold.serving_sweep import sweep_service

        try:
            if not image_path and open_service_dir(service_dir).record.get("task") == "ocr":
                image = text_page()  # a page of text lines: the recognizer's share of the work
            click.echo(sweep_service(Path(service_dir), image).table())
        except (ServiceDirError, RuntimeError) as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)
        return
    options = BenchOptions(
        image=image, concurrency=_levels(concurrency), duration=duration,
        protocols=("grpc", "http") if protocol == "both" else (protocol,), endpoint=endpoint,
        rpc_port=rpc_port, http_port=http_port, baseline_seconds=baseline_seconds)
    try:
        report = bench_service(service_dir, options)
    except ServiceDirError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    click.echo(json.dumps(report.as_dict(), indent=2) if as_json else report.table())
    sys.exit(1 if any(lv.errors for lv in report.levels) else 0)
