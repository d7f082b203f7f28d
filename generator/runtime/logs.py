"""Logging: stderr plus Paddle Serving's `PipelineServingLogs/` files."""

from __future__ import annotations

import logging
import logging.handlers
import os
from pathlib import Path

_FORMAT = "%(asctime)s %(levelname)s [%(process)d %(threadName)s] %(name)s: %(message)s"
_configured = False


def log_dir() -> Path:
    """`$SERVING_LOG_PATH/PipelineServingLogs`, or `./PipelineServingLogs`."""
    return Path(os.environ.get("SERVING_LOG_PATH", ".")) / "PipelineServingLogs"


def setup_logging(level: int = logging.INFO, to_files: bool = True) -> None:
    """Log `generator.*` to stderr and to `pipeline.log` (INFO+) / `pipeline.log.wf` (WARNING+)
    / `pipeline.tracer` (the tracer's summaries). Idempotent."""
    global _configured
    if _configured:
        return
    _configured = True
    root = logging.getLogger("generator")
    root.setLevel(level)
    root.propagate = False  # Paddle configures the root logger; avoid printing every line twice
    formatter = logging.Formatter(_FORMAT)
    stderr = logging.StreamHandler()
    stderr.setFormatter(formatter)
    root.addHandler(stderr)
    if not to_files:
        return
    directory = log_dir()
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        root.warning("cannot create %s (%s); logging to stderr only", directory, exc)
        return
    for name, lvl, count in (("pipeline.log", logging.INFO, 20),
                             ("pipeline.log.wf", logging.WARNING, 10)):
        handler = logging.handlers.RotatingFileHandler(
            directory / name, maxBytes=512 << 20, backupCount=count, delay=True)
        handler.setLevel(lvl)
        handler.setFormatter(formatter)
        root.addHandler(handler)
    tracer = logging.getLogger("generator.tracer")
    handler = logging.handlers.RotatingFileHandler(
        directory / "pipeline.tracer", maxBytes=512 << 20, backupCount=5, delay=True)
    handler.setFormatter(formatter)
    tracer.addHandler(handler)
