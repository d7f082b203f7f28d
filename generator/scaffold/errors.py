"""Errors of `scaffold new`: every message says what is wrong, where, and how to fix it."""

from __future__ import annotations


class ScaffoldError(Exception):
    """The service cannot be generated; nothing was written. `exit_code` is the CLI status."""

    exit_code = 1


class ScaffoldConfigError(ScaffoldError):
    """A bad input: config key, option value, name, or an existing output folder."""

    exit_code = 2
