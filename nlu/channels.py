"""Rasa input channel used by every front (Telegram bot, terminal chat, web chat).

This module is imported by the Rasa server, so it runs in the engine's
environment (.venv-rasa): it may import rasa, never the application's packages.
It is the REST channel plus the request's `metadata` object (language, channel,
display name), which the stock REST channel drops.
"""

from typing import Any

from rasa.core.channels.rest import RestInput
from sanic.request import Request


class OrdersInput(RestInput):
    """REST channel that keeps the `metadata` the front sends with each message."""

    @classmethod
    def name(cls) -> str:
        return "orders"

    def get_metadata(self, request: Request) -> dict[str, Any] | None:
        metadata = (request.json or {}).get("metadata")
        return metadata if isinstance(metadata, dict) else None
