"""What every resident-facing front does with a message, whatever the channel.

The Telegram bot and the terminal chat (and later the web chat) turn their input
into calls here and render the `Reply` objects they get back. Free text goes to
the engine; buttons that need no understanding (cancel a ticket, pick a
language) and /status go straight to the services.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adapters.engine_client import EngineClient, EngineUnavailable, payload, send_when_ready
from adapters.ratelimit import Decision, RateLimiter
from adapters.wakeup import Waker
from config.settings import Settings
from desk.render import ticket_lines
from i18n import LANGUAGES, status_name, t
from services import (
    IllegalTransition,
    NotYourTicket,
    Resident,
    TicketNotFound,
    get_or_create_resident,
    list_resident_tickets,
    set_resident_language,
    workflow,
)
from services.categories import list_categories
from services.numbers import is_number
from services.parsing import resolve_language, script_language
from services.payloads import Action, choose_language, chosen_language, decode

logger = logging.getLogger(__name__)

MAX_MESSAGE_CHARS = 10_000
# After the stars, the resident's next text (within this time) is the rating's comment,
# on every channel (no channel needs a way to reply to a message).
COMMENT_WINDOW = timedelta(minutes=30)
MAX_COMMENT_CHARS = 2000
NOT_A_COMMENT = frozenset({"emergency", "human_handoff"})
# Control characters a message may not carry into the store (PostgreSQL refuses NUL in
# text); tab, newline and carriage return stay.
_CONTROLS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff]")


def without_controls(text: str) -> str:
    """`text` without control characters (but tab, newline, CR) and lone surrogates."""
    return _CONTROLS.sub("", text)


# Commands every front offers, and the engine payload each one stands for.
COMMAND_PAYLOADS = {
    "start": "/greet",
    "help": "/help",
    "new": "/new_request",
    "cancel": "/cancel_request",
}


@dataclass(frozen=True)
class Button:
    """An inline button: what it says and what pressing it sends back."""

    title: str
    payload: str


@dataclass
class Reply:
    """One message to show the resident."""

    text: str
    buttons: list[Button] = field(default_factory=list)
    # A reply keyboard (Telegram's contact/location buttons): rows of button dicts.
    keyboard: list[list[dict[str, Any]]] | None = None
    # Inline buttons laid out in these rows (instead of `buttons`' automatic layout).
    rows: list[list[Button]] = field(default_factory=list)


@dataclass(frozen=True)
class Sender:
    """Who wrote: the channel, their id in it, and what the client tells about them."""

    channel: str
    external_id: str
    display_name: str | None = None
    client_language: str | None = None
    # The chat the message came from, when it is not the person's own (a group).
    chat_id: str | None = None

    @property
    def conversation_id(self) -> str:
        return f"{self.channel}:{self.external_id}"

    @property
    def chat(self) -> str:
        """The chat to link or answer: the group's id, else the person's own chat."""
        return self.chat_id or self.external_id


def replies_from_engine(messages: list[dict[str, Any]]) -> list[Reply]:
    """Turn the engine's REST replies into channel-neutral replies."""
    replies: list[Reply] = []
    for message in messages:
        buttons = [
            Button(str(b.get("title", "")), str(b.get("payload", "")))
            for b in message.get("buttons") or []
            if isinstance(b, dict)
        ]
        custom = message.get("custom")
        if isinstance(custom, dict) and custom.get("text"):
            keyboard = custom.get("reply_keyboard")
            replies.append(
                Reply(
                    str(custom["text"]), keyboard=keyboard if isinstance(keyboard, list) else None
                )
            )
        if message.get("text"):
            replies.append(Reply(str(message["text"]), buttons=buttons))
    return replies


