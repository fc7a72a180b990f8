"""A resident's phone and address never reach a log record: a whole in-process run
(the front desk with the phone and address in the message, filing, the claim that
sends the organisation the contact card, a failed insert carrying them, an engine
that is down) at the level the processes log at (INFO), with every record and its
traceback checked."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from telegram import Bot

from adapters.engine_client import EngineClient
from adapters.ratelimit import RateLimiter
from adapters.wakeup import Waker
from bot.notifier import Notifier
from desk.frontdesk import FrontDesk, Sender
from services import make_engine, make_sessionmaker, prepare_database, workflow
from services.models import Ticket
from services.tickets import NewTicket, get_or_create_resident
from tests.e2e.conftest import make_settings
from tests.fakes.telegram import FakeTelegram
from tests.faults.servers import FakeEngine
from tests.servers import free_port
from tests.services.helpers import make_org

PHONE = "+8613987654321"
PHONE_LOCAL = "13987654321"
ADDRESS = "幸福小区9栋1203室"
SECRETS = (PHONE, PHONE_LOCAL, ADDRESS, "9栋1203")


@pytest.fixture
async def sessions(tmp_path: Path) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'pii.db'}"
    await prepare_database(url)
    engine = make_engine(url)
    yield make_sessionmaker(engine)
    await engine.dispose()


def _logged(caplog: pytest.LogCaptureFixture) -> str:
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    return "\n".join(formatter.format(record) for record in caplog.records)


async def test_phone_and_address_never_logged(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    fake_engine = FakeEngine()
    await fake_engine.start()
    telegram = FakeTelegram()
    await telegram.start()
    settings = make_settings(tmp_path)
    text = f"我家厨房漏水，地址{ADDRESS}，电话{PHONE_LOCAL}"
    up = EngineClient(f"http://127.0.0.1:{fake_engine.port}")
    down = EngineClient(f"http://127.0.0.1:{free_port()}")
    bot = Bot(telegram.token, base_url=f"{telegram.base_url}/bot")
    await bot.initialize()
    try:
        sender = Sender("telegram", "61001")
        await FrontDesk(up, sessions, settings, limiter=RateLimiter(0)).text(sender, text)
        await FrontDesk(down, sessions, settings, limiter=RateLimiter(0)).text(sender, text)
        async with sessions() as session, session.begin():
            who = await get_or_create_resident(session, channel="telegram", external_id="61001")
            org = await make_org(session, communities=None)
            ticket = (
                await workflow.file_ticket(
                    session,
                    resident=who,
                    request=NewTicket(
                        category_code="repair",
                        description=text,
                        address=ADDRESS,
                        latitude=31.2,
                        longitude=121.4,
                        preferred_time_text="明天",
                        preferred_time_at=None,
                        phone=PHONE,
                        photo_path=None,
                        language="zh",
                        idempotency_key=None,
                    ),
                )
            ).ticket
            await workflow.claim(session, number=ticket.number, organisation=org.organisation)
            number, resident_id = ticket.number, who.id
        notifier = Notifier(bot, sessions, Waker(None))
        await notifier.drain()  # the contact card goes out (to a chat id that is not a number)
        try:
            async with sessions() as session, session.begin():
                await session.execute(
                    insert(Ticket).values(
                        number=number,  # a duplicate: the insert fails with the values in hand
                        resident_id=resident_id,
                        status="submitted",
                        description=text,
                        address=ADDRESS,
                        phone=PHONE,
                        language="zh",
                        channel="telegram",
                    )
                )
        except IntegrityError:
            logging.getLogger("nlu.actions.tickets").exception("ticket.submit_failed")
        else:
            pytest.fail("the duplicate insert should fail")
    finally:
        await bot.shutdown()
        await up.close()
        await down.close()
        await telegram.stop()
        await fake_engine.stop()
    logged = _logged(caplog)
    assert "engine.unavailable" in logged and "ticket.submit_failed" in logged
    assert "IntegrityError" in logged  # the failure itself is logged, its values are not
    for secret in SECRETS:
        assert secret not in logged, f"{secret!r} was logged"
