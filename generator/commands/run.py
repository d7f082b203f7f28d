"""`scaffold run SCRIPT [ARGS]...`: run a Paddle Serving 0.9 service file unchanged."""

from __future__ import annotations

import sys

import click


@click.command(name="run", context_settings={"ignore_unknown_options": True,
                                             "allow_interspersed_args": False})
@click.argument("script", type=click.Path(exists=True, dir_okay=False))
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def command(script: str, args: tuple[str, ...]) -> None:
    """Run SCRIPT (e.g. web_service.py config.yml) as `python SCRIPT ARGS...` would, with
    `paddle_serving_server`, `paddle_serving_app` and `paddle_serving_client` imports resolved
    to this runtime and NumPy 1's binary `np.fromstring`. Nothing is installed; the service
    file needs no edit. Generated services run the same way."""
    from generator.runtime.compat.script_runner import ScriptError, run_script

    try:
        run_script(script, args)
    except ScriptError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
