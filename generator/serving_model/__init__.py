"""Paddle Serving model folders (`serving_server/`, `serving_client/`) and their prototxt configs."""

from generator.serving_model.model_config import (
    CODE_TO_DTYPE,
    DTYPE_TO_CODE,
    GeneralModelConfig,
    ModelConfigError,
    ServingModelConfig,
    VarInfo,
    read_model_config,
    write_model_config,
)

__all__ = [
    "CODE_TO_DTYPE",
    "DTYPE_TO_CODE",
    "GeneralModelConfig",
    "ServingModelConfig",
    "ModelConfigError",
    "VarInfo",
    "read_model_config",
    "write_model_config",
]
