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

The replies are collected under the name of the front the message came from (the
`channel` of its metadata, else the prefix of its sender id: "cli", "telegram", "web"),
so that a response variation with `channel: cli` in domain.yml is what the terminal chat
says (it has no location or contact buttons, and shows buttons as numbers); a front
without variations of its own gets the others.
"""

import logging
from asyncio import CancelledError
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.core.channels.rest import RestInput
from sanic import Blueprint
from sanic.request import Request

logger = logging.getLogger(__name__)

# Keep in sync with adapters/engine_client.py (ENGINE_ERROR).
ENGINE_ERROR = "orders_engine_error"


class FrontOutput(CollectingOutputChannel):
    """The REST channel's collector under the name of the resident's front: the
    messages go to the same list, which the REST handler answers with."""

    def __init__(self, front: str, messages: list[dict[str, Any]]) -> None:
        super().__init__()
        self.messages = messages
        self.front = front

    def name(self) -> str:  # type: ignore[override]  # per message, not per class
        return self.front


def front_of(message: UserMessage) -> str | None:
    """The front a message came from: its metadata's `channel`, else its sender's prefix."""
    channel = (message.metadata or {}).get("channel")
    if isinstance(channel, str) and channel:
        return channel
    prefix, separator, _ = (message.sender_id or "").partition(":")
    return prefix if separator and prefix else None


def named_after_front(message: UserMessage) -> UserMessage:
    """The message, its replies collected under the name of its front (when it has one)."""
    front = front_of(message)
    if front is not None and type(message.output_channel) is CollectingOutputChannel:
        message.output_channel = FrontOutput(front, message.output_channel.messages)
    return message


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
                await on_new_message(named_after_front(message))
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


def _validate_action_responses_with_one_validator() -> None:
    """Rasa 3.6 checks every action server response with `jsonschema.validate`, which
    checks the (large, constant) schema itself against its meta-schema on every call:
    under load that was two thirds of the engine's CPU per message (docs/performance.md).
    Here the validator is built once; the checks and the error raised are the same."""
    from jsonschema import ValidationError, validators
    from jsonschema.exceptions import best_match
    from rasa.core.actions.action import RemoteAction
    from rasa.shared.constants import DOCS_BASE_URL

    schema = RemoteAction.action_response_format_spec()
    validator_class = validators.validator_for(schema)
    validator_class.check_schema(schema)
    validator = validator_class(schema)

    def validate_action_result(self: RemoteAction, result: dict[str, Any]) -> bool:
        error: ValidationError | None = best_match(validator.iter_errors(result))
        if error is not None:
            error.message += (
                ". Failed to validate Action server response from API, make sure your "
                "response from the Action endpoint is valid. For more information about "
                f"the format visit {DOCS_BASE_URL}/custom-actions"
            )
            raise error
        return True

    RemoteAction._validate_action_result = validate_action_result  # type: ignore[method-assign]


_validate_action_responses_with_one_validator()
