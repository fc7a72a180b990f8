"""Rasa input channel used by every front (Telegram bot, terminal chat, web chat).

This module is imported by the Rasa server, so it runs in the engine's
environment (.venv-rasa): it may import rasa, never the application's packages.
It is the REST channel plus the request's `metadata` object (language, channel,
display name), which the stock REST channel drops.

The stock REST channel also answers 200 with no messages when handling a message
fails (e.g. its tracker or lock store, Redis, is down), and logs the resident's
text with the error. Here a failure is logged without the text and answered with
one marker message (`{"custom": {"orders_engine_error": true}}`), which the
application's engine client turns into "please send that again in a moment".
"""

import logging
from asyncio import CancelledError
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import UserMessage
from rasa.core.channels.rest import RestInput
from sanic import Blueprint
from sanic.request import Request

logger = logging.getLogger(__name__)

# Keep in sync with orders/engine_client.py (ENGINE_ERROR).
ENGINE_ERROR = "orders_engine_error"


class OrdersInput(RestInput):
    """REST channel that keeps the `metadata` the front sends with each message."""

    @classmethod
    def name(cls) -> str:
        return "orders"

    def get_metadata(self, request: Request) -> dict[str, Any] | None:
        metadata = (request.json or {}).get("metadata")
        return metadata if isinstance(metadata, dict) else None

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        async def guarded(message: UserMessage) -> None:
            try:
                await on_new_message(message)
            except CancelledError:
                raise
            except Exception as exc:  # the message is not logged: it may hold a phone number
                logger.error(
                    "orders.message_failed sender=%s error=%s: %s",
                    message.sender_id,
                    type(exc).__name__,
                    str(exc)[:300],
                )
                await message.output_channel.send_custom_json(
                    message.sender_id, {ENGINE_ERROR: True}
                )

        return super().blueprint(guarded)
