"""No log line of the web process carries a secret or what someone searched for.

uvicorn's access log writes every request line with its query string: an Open311
client's `?api_key=…`, a staff member's `/dashboard?q=13966667777`. `RedactQueries`,
a logging filter on every handler of the web process (uvicorn's, and the root one our
own loggers write through), replaces the value of each query parameter that carries a
key, token, password, code or search text, and of any parameter whose value holds a
resident's personal data as services.privacy.mask_text sees it (a phone number, a
flat number, a name), with `[redacted]`: `?api_key=[redacted]&service_code=repair`.
Query strings in other messages and in tracebacks are treated the same way.
"""

from __future__ import annotations

import copy
import logging
import re
from typing import Any
from urllib.parse import unquote_plus

from uvicorn.config import LOGGING_CONFIG

from services.numbers import without_numbers
from services.privacy import mask_text

REDACTED = "[redacted]"
# Parameter names (lower case) whose values are never logged, and words that make any
# name containing them secret (access_token, client_secret, new_password, x-api-key…).
SECRET_NAMES = frozenset({"q", "query", "search", "code", "key", "phone"})
SECRET_WORDS = ("key", "token", "secret", "passw", "phone", "auth", "session", "csrf")
# Ticket numbers (RO-261122-0007) look like phone numbers to mask_text; they are not.
_QUERY = re.compile(r"\?[^\s\"'<>]*")


def _secret_name(name: str) -> bool:
    lowered = name.lower()
    return lowered in SECRET_NAMES or any(word in lowered for word in SECRET_WORDS)


def _personal(value: str) -> bool:
    text = without_numbers(value)
    return mask_text(text) != text


def redact_query(query: str) -> str:
    """A query string (without "?") with secret and personal values replaced."""
    pieces = []
    for piece in query.split("&"):
        raw_name, equals, raw_value = piece.partition("=")
        name, value = unquote_plus(raw_name), unquote_plus(raw_value)
        if not equals:
            pieces.append(REDACTED if _personal(name) else piece)
        elif _secret_name(name) or _personal(value):
            pieces.append(f"{raw_name}={REDACTED}")
        else:
            pieces.append(piece)
    return "&".join(pieces)


def redact_text(text: str) -> str:
    """`text` with every query string in it ("?a=1&b=2") redacted."""
    return _QUERY.sub(lambda found: "?" + redact_query(found.group(0)[1:]), text)


class RedactQueries(logging.Filter):
    """Redact query strings in a record's message, arguments and traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name == "uvicorn.access" and isinstance(record.args, tuple):
            # (client, method, path with query, HTTP version, status): the access
            # formatter needs the five arguments, so only the path is rewritten.
            args: list[Any] = list(record.args)
            if len(args) >= 3 and isinstance(args[2], str):
                args[2] = redact_text(args[2])
            record.args = tuple(args)
        else:
            message = record.getMessage()
            redacted = redact_text(message)
            if redacted != message:
                record.msg, record.args = redacted, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_text(record.exc_text)
        return True


def uvicorn_log_config() -> dict[str, Any]:
    """uvicorn's own logging configuration with RedactQueries on its handlers."""
    config = copy.deepcopy(LOGGING_CONFIG)
    config.setdefault("filters", {})["redact_queries"] = {"()": RedactQueries}
    for handler in config["handlers"].values():
        handler.setdefault("filters", []).append("redact_queries")
    return config


def redact_root_handlers() -> None:
    """Put RedactQueries on the root logger's handlers (our loggers write through them)."""
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RedactQueries) for f in handler.filters):
            handler.addFilter(RedactQueries())
