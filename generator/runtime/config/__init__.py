"""`config.yml`: the schema (`schema`, `keys`), the checker that reports every problem at once
(`checker`), shapes and devices, and the loader that returns the validated nested dict.

May import: `generator.runtime.errors` and `generator.suggest` only. This face re-exports the public names, so
`from generator.runtime.config import load_pipeline_config` keeps working.
"""

from generator.runtime.config.devices import resolve_devices
from generator.runtime.config.loader import (
    YML_DICT_SOURCE,
    default_op_config,
    load_pipeline_config,
    op_config,
    pick_free_port,
    validate_pipeline_config,
)
from generator.runtime.config.schema import KEY_DOCS
from generator.runtime.config.shapes import check_dynamic_shape_info, dynamic_shape_info
from generator.runtime.errors import ConfigValidationError

__all__ = [
    "KEY_DOCS",
    "YML_DICT_SOURCE",
    "ConfigValidationError",
    "check_dynamic_shape_info",
    "default_op_config",
    "dynamic_shape_info",
    "load_pipeline_config",
    "op_config",
    "pick_free_port",
    "resolve_devices",
    "validate_pipeline_config",
]
