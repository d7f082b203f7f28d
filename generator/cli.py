"""`scaffold` command line: a thin click layer over the library API.

Each sub-command lives in `generator/commands/<name>.py` as a click command called `command`.
"""

from __future__ import annotations

import importlib

import click

from generator import __version__

COMMANDS = ("new", "export", "convert", "verify", "bench", "run")


class _LazyGroup(click.Group):
    """Imports a sub-command module only when it is used (Paddle is slow to import)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [name for name in COMMANDS if self._load(name) is not None]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return self._load(cmd_name) if cmd_name in COMMANDS else None

    @staticmethod
    def _load(name: str) -> click.Command | None:
        try:
            module = importlib.import_module(f"generator.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"generator.commands.{name}":
                return None
            raise
        return module.command


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="scaffold")
def main() -> None:
    """Turn a trained Paddle model into a running, Paddle Serving compatible service."""
