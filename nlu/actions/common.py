"""Shared pieces of the custom actions: the database session and the resident."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adapters.wakeup import Waker
from config.settings import get_settings
from services import Resident, get_or_create_resident, make_engine, make_sessionmaker
from services.reference import category_codes

CATEGORIES = category_codes()  # the service intents are the category codes
# Slots that describe the request being filled in; cleared after submit or cancel.
REQUEST_SLOTS = (
    "category",
    "request_id",
    "description",
    "address",
    "latitude",
    "longitude",
    "preferred_time",
    "preferred_time_iso",
    "phone",
    "photo",
    "field_to_change",
    "duplicate_checked",
    "beneficiary",
)

_sessionmaker: async_sessionmaker[AsyncSession] | None = None
_waker: Waker | None = None


def _get_sessionmaker() -> async_sessionmaker[AsyncSession]:
    global _sessionmaker
    if _sessionmaker is None:
        _sessionmaker = make_sessionmaker(make_engine(get_settings().db_url))
    return _sessionmaker


async def wake_notifier() -> None:
    """After a commit that wrote notifications: make the notifier send them now
    (through Redis when configured; otherwise it finds them at its next poll)."""
    global _waker
    if _waker is None:
        _waker = Waker(get_settings().redis_url)
    await _waker.wake()


@asynccontextmanager
async def transaction() -> AsyncIterator[AsyncSession]:
    """A session inside one transaction, committed when the block ends."""
    async with _get_sessionmaker()() as session, session.begin():
        yield session


def split_sender(sender_id: str) -> tuple[str, str]:
    """('telegram', '12345') from the conversation id 'telegram:12345'."""
    channel, _, external_id = sender_id.partition(":")
    return (channel, external_id) if external_id else ("unknown", sender_id)


async def current_resident(session: AsyncSession, tracker: Tracker) -> Resident:
    """The resident this conversation belongs to."""
    channel, external_id = split_sender(tracker.sender_id)
    metadata = latest_metadata(tracker)
    return await get_or_create_resident(
        session,
        channel=channel,
        external_id=external_id,
        display_name=metadata.get("display_name"),
    )


def latest_metadata(tracker: Tracker) -> dict[str, Any]:
    """The metadata the front sent with the latest user message."""
    metadata = tracker.latest_message.get("metadata") or {}
    return metadata if isinstance(metadata, dict) else {}


def language(tracker: Tracker) -> str:
    """The conversation's reply language (zh/en)."""
    value = tracker.get_slot("language")
    return value if value in ("zh", "en") else "zh"


def latest_user_text(tracker: Tracker) -> str | None:
    """The resident's latest typed message, skipping /intent payloads of buttons."""
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            text = event.get("text") or ""
            if text and not text.startswith("/"):
                return str(text)
    return None


def clear_request() -> list[dict[str, Any]]:
    """Events that forget the request being filled in."""
    return [SlotSet(name, None) for name in REQUEST_SLOTS] + [
        SlotSet("awaiting_confirmation", False)
    ]


def coordinate(value: Any, limit: float) -> float | None:
    """A latitude (limit 90) or longitude (limit 180) from a slot or entity; None when
    it is not a number in range."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if -limit <= number <= limit else None
