"""A released ticket's card in the old holder's Telegram chat: the notifier edits the
card it sent (full words, phone, address, buttons) into the masked one (issue 11,
item 2), against the fake Bot API and a real database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from telegram import Bot

from adapters.wakeup import Waker
from bot.notifier import Notifier
from services import make_engine, make_sessionmaker, prepare_database, workflow
from services.parties import create_organisation, redeem_link_code
from services.tickets import NewTicket, get_or_create_resident
from tests.fakes.telegram import FakeTelegram

ORG_CHAT = 82001
WORDS = "我住3栋2单元501室，电话13812345678"
PHONE = "+8613900001111"


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    server = FakeTelegram()
    await server.start()
    server.user(ORG_CHAT, first_name="维修队", language_code="zh")
    yield server
    await server.stop()


@pytest.fixture
async def bot(fake: FakeTelegram) -> AsyncIterator[Bot]:
    client = Bot(fake.token, base_url=f"{fake.base_url}/bot")
    await client.initialize()
    yield client
    await client.shutdown()


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cards.db'}"
    await prepare_database(url)
    engine = make_engine(url)
    yield make_sessionmaker(engine)
    await engine.dispose()


async def test_a_release_edits_the_old_holders_card_into_the_masked_one(
    fake: FakeTelegram, bot: Bot, db: async_sessionmaker[AsyncSession]
) -> None:
    notifier = Notifier(bot, db, Waker(None))
    async with db() as session, session.begin():
        organisation, credentials = await create_organisation(
            session, name="安心维修队", categories=["repair"], communities=None
        )
        await redeem_link_code(
            session, code=credentials.link_code, channel="telegram", chat_id=str(ORG_CHAT)
        )
        resident = await get_or_create_resident(session, channel="cli", external_id="r1")
        ticket = (
            await workflow.file_ticket(
                session,
                resident=resident,
                request=NewTicket(
                    category_code="repair",
                    description=WORDS,
                    address="幸福小区3栋2单元501",
                    latitude=None,
                    longitude=None,
                    preferred_time_text="明天下午三点",
                    preferred_time_at=None,
                    phone=PHONE,
                    photo_path=None,
                    language="zh",
                    idempotency_key=None,
                ),
            )
        ).ticket
        number = ticket.number
    await notifier.drain()
    user = fake.user(ORG_CHAT)
    [offer] = user.inbox()
    assert "3栋2单元***室" in (offer.text or "") and "138****5678" in (offer.text or "")
    assert "13812345678" not in (offer.text or "")

    async with db() as session, session.begin():
        await workflow.claim(session, number=number, organisation=organisation)
    await notifier.drain()
    card = user.inbox()[-1]
    assert WORDS in (card.text or "") and PHONE in (card.text or "")
    assert card.buttons()

    async with db() as session, session.begin():
        await workflow.release(
            session, number=number, organisation=organisation, reason="reason_busy"
        )
    await notifier.drain()
    await user.wait_for_edit(card)
    text = card.text or ""
    assert number in text and "3栋2单元***室" in text and "138****5678" in text
    for secret in ("13812345678", "501室", PHONE, "幸福小区3栋2单元501"):
        assert secret not in text, secret
    assert card.buttons() == []
