"""PaddleDetection support: config loading, a weight-compatible YOLOv3 family, infer_cfg.yml.

Importing this package registers the native `YOLOv3` architecture builder
(`generator.ppdet.builder`); paddle itself is imported only when a model is built.
"""

from . import builder  # noqa: F401  (registers the native YOLOv3 architecture)
from .config import is_ppdet_config, load_ppdet_config
from .errors import (
    ExporterError,
    PpdetConfigError,
    PpdetError,
    UnsupportedArchitectureError,
    WeightsError,
    WeightsMismatchError,
)

__all__ = [
    "ExporterError",
    "PpdetConfigError",
    "PpdetError",
    "UnsupportedArchitectureError",
    "WeightsError",
    "WeightsMismatchError",
    "is_ppdet_config",
    "load_ppdet_config",
]
