"""How the script-facing entry points (`WebService`, `PipelineServer`) report a user error:
one `error: <stage>: <message>` line on stderr and exit status 1, never a traceback."""

from __future__ import annotations

import sys
from typing import NoReturn

from generator.runtime.errors import RuntimeServingError

__all__ = ["CONFIG_STAGE", "START_STAGE", "exit_with_error"]

CONFIG_STAGE = "invalid service configuration"
START_STAGE = "the service could not start"


def exit_with_error(exc: RuntimeServingError, stage: str) -> NoReturn:
    """Print `error: stage: exc` to stderr and exit 1."""
    print(f"error: {stage}: {exc}", file=sys.stderr, flush=True)
    raise SystemExit(1)
