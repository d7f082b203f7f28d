"""`scaffold convert`: `python -m paddle_serving_client.convert` flags over our converter."""

from __future__ import annotations

import sys

import click

from generator.commands.export import parse_bool


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--dirname", required=True, type=click.Path(exists=True, file_okay=False),
              help="Inference model directory (PIR *.json, *.pdmodel or __model__).")
@click.option("--model_filename", "--model-filename", default=None,
              help="Program file name in DIRNAME (auto-detected when left out).")
@click.option("--params_filename", "--params-filename", default=None,
              help="Combined params file name (auto: <model>.pdiparams / __params__ / separate).")
@click.option("--serving_server", "--serving-server", default="serving_server",
              show_default=True, help="Output directory for the server side.")
@click.option("--serving_client", "--serving-client", default="serving_client",
              show_default=True, help="Output directory for the client side.")
@click.option("--feed_alias_names", "--feed-alias-names", default=None,
              help="Comma-separated feed alias names (one per feed var).")
@click.option("--fetch_alias_names", "--fetch-alias-names", default=None,
              help="Comma-separated fetch alias names (one per fetch var, sorted by name).")
@click.option("--show_proto", "--show-proto", default="False", is_flag=False, flag_value="True",
              metavar="[BOOL]", help="Print the generated prototxt.")
def command(dirname: str, model_filename: str | None, params_filename: str | None,
            serving_server: str, serving_client: str, feed_alias_names: str | None,
            fetch_alias_names: str | None, show_proto: str) -> None:
    """Convert an inference model into Paddle Serving's serving_server/ and serving_client/."""
    show = parse_bool(show_proto, "--show_proto")
    from generator.export.convert import inference_model_to_serving
    from generator.export.errors import ExportError

    try:
        feeds, fetches = inference_model_to_serving(
            dirname, serving_server, serving_client, model_filename=model_filename,
            params_filename=params_filename, feed_alias_names=feed_alias_names,
            fetch_alias_names=fetch_alias_names, show_proto=show,
        )
    except ExportError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(exc.exit_code)
    click.echo(f"feed vars:  {', '.join(feeds)}")
    click.echo(f"fetch vars: {', '.join(fetches)}")
    click.echo(f"written:    {serving_server}/ {serving_client}/")