def _aware(moment: datetime) -> datetime:
    """`moment` with a time zone (a naive one read from the store is UTC)."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


# How a front shows a resident, while their message waits for the engine, that it is on
# its way (Telegram sends a message at once; the web chat has nothing to push it with).
HoldNotice = Callable[["Sender", Reply], Awaitable[None]]


class FrontDesk:
    """Handles a resident's input for any channel and returns the replies to show."""

    def __init__(
        self,
        engine: EngineClient,
        sessionmaker: async_sessionmaker[AsyncSession],
        settings: Settings,
        waker: Waker | None = None,
        limiter: RateLimiter | None = None,
        hold_notice: HoldNotice | None = None,
    ) -> None:
        self._engine = engine
        self._hold_notice = hold_notice
        self._sessionmaker = sessionmaker
        self._settings = settings
        self._waker = waker
        # Shared across bot workers through the Waker's Redis when REDIS_URL is set.
        self._limiter = limiter or RateLimiter.shared(
            settings.rate_limit_per_minute, waker.redis if waker is not None else None
        )

    async def _resident(self, sender: Sender, text: str | None) -> tuple[Resident, str]:
        """The resident and the language to answer them in (remembered when it changes)."""
        async with self._sessionmaker() as session, session.begin():
            resident = await get_or_create_resident(
                session,
                channel=sender.channel,
                external_id=sender.external_id,
                display_name=sender.display_name,
            )
            language = resolve_language(
                choice=resident.language_choice,
                text=text,
                previous=resident.language,
                client_code=sender.client_language,
            )
            # Remembered once the resident chose it or wrote in it: their first
            # language, which a guess from the client's setting is not.
            if resident.language != language and (
                resident.language is not None or script_language(text) is not None
            ):
                await set_resident_language(session, resident, language=language)
        return resident, language

    async def language_of(self, sender: Sender) -> str:
        """The language this resident is answered in."""
        return (await self._resident(sender, None))[1]

    async def text(self, sender: Sender, text: str) -> list[Reply]:
        """A message the resident typed."""
        text = without_controls(text).strip()
        _, language = await self._resident(sender, text)
        if not text:
            return [Reply(t("empty_message", language))]
        if len(text) > MAX_MESSAGE_CHARS:
            text = text[:MAX_MESSAGE_CHARS]
        if text.startswith("/"):
            # Residents cannot forge button payloads: a typed slash is just text.
            text = text.lstrip("/").strip() or text
        thanked = await self._rating_comment(sender, text)
        if thanked is not None:
            return thanked
        return await self._to_engine(sender, text, language)

    async def _rating_comment(
        self, sender: Sender, text: str, now: datetime | None = None
    ) -> list[Reply] | None:
        """The text as the comment of the rating the resident has just given (the ticket
        they rated within COMMENT_WINDOW and have not commented on yet), thanked for;
        None when no rating waits for its comment."""
        now = now or datetime.now(UTC)
        async with self._sessionmaker() as session, session.begin():
            resident, language = await self._resident_in(session, sender)
            tickets = await list_resident_tickets(session, resident)
            waiting = [
                ticket
                for ticket in tickets
                if ticket.rating is not None
                and ticket.rating_comment is None
                and ticket.closed_at is not None
                and _aware(ticket.closed_at) >= now - COMMENT_WINDOW
            ]
            if not waiting:
                return None
            if await self._is_alarm(text):
                # "煤气味很大" right after the stars is an emergency, never a comment.
                return None
            ticket = max(waiting, key=lambda ticket: _aware(ticket.closed_at or now))
            await workflow.comment_rating(
                session,
                number=ticket.number,
                resident=resident,
                comment=text[:MAX_COMMENT_CHARS],
                now=now,
            )
        logger.info("rating.commented ticket=%s channel=%s", ticket.number, sender.channel)
        return [Reply(t("ack_comment", language))]

    async def _is_alarm(self, text: str) -> bool:
        """The engine reads the text as an emergency or a call for a person (when the
        engine cannot say, it is taken as the comment it was asked for)."""
        try:
            parsed = await self._engine.parse(text)
        except EngineUnavailable:
            return False
        intent = (parsed.get("intent") or {}).get("name")
        return intent in NOT_A_COMMENT

    async def command(self, sender: Sender, name: str) -> list[Reply]:
        """A slash command such as /start, /help, /new, /cancel, /status, /lang."""
        if name == "status":
            return await self.status(sender)
        if name == "lang":
            return await self.language_menu(sender)
        _, language = await self._resident(sender, None)
        return await self._to_engine(sender, COMMAND_PAYLOADS.get(name, "/help"), language)

    async def press(self, sender: Sender, data: str) -> list[Reply]:
        """A button the resident pressed (its payload)."""
        chosen = chosen_language(data)
        if chosen is not None:
            return await self.set_language(sender, chosen)
        found = decode(data)
        if found is not None and found.action is Action.CANCEL:
            return await self.cancel_ticket(sender, found.number)
        _, language = await self._resident(sender, None)
        if found is not None and found.action is Action.KEEP:
            # "No, keep it" under a cancel asked in words: nothing changes.
            if not is_number(found.number) or found.extra:
                return [Reply(t("button_expired", language))]
            return [Reply(t("cancel_kept", language, number=found.number))]
        if not data.startswith("/"):
            return [Reply(t("button_expired", language))]
        return await self._to_engine(sender, data, language)

    async def share(self, sender: Sender, intent: str, **entities: Any) -> list[Reply]:
        """A location pin, a contact or a photo, passed to the engine as a payload."""
        _, language = await self._resident(sender, None)
        return await self._to_engine(sender, payload(intent, **entities), language)

    async def notice(self, sender: Sender, key: str, **values: Any) -> list[Reply]:
        """A catalogue message in the resident's language (e.g. unsupported media)."""
        _, language = await self._resident(sender, None)
        return [Reply(t(key, language, **values))]

    async def status(self, sender: Sender) -> list[Reply]:
        """The resident's tickets and their statuses, straight from the services."""
        async with self._sessionmaker() as session, session.begin():
            resident, language = await self._resident_in(session, sender)
            tickets = await list_resident_tickets(session, resident)
            categories = await list_categories(session)
        if not tickets:
            return [Reply(t("no_tickets", language))]
        lines = ticket_lines(tickets, categories, language, self._settings.timezone)
        return [Reply(t("status_header", language) + "\n" + lines)]

    async def language_menu(self, sender: Sender) -> list[Reply]:
        """Buttons to choose the reply language."""
        _, language = await self._resident(sender, None)
        return [
            Reply(
                t("choose_language", language),
                buttons=[
                    Button("中文", choose_language("zh")),
                    Button("English", choose_language("en")),
                ],
            )
        ]

    async def set_language(self, sender: Sender, choice: str) -> list[Reply]:
        """Remember the resident's language choice."""
        if choice not in LANGUAGES:
            choice = "zh"
        async with self._sessionmaker() as session, session.begin():
            resident, _ = await self._resident_in(session, sender)
            await set_resident_language(session, resident, language=choice, choice=choice)
        return [Reply(t("language_set", choice))]

    async def cancel_ticket(self, sender: Sender, number: str) -> list[Reply]:
        """Cancel one of the resident's tickets from its button."""
        async with self._sessionmaker() as session, session.begin():
            resident, language = await self._resident_in(session, sender)
            try:
                ticket = await workflow.cancel(session, number=number, resident=resident)
            except (TicketNotFound, NotYourTicket):
                return [Reply(t("ticket_not_found", language, number=number))]
            except IllegalTransition as exc:
                current = status_name(str(exc.current), language)
                return [Reply(t("ticket_not_cancellable", language, number=number, status=current))]
        logger.info("ticket.cancelled ticket=%s channel=%s", ticket.number, sender.channel)
        if self._waker is not None:
            await self._waker.wake()  # its organisation, if any, is told
        return [Reply(t("ticket_cancelled", language, number=number))]

    async def _resident_in(self, session: AsyncSession, sender: Sender) -> tuple[Resident, str]:
        resident = await get_or_create_resident(
            session, channel=sender.channel, external_id=sender.external_id
        )
        language = resolve_language(
            choice=resident.language_choice,
            text=None,
            previous=resident.language,
            client_code=sender.client_language,
        )
        return resident, language

    async def _to_engine(self, sender: Sender, text: str, language: str) -> list[Reply]:
        decision = await self._limiter.check(sender.conversation_id)
        if decision is not Decision.ALLOW:
            # A flood from one resident never reaches the engine; they are told once.
            logger.info("ratelimit.refused channel=%s told=%s", sender.channel, decision.name)
            if decision is Decision.WARN:
                return [Reply(t("abuse_slow_down", language))]
            return []
        metadata = {
            "language": language,
            "channel": sender.channel,
            "display_name": sender.display_name,
        }
        notice = self._hold_notice

        async def on_long_wait() -> None:
            if notice is not None:
                await notice(sender, Reply(t("engine_hold", language)))

        try:
            # Held (in order, up to ENGINE_WAIT_S) while the engine starts or restarts.
            messages = await send_when_ready(
                self._engine,
                sender.conversation_id,
                text,
                metadata,
                wait_s=self._settings.engine_wait_s,
                on_long_wait=on_long_wait if notice is not None else None,
                long_wait_s=self._settings.engine_hold_notice_s,
            )
        except EngineUnavailable as exc:
            logger.warning("engine.unavailable channel=%s error=%s", sender.channel, exc)
            return [Reply(t("engine_unavailable", language))]
        return replies_from_engine(messages)
