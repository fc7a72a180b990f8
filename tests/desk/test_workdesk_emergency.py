"""Staff's Telegram buttons on emergency and hand-off cards (desk/workdesk.py):
s:ack, s:cb, s:arr, s:res and s:hand[:category], each answered with the steps still
open; a stale or repeated press answers with the ticket's state."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adapters.wakeup import Waker
from config.settings import SettingsError, load_settings
from desk.frontdesk import Sender
from desk.workdesk import WorkDesk, WorkResult
from i18n import t
from services import make_engine, make_sessionmaker, prepare_database
from services.alerts import AlertKind, record_alert
from services.models import OutboxMessage, Staff, TicketEvent
from services.parties import Role, create_organisation, create_staff, redeem_link_code
from services.tickets import get_or_create_resident, get_ticket

Sessions = async_sessionmaker[AsyncSession]


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Sessions]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'workdesk.db'}"
    await prepare_database(url)
    engine = make_engine(url)
    yield make_sessionmaker(engine)
    await engine.dispose()


async def linked_staff(db: Sessions, name: str, chat: str, language: str = "zh") -> Staff:
    async with db() as session, session.begin():
        staff, credentials = await create_staff(
            session, name=name, role=Role.ADMIN, language=language
        )
        await redeem_link_code(
            session, code=credentials.link_code, channel="telegram", chat_id=chat
        )
    return staff


async def alert(db: Sessions, kind: AlertKind = AlertKind.EMERGENCY) -> str:
    async with db() as session, session.begin():
        resident = await get_or_create_resident(session, channel="cli", external_id="r1")
        ticket = await record_alert(
            session,
            resident=resident,
            kind=kind,
            description="家里着火了",
            language="zh",
            idempotency_key=None,
        )
        ticket.address = "幸福小区3栋501"
        return ticket.number


def text(result: WorkResult) -> str:
    return "\n".join([result.toast or "", *(reply.text for reply in result.replies)])


def data(result: WorkResult) -> list[str]:
    return [b.payload for reply in result.replies for row in reply.rows for b in row]


async def history(db: Sessions, number: str) -> list[str]:
    async with db() as session:
        ticket = await get_ticket(session, number)
        rows = await session.scalars(
            select(TicketEvent.action).where(TicketEvent.ticket_id == ticket.id)
        )
        return [a for a in rows if a != "transition"]


async def test_staff_buttons_carry_an_emergency_to_its_end(db: Sessions) -> None:
    boss = await linked_staff(db, "周", "7001")
    await linked_staff(db, "李", "7002", language="en")
    number = await alert(db)
    desk = WorkDesk(db, Waker(None))
    who = Sender("telegram", "7001")

    acked = await desk.press(who, f"s:ack:{number}")
    assert t("ack_acknowledged", "zh", number=number) in text(acked)
    # The answer offers the steps still open, no second acknowledge.
    assert data(acked) == [
        f"s:cb:{number}",
        f"s:arr:{number}",
        f"s:res:{number}",
        f"s:hand:{number}",
    ]
    again = await desk.press(who, f"s:ack:{number}")
    assert data(again) == data(acked)
    async with db() as session:
        other = list(
            await session.scalars(
                select(OutboxMessage).where(
                    OutboxMessage.chat_id == "7002",
                    OutboxMessage.message_key == "s_alert_acknowledged",
                )
            )
        )
    assert [m.params["staff"] for m in other] == [boss.name]

    called = await desk.press(who, f"s:cb:{number}")
    assert t("ack_called_back", "zh", number=number) in text(called)
    arrived = await desk.press(who, f"s:arr:{number}")
    assert t("ack_help_arrived", "zh", number=number) in text(arrived)
    resolved = await desk.press(who, f"s:res:{number}")
    assert t("ack_resolved", "zh", number=number) in text(resolved)
    assert await history(db, number) == ["acknowledged", "called_back", "help_arrived"]

    # A press on the old card after the end: the state in words, nothing logged.
    late = await desk.press(who, f"s:cb:{number}")
    assert "已办结" in text(late)
    assert await history(db, number) == ["acknowledged", "called_back", "help_arrived"]


async def test_hand_button_asks_for_a_category_then_offers_it(db: Sessions) -> None:
    await linked_staff(db, "周", "7101", language="en")
    async with db() as session, session.begin():
        organisation, credentials = await create_organisation(
            session, name="家政队", categories=["housekeeping"], communities=None
        )
        await redeem_link_code(
            session, code=credentials.link_code, channel="telegram", chat_id="7199"
        )
    number = await alert(db, AlertKind.HANDOFF)
    desk = WorkDesk(db, Waker(None))
    who = Sender("telegram", "7101")

    menu = await desk.press(who, f"s:hand:{number}")
    assert t("ask_hand_category", "en", number=number) in text(menu)
    assert f"s:hand:{number}:housekeeping" in data(menu)
    assert all(len(d.encode()) <= 64 for d in data(menu))  # Telegram's callback limit
    stale = await desk.press(who, f"s:hand:{number}:no_such_service")
    assert t("button_expired", "en") in text(stale)
    handed = await desk.press(who, f"s:hand:{number}:housekeeping")
    assert "Housekeeping" in text(handed) and "(1 offered)" in text(handed)
    async with db() as session:
        ticket = await get_ticket(session, number)
        assert (ticket.kind, ticket.category_code, ticket.status) == (
            "service",
            "housekeeping",
            "published",
        )
        card = await session.scalar(
            select(OutboxMessage).where(
                OutboxMessage.chat_id == "7199", OutboxMessage.message_key == "o_offer"
            )
        )
        assert card is not None
    assert organisation.name == "家政队"
    # The menu again, on a ticket handed on: its state, no buttons.
    after = await desk.press(who, f"s:hand:{number}")
    assert data(after) == [] and number in text(after)
    # Help arrived never applies to a hand-off.
    other = await alert(db, AlertKind.HANDOFF)
    refused = await desk.press(who, f"s:arr:{other}")
    assert "passed to staff" in text(refused)


async def test_an_unlinked_chat_cannot_press_staff_buttons(db: Sessions) -> None:
    number = await alert(db)
    desk = WorkDesk(db, Waker(None))
    answer = await desk.press(Sender("telegram", "7301"), f"s:ack:{number}")
    assert t("not_linked", "zh") in text(answer)
    async with db() as session:
        assert (await get_ticket(session, number)).acknowledged_at is None


def test_the_re_alert_intervals_are_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    defaults = load_settings()
    assert (defaults.emergency_realert_minutes, defaults.handoff_realert_minutes) == (5, 30)
    monkeypatch.setenv("EMERGENCY_REALERT_MINUTES", "3")
    monkeypatch.setenv("HANDOFF_REALERT_MINUTES", "45")
    chosen = load_settings()
    assert (chosen.emergency_realert_minutes, chosen.handoff_realert_minutes) == (3, 45)
    monkeypatch.setenv("EMERGENCY_REALERT_MINUTES", "0")
    with pytest.raises(SettingsError, match="EMERGENCY_REALERT_MINUTES"):
        load_settings()


async def test_an_alert_is_never_assigned_from_an_old_menu(db: Sessions) -> None:
    await linked_staff(db, "周", "7401")
    async with db() as session, session.begin():
        organisation, _ = await create_organisation(
            session, name="维修队", categories=["repair"], communities=None
        )
    number = await alert(db)
    desk = WorkDesk(db, Waker(None))
    who = Sender("telegram", "7401")
    menu = await desk.press(who, f"s:asg:{number}")
    assert data(menu) == [] and "已通知值班人员" in text(menu) and "待审核" not in text(menu)
    forced = await desk.press(who, f"s:asg:{number}:{organisation.id}")
    assert "已通知值班人员" in text(forced)
    approved = await desk.press(who, f"s:ok:{number}")
    assert "派发" not in text(approved) and "已通知值班人员" in text(approved)
    async with db() as session:
        ticket = await get_ticket(session, number)
        assert (ticket.status, ticket.organisation_id) == ("submitted", None)
