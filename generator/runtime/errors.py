"""Error codes of the Paddle Serving pipeline (`error_catch.CustomExceptionCode`) and the
runtime's exception hierarchy."""

from __future__ import annotations

import enum


class ErrorCode(enum.IntEnum):
    """Response `err_no` values, with Paddle Serving 0.9's numbers and meanings."""

    OK = 0
    PRODUCT_ERROR = 50
    NOT_IMPLEMENTED = 3000
    CLOSED_ERROR = 3001
    NO_SERVICE = 3002
    INIT_ERROR = 3003
    CONF_ERROR = 4000
    INPUT_PARAMS_ERROR = 5000
    TIMEOUT = 6000
    TYPE_ERROR = 7000
    RPC_PACKAGE_ERROR = 8000
    CLIENT_ERROR = 9000
    UNKNOW = 10000  # sic: Paddle Serving's spelling
    #: Beyond Paddle Serving: the server is at its `channel_size` bound and sheds load.
    OVERLOADED = 8001


# Paddle Serving names kept for ported code.
CustomExceptionCode = ErrorCode
ChannelDataErrcode = ErrorCode


class ProductErrCode(enum.Enum):
    """Base class for user product error codes (50-999), as in Paddle Serving."""


class RuntimeServingError(Exception):
    """Base class of every error the runtime raises."""


class PipelineConfigError(RuntimeServingError):
    """config.yml (or the dict passed instead) is invalid. The message names the file, the key
    path, what was expected and what was found."""


class PredictorError(RuntimeServingError):
    """A Paddle Inference predictor could not be built or run."""


class DagError(RuntimeServingError):
    """The Op graph is malformed (duplicate names, cycles, unreachable Ops...)."""


class CustomException(RuntimeServingError):
    """An error carrying an `ErrorCode`, raised inside request handling."""

    def __init__(self, code: ErrorCode | int, message: str, is_send_to_user: bool = True):
        super().__init__(message)
        self.code = int(code)
        self.message = message
        self.is_send_to_user = is_send_to_user
