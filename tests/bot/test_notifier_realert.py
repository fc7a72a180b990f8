"""The notifier's timer re-alerts staff about an emergency nobody has acknowledged,
once per EMERGENCY_REALERT_MINUTES, with a clock the test moves (issue 12)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from telegram import Bot

from adapters.wakeup import Waker
from bot.notifier import Notifier
from services import emergency
from services.alerts import AlertKind, record_alert
from services.parties import Role, create_staff, redeem_link_code
from services.tickets import get_or_create_resident
from tests.bot.test_notifier import CHAT, Clock, bot, db, fake, sent_texts
from tests.fakes.telegram import FakeTelegram

__all__ = ["bot", "db", "fake"]  # fixtures


async def test_the_sweep_timer_re_alerts_once_per_interval(
    fake: FakeTelegram, bot: Bot, db: async_sessionmaker[AsyncSession]
) -> None:
    clock = Clock()
    async with db() as session, session.begin():
        staff, credentials = await create_staff(session, name="值班员", role=Role.ADMIN)
        await redeem_link_code(
            session, code=credentials.link_code, channel="telegram", chat_id=str(CHAT)
        )
        resident = await get_or_create_resident(session, channel="cli", external_id="r")
        ticket = await record_alert(
            session,
            resident=resident,
            kind=AlertKind.EMERGENCY,
            description="楼道里有烟",
            language="zh",
            idempotency_key=None,
            now=clock(),
        )
        number = ticket.number
    notifier = Notifier(
        bot,
        db,
        Waker(None),
        clock=clock,
        sweep_seconds=60,
        realert_minutes={"emergency": 2, "handoff": 30},
    )

    async def tick(seconds: float) -> int:
        """Move the clock, run the timer, send; how many re-alerts staff have had."""
        clock.advance(seconds)
        await notifier.sweep_if_due()
        await notifier.drain()
        return sum("仍无人确认" in text and number in text for text in sent_texts(fake))

    assert await tick(0) == 0  # the alert itself
    assert any("紧急情况" in text for text in sent_texts(fake))
    assert await tick(60) == 0  # swept every 60 s: 1 minute after filing
    assert await tick(59) == 0  # not swept again yet
    assert await tick(1) == 1  # 2 minutes after filing
    assert await tick(60) == 1
    assert await tick(60) == 2  # 2 minutes after the last re-alert
    async with db() as session, session.begin():
        await emergency.acknowledge(session, number=number, staff=staff, now=clock())
    assert await tick(600) == 2  # acknowledged: no more
