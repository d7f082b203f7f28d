"""`scaffold` command line: a thin click layer over the library API.

Each sub-command lives in `generator/commands/<name>.py` as a click command called `command`.
"""

from __future__ import annotations

import importlib
import os
import warnings

import click

from generator import __version__

COMMANDS = ("new", "export", "convert", "verify", "bench", "run")


class _LazyGroup(click.Group):
    """Imports a sub-command module only when it is used (Paddle is slow to import)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [name for name in COMMANDS if self._load(name) is not None]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return self._load(cmd_name) if cmd_name in COMMANDS else None

    def invoke(self, ctx: click.Context) -> object:
        """User-environment failures (a file that cannot be read or written, Ctrl-C) end with
        a message and a non-zero status, not a traceback."""
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            ctx.exit(130)
        except OSError as exc:
            where = f" {exc.filename}" if getattr(exc, "filename", None) else ""
            click.echo(f"Error:{where}: {exc.strerror or exc}; check the path and its "
                       "permissions (scaffold --verbose shows Paddle's own messages)", err=True)
            ctx.exit(1)
        return None

    @staticmethod
    def _load(name: str) -> click.Command | None:
        try:
            module = importlib.import_module(f"generator.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"generator.commands.{name}":
                return None
            raise
        return module.command


#: Paddle's start-up noise, hidden unless --verbose (or GLOG_v is set)
NOISE_WARNINGS = ("No ccache found",)


def quiet_paddle(verbose: bool = False) -> None:
    """Hide Paddle's glog INFO/WARNING lines ("PIR not support input out tensor", mem_optim
    notes) and its ccache warning, in this process and the ones it starts (set before Paddle is
    imported). Nothing changes with `verbose` or when the user set GLOG_v/GLOG_minloglevel."""
    if verbose:
        os.environ["SCAFFOLD_VERBOSE"] = "1"  # whole error messages (see model_source)
    if verbose or "GLOG_v" in os.environ:
        return
    os.environ.setdefault("GLOG_minloglevel", "2")
    current = os.environ.get("PYTHONWARNINGS", "")
    extra = ",".join(f"ignore:{m}" for m in NOISE_WARNINGS if m not in current)
    if extra:
        os.environ["PYTHONWARNINGS"] = f"{current},{extra}" if current else extra
    for message in NOISE_WARNINGS:
        warnings.filterwarnings("ignore", message=message)
    warnings.formatwarning = _one_line_warning


def _one_line_warning(message: Warning | str, category: type[Warning], filename: str,
                      lineno: int, line: str | None = None) -> str:
    """`warning: <message>` instead of Python's file:line + source line."""
    return f"warning: {message}\n"


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="scaffold")
@click.option("-v", "--verbose", is_flag=True,
              help="Show Paddle's own log lines and warnings (hidden by default).")
def main(verbose: bool) -> None:
    """Turn a trained Paddle model into a running, Paddle Serving compatible service."""
    quiet_paddle(verbose)
