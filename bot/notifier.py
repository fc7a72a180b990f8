"""The notifier: drains the outbox to Telegram and runs the lifecycle's clock.

Messages are leased in a short transaction, sent outside it, then marked: sent;
retried later (429 after Telegram's `retry_after`, 5xx and network errors with
exponential backoff); or given up (403 "bot was blocked" is recorded as blocked,
other 4xx as failed). A notifier that dies mid-send leaves its leased messages to
be sent when the lease ends, by itself after a restart or by another replica.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from telegram import Bot
from telegram.error import BadRequest, Forbidden, InvalidToken, RetryAfter, TelegramError

from adapters.wakeup import Waker
from bot.render import messages
from desk.notices import render
from services import workflow
from services.models import OutboxMessage, utcnow
from services.notify import EDIT_PARAM
from services.outbox import (
    backoff,
    lease_due,
    mark_retry,
    mark_sent,
    mark_undeliverable,
)
from services.retention import DEFAULT_RETENTION_DAYS, purge_pii

logger = logging.getLogger(__name__)

CHANNEL = "telegram"
# How long a sent message's "sent" mark is retried (within the outbox lease of 60 s).
MARK_SENT_PATIENCE_S = 45.0


class Notifier:
    """Sends what the outbox holds for Telegram; sweeps SLAs on a timer."""

    def __init__(
        self,
        bot: Bot,
        sessionmaker: async_sessionmaker[AsyncSession],
        waker: Waker,
        *,
        poll_seconds: float = 2.0,
        sweep_seconds: float = 60.0,
        clock: Callable[[], datetime] = utcnow,
        pii_retention_days: int = DEFAULT_RETENTION_DAYS,
        photos_dir: Path | None = None,
        purge_seconds: float = 3600.0,
        realert_minutes: dict[str, int] | None = None,
    ) -> None:
        self._bot = bot
        self._sessionmaker = sessionmaker
        self._waker = waker
        self._poll = poll_seconds
        self._sweep_every = sweep_seconds
        self._clock = clock
        self._last_sweep: datetime | None = None
        self._retention_days = pii_retention_days
        self._photos_dir = photos_dir
        self._purge_every = timedelta(seconds=max(purge_seconds, sweep_seconds))
        self._last_purge: datetime | None = None
        # Per alert kind (emergency, handoff): re-alert staff after this many minutes.
        self._realert_minutes = realert_minutes

    async def run(self) -> None:
        """Forever: send what is due, sweep when it is time, wait for a wake-up or the poll."""
        while True:
            try:
                await self.sweep_if_due()
                await self.drain()
            except asyncio.CancelledError:
                raise
            except Exception:  # the database may be restarting; try again at the next poll
                logger.exception("notifier.cycle_failed")
            await self._waker.wait(self._poll)

    async def sweep_if_due(self) -> None:
        now = self._clock()
        if self._last_sweep is not None and now - self._last_sweep < timedelta(
            seconds=self._sweep_every
        ):
            return
        self._last_sweep = now
        async with self._sessionmaker() as session, session.begin():
            result = await workflow.sweep(session, now=now, realert_minutes=self._realert_minutes)
        if result.escalated or result.auto_closed or result.realerted:
            logger.info(
                "sweep.done escalated=%d auto_closed=%d realerted=%d",
                len(result.escalated),
                len(result.auto_closed),
                len(result.realerted),
            )
        if self._last_purge is None or now - self._last_purge >= self._purge_every:
            # Residents' phone and address on tickets that ended long ago (DESIGN: 180 days).
            self._last_purge = now
            async with self._sessionmaker() as session, session.begin():
                await purge_pii(
                    session,
                    now=now,
                    retention_days=self._retention_days,
                    photos_dir=self._photos_dir,
                )

    async def drain(self) -> int:
        """Send every due message; returns how many were delivered."""
        delivered = 0
        while True:
            async with self._sessionmaker() as session, session.begin():
                batch = await lease_due(session, channels=[CHANNEL], now=self._clock())
            if not batch:
                return delivered
            for message in batch:
                delivered += await self._deliver(message)

    async def _deliver(self, message: OutboxMessage) -> int:
        reply = render(message.message_key, message.params, message.buttons, message.language)
        sent_id: str | None = None
        edited = message.params.get(EDIT_PARAM)
        try:
            if edited is not None:
                # A card sent before is rewritten in place (its old holder's full card,
                # masked once the ticket is no longer theirs); its buttons go with it.
                text, _ = messages(reply)[0]
                await self._bot.edit_message_text(
                    text, chat_id=int(message.chat_id), message_id=int(edited)
                )
                sent_id = str(edited)
            else:
                for text, markup in messages(reply):
                    sent = await self._bot.send_message(
                        int(message.chat_id), text, reply_markup=markup
                    )
                    sent_id = str(sent.message_id)
        except RetryAfter as exc:
            delay = exc.retry_after
            wait = delay if isinstance(delay, timedelta) else timedelta(seconds=float(delay))
            await self._retry(message, f"429 retry after {wait}", wait)
            return 0
        except Forbidden as exc:
            await self._give_up(message, str(exc), blocked=True)
            return 0
        except (BadRequest, InvalidToken) as exc:
            await self._give_up(message, str(exc), blocked=False)
            return 0
        except TelegramError as exc:  # 5xx, timeouts, network: transient
            await self._retry(message, str(exc), backoff(message.attempts))
            return 0
        except ValueError as exc:  # a chat id that is not a number: never deliverable
            await self._give_up(message, str(exc), blocked=False)
            return 0
        await self._mark_sent(message, sent_id)
        logger.info("outbox.sent id=%s key=%s", message.id, message.message_key)
        return 1

    async def _mark_sent(self, message: OutboxMessage, sent_id: str | None) -> None:
        """Record a delivered message, holding on while the database is away (a restart):
        the lease keeps others from sending it meanwhile, and giving up would send it
        twice once the lease ends."""
        deadline = time.monotonic() + MARK_SENT_PATIENCE_S
        delay = 0.2
        while True:
            try:
                async with self._sessionmaker() as session, session.begin():
                    await mark_sent(session, message.id, sent_message_id=sent_id, now=self._clock())
                return
            except Exception as exc:
                if time.monotonic() + delay > deadline:
                    raise
                logger.warning(
                    "outbox.mark_sent_retry id=%s error=%s", message.id, type(exc).__name__
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def _retry(self, message: OutboxMessage, error: str, delay: timedelta) -> None:
        logger.warning("outbox.retry id=%s in=%s error=%s", message.id, delay, error)
        async with self._sessionmaker() as session, session.begin():
            await mark_retry(session, message, error=error, delay=delay, now=self._clock())

    async def _give_up(self, message: OutboxMessage, error: str, *, blocked: bool) -> None:
        logger.warning("outbox.undeliverable id=%s blocked=%s error=%s", message.id, blocked, error)
        async with self._sessionmaker() as session, session.begin():
            await mark_undeliverable(session, message.id, blocked=blocked, error=error)
