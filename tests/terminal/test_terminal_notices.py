"""The terminal chat shows its resident's notifications and answers their buttons."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adapters.engine_client import EngineClient
from adapters.wakeup import Waker
from config.settings import Settings
from desk.frontdesk import FrontDesk, Sender
from desk.workdesk import WorkDesk
from i18n import t
from services import make_engine, make_sessionmaker, prepare_database, workflow
from services.parties import create_organisation
from services.tickets import NewTicket, get_or_create_resident, get_ticket
from terminal.chat import _handle, notices, render

Sessions = async_sessionmaker[AsyncSession]


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Sessions]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'terminal.db'}"
    await prepare_database(url)
    engine = make_engine(url)
    yield make_sessionmaker(engine)
    await engine.dispose()


async def test_claimed_and_done_notices_then_rating_from_the_terminal(
    db: Sessions, tmp_path: Path
) -> None:
    async with db() as session, session.begin():
        resident = await get_or_create_resident(session, channel="cli", external_id="me")
        organisation, _ = await create_organisation(
            session, name="安心维修队", categories=["repair"], communities=None
        )
        ticket = (
            await workflow.file_ticket(
                session,
                resident=resident,
                request=NewTicket(
                    category_code="repair",
                    description="厨房水管漏水",
                    address="幸福小区3栋501",
                    latitude=None,
                    longitude=None,
                    preferred_time_text="明天",
                    preferred_time_at=None,
                    phone="+8613812345678",
                    photo_path=None,
                    language="zh",
                    idempotency_key=None,
                ),
            )
        ).ticket
        number = ticket.number
        await workflow.claim(session, number=number, organisation=organisation)
    [claimed] = await notices(db, "me")
    assert "安心维修队" in claimed.text and number in claimed.text
    assert await notices(db, "me") == []  # shown once
    assert await notices(db, "someone-else") == []

    async with db() as session, session.begin():
        organisation_row = await session.get(type(organisation), organisation.id)
        assert organisation_row is not None
        await workflow.done(session, number=number, organisation=organisation_row)
    out = io.StringIO()
    buttons = render(await notices(db, "me"), out)
    assert "1★" in out.getvalue() and "没有解决" in out.getvalue()
    assert [b.payload for b in buttons][:5] == [f"r:rate:{number}:{n}" for n in range(1, 6)]

    settings = Settings(data_dir=tmp_path)
    engine = EngineClient("http://127.0.0.1:9")  # never called: buttons need no engine
    desk = FrontDesk(engine, db, settings)
    waker = Waker(None)
    try:
        replies = await _handle(
            desk, WorkDesk(db, waker), Sender("cli", "me"), settings, "5", buttons
        )
        # The next line typed is the rating's comment (the terminal cannot reply to a
        # message); the engine, which is not running, is never asked.
        commented = await _handle(
            desk, WorkDesk(db, waker), Sender("cli", "me"), settings, "师傅很耐心", []
        )
    finally:
        await engine.close()
        await waker.close()
    assert "谢谢您的评价（5★）" in replies[0].text
    assert [reply.text for reply in commented] == [t("ack_comment", "zh")]
    async with db() as session:
        rated = await get_ticket(session, number)
    assert (rated.status, rated.rating, rated.rating_comment) == ("closed", 5, "师傅很耐心")
