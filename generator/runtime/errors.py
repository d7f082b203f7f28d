"""Error codes of the Paddle Serving pipeline (`error_catch.CustomExceptionCode`), the runtime's
exception hierarchy, how exception text is quoted, and how the script-facing entry points
(`WebService`, `PipelineServer`) report a user error: one `error: <stage>: <message>` line on
stderr and exit status 1, never a traceback.

A leaf: imports nothing from the runtime."""

from __future__ import annotations

import enum
import sys
from typing import NoReturn


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


class ConfigValidationError(PipelineConfigError):
    """One or more problems in a pipeline config. `errors` holds one line per problem, each
    starting with the source; `str()` lists them all."""

    def __init__(self, source: str, errors: list[str]):
        self.source = source
        self.errors = [f"{source}: {line}" for line in errors]
        if len(self.errors) == 1:
            message = self.errors[0]
        else:
            message = f"{source}: {len(self.errors)} errors in the pipeline config:\n" + "\n".join(
                f"  {line}" for line in self.errors
            )
        super().__init__(message)


#: longest exception text quoted in an err_msg or a log line (a bad request value can be MiBs)
MAX_QUOTED_CHARS = 300


def short_text(text: str, limit: int = MAX_QUOTED_CHARS) -> str:
    """`text` cut to `limit` characters, saying how long it was."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text):,} characters, cut)"


def format_exception(exc: BaseException, log_id: int, owner: str, func: str, op_name: str) -> str:
    """Paddle Serving's ErrorCatch message, plus the Op name and exception type (the exception
    text is cut to MAX_QUOTED_CHARS)."""
    message = short_text(str(exc)).replace("'", "").replace('"', "")
    return (f"Log_id: {log_id}  Raise_msg: {message}  ClassName: {owner}.{func}  "
            f"FunctionName: {func}  Op: {op_name}  ExceptionType: {type(exc).__name__}")


CONFIG_STAGE = "invalid service configuration"


START_STAGE = "the service could not start"


def exit_with_error(exc: RuntimeServingError, stage: str) -> NoReturn:
    """Print `error: stage: exc` to stderr and exit 1."""
    print(f"error: {stage}: {exc}", file=sys.stderr, flush=True)
    raise SystemExit(1)


#: the longest piece of a client's input quoted in an error message, and the longest message
QUOTE_LIMIT, MESSAGE_LIMIT = 64, 1024


def shorten(value: object, limit: int = QUOTE_LIMIT) -> str:
    """`value` as text for an error message, cut to `limit` characters (`short_text`), so a
    message quoting client input stays short on every protocol (gRPC clients refuse trailers
    over 16 KiB)."""
    return short_text(str(value), limit)


def cap_message(message: str) -> str:
    """An error message cut to `MESSAGE_LIMIT` characters: the last guard of every answer."""
    return short_text(message, MESSAGE_LIMIT)


class OverloadedError(RuntimeServingError):
    """No Op copy is free within the bound (`dag.channel_size`) or the request deadline."""
