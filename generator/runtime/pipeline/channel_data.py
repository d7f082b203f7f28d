"""`ChannelData`: what travels between Ops, with Paddle Serving's data typing rules."""

from __future__ import annotations

import enum
from typing import Any

import numpy as np

from generator.runtime.errors import ErrorCode


class ChannelDataType(enum.IntEnum):
    """How a payload is serialised by the default `ResponseOp` (channel.py semantics)."""

    DICT = 0
    CHANNEL_NPDATA = 1
    ERROR = 2


def is_npdata(data: Any) -> bool:
    """True when every value is an ndarray or a list whose first element is a str."""
    if not isinstance(data, dict):
        return False
    for value in data.values():
        if isinstance(value, np.ndarray):
            continue
        if isinstance(value, list) and value and isinstance(value[0], str):
            continue
        return False
    return True


class ChannelData:
    """One request's payload (or error) as seen by an Op or the ResponseOp."""

    __slots__ = (
        "datatype", "npdata", "dictdata", "id", "log_id", "error_code", "error_info",
        "prod_error_code", "prod_error_info", "client_need_profile", "profile_data",
    )

    def __init__(self, datatype: int | None = None, npdata: dict | None = None,
                 dictdata: dict | None = None, data_id: int | None = None,
                 log_id: int | None = None, error_code: int | None = None,
                 error_info: str | None = None, prod_error_code: int | None = None,
                 prod_error_info: str | None = None, client_need_profile: bool = False):
        self.error_code = ErrorCode.OK if error_code is None else int(error_code)
        self.error_info = error_info or ""
        self.prod_error_code = prod_error_code
        self.prod_error_info = prod_error_info
        if self.error_code != ErrorCode.OK:
            datatype = ChannelDataType.ERROR
        elif datatype is None:
            payload = npdata if npdata is not None else dictdata
            datatype = ChannelDataType.CHANNEL_NPDATA if is_npdata(payload) else ChannelDataType.DICT
            if datatype == ChannelDataType.CHANNEL_NPDATA and npdata is None:
                npdata, dictdata = dictdata, None
        self.datatype = int(datatype)
        self.npdata = npdata
        self.dictdata = dictdata
        self.id = data_id
        self.log_id = log_id
        self.client_need_profile = client_need_profile
        self.profile_data = ""

    @staticmethod
    def check_npdata(data: Any) -> tuple[int, str]:
        """Paddle Serving's check: (0, "") when `data` is NPDATA, else (TYPE_ERROR, reason)."""
        if is_npdata(data):
            return ErrorCode.OK, ""
        return ErrorCode.TYPE_ERROR, "values must be np.ndarray (or lists of str)"

    def parse(self) -> dict:
        """The payload dict."""
        if self.datatype == ChannelDataType.CHANNEL_NPDATA:
            return self.npdata
        if self.datatype == ChannelDataType.DICT:
            return self.dictdata
        raise TypeError(f"ChannelData of type ERROR has no payload ({self.error_info})")

    def __repr__(self) -> str:
        return (f"ChannelData(id={self.id}, log_id={self.log_id}, type={self.datatype}, "
                f"error_code={self.error_code})")
