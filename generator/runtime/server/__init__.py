"""The composition root: `PipelineServer` builds the DAG (`executor`), the front doors
(`protocols`) and the health/metrics routes, binds the listeners and handles signals.

May import every other runtime sub-package; nothing below imports `server`.
"""

from generator.runtime.server.pipeline_server import PipelineServer

__all__ = ["PipelineServer"]
