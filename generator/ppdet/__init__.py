"""PaddleDetection support: config loading, a weight-compatible YOLOv3 family, infer_cfg.yml.

Importing `generator.ppdet.builder` registers the native `YOLOv3` architecture builder;
this package itself stays light (no paddle import).
"""

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
