"""`WebService`: Paddle Serving's script-facing entry point.

    class UciService(WebService):
        def get_pipeline_response(self, read_op):
            return UciOp(name="uci", input_ops=[read_op])

    service = UciService(name="uci")
    service.prepare_pipeline_config("config.yml")
    service.run_service()

Errors in the config or the graph, or a model that cannot be loaded, print one clear message
to stderr and exit with status 1 (never a bare traceback).
"""

from __future__ import annotations

from generator.runtime.errors import (
    CONFIG_STAGE,
    START_STAGE,
    DagError,
    RuntimeServingError,
    exit_with_error,
)
from generator.runtime.pipeline.io_ops import RequestOp, ResponseOp
from generator.runtime.pipeline.operator import Op
from generator.runtime.server import PipelineServer


class WebService:
    """Build the DAG in `get_pipeline_response`, then `prepare_pipeline_config` and `run_service`."""

    def __init__(self, name: str = "default_service"):
        self.name = name
        self._server = PipelineServer(name)

    def get_pipeline_response(self, read_op: RequestOp) -> Op:
        """Override: build the graph from `read_op` and return the last Op."""
        raise NotImplementedError("override get_pipeline_response(self, read_op) to return the last Op")

    def _build(self) -> ResponseOp:
        read_op = RequestOp()
        last = self.get_pipeline_response(read_op)
        if not isinstance(last, Op):
            raise DagError(
                f"get_pipeline_response must return an Op, found {type(last).__name__}")
        return ResponseOp(input_ops=[last])

    def prepare_pipeline_config(self, yml_file: str | None = None, yml_dict: dict | None = None):
        """Load and validate config.yml (or a dict) and the Op graph."""
        try:
            self._server._set_response_op(self._build())
            self._server._prepare_server(yml_file=yml_file, yml_dict=yml_dict)
        except RuntimeServingError as exc:
            exit_with_error(exc, CONFIG_STAGE)

    def run_service(self) -> None:
        """Start serving; blocks until SIGTERM/SIGINT, then drains in-flight requests."""
        try:
            self._server._run_server()
        except RuntimeServingError as exc:
            exit_with_error(exc, START_STAGE)

    # Non-blocking variants, for embedding and tests.
    def start(self) -> PipelineServer:
        """Start serving in the background and return the server (call `.stop()`)."""
        self._server.start()
        return self._server

    @property
    def server(self) -> PipelineServer:
        return self._server
