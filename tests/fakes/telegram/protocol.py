"""Bot API wire basics shared by the fake's modules: JSON objects, the error envelope,
integer parameters, dates and UTF-16 lengths."""

from __future__ import annotations

import time
from typing import Any

JSONDict = dict[str, Any]


class ApiError(Exception):
    """A Bot API error, answered as ``{"ok": false, "error_code", "description"}``."""

    def __init__(self, status: int, description: str, parameters: JSONDict | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = parameters

    def envelope(self) -> JSONDict:
        """The JSON body Telegram sends for this error."""
        body: JSONDict = {
            "ok": False,
            "error_code": self.status,
            "description": self.description,
        }
        if self.parameters:
            body["parameters"] = self.parameters
        return body


def bad(description: str) -> ApiError:
    """A 400 "Bad Request: ..." error."""
    return ApiError(400, f"Bad Request: {description}")


def int_param(params: JSONDict, key: str, default: int | None = None) -> int:
    """An integer parameter; required unless ``default`` is given."""
    value = params.get(key, default)
    if value is None or value == "":
        if default is None:
            raise bad(f"{key} is empty" if key in params else f'parameter "{key}" is required')
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise bad(f"invalid {key} specified") from None


def now() -> int:
    """A Bot API date: seconds since the epoch."""
    return int(time.time())


def utf16_len(text: str) -> int:
    """The length Telegram counts: UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2
