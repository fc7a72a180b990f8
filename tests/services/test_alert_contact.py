"""The phone and place a resident gives after an emergency asked for them
(services.alerts.add_alert_contact), on SQLite and PostgreSQL: they complete the
resident's own open emergency ticket, never another's or an ended one, keep what the
ticket already holds, place it in its community and tell that community's staff."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from services.alerts import CONTACT_ADDED, AlertKind, Contact, add_alert_contact, record_alert
from services.lifecycle import TicketStatus
from services.models import Resident, Ticket
from tests.services.helpers import NOW, XINGFULI, community_id, events, make_staff, outbox, resident

PHONE = "+8613812345678"


async def emergency(session: AsyncSession, owner: Resident, phone: str | None = None) -> Ticket:
    return await record_alert(
        session,
        resident=owner,
        kind=AlertKind.EMERGENCY,
        description="煤气味很大",
        language="zh",
        idempotency_key=None,
        contact=Contact(phone=phone),
        now=NOW,
    )


async def test_the_answer_completes_the_ticket_and_staff_are_told(session: AsyncSession) -> None:
    member = await make_staff(session)
    owner = await resident(session)
    ticket = await emergency(session, owner)
    assert ticket.community_id is None
    added = await add_alert_contact(
        session,
        resident=owner,
        number=ticket.number,
        contact=Contact(phone=PHONE, address=XINGFULI, latitude=31.2, longitude=121.4),
        now=NOW,
    )
    assert added is ticket
    assert (ticket.phone, ticket.address, ticket.latitude) == (PHONE, XINGFULI, 31.2)
    assert ticket.community_id == await community_id(session, "幸福里社区")
    assert CONTACT_ADDED in [e.action for e in await events(session, ticket)]
    [card] = await outbox(session, chat=member.chat, key="s_alert_contact")
    assert card.params["phone"] == PHONE and card.params["address"] == XINGFULI


async def test_what_the_ticket_holds_is_kept(session: AsyncSession) -> None:
    owner = await resident(session)
    ticket = await emergency(session, owner, phone=PHONE)
    added = await add_alert_contact(
        session, resident=owner, number=ticket.number, contact=Contact(phone="+8613900001111")
    )
    assert added is None and ticket.phone == PHONE  # nothing new


async def test_another_residents_or_an_ended_ticket_is_not_touched(
    session: AsyncSession,
) -> None:
    owner, stranger = await resident(session), await resident(session)
    ticket = await emergency(session, owner)
    contact = Contact(phone=PHONE)
    assert (
        await add_alert_contact(session, resident=stranger, number=ticket.number, contact=contact)
        is None
    )
    assert ticket.phone is None
    ticket.status = TicketStatus.CLOSED
    await session.flush()
    assert (
        await add_alert_contact(session, resident=owner, number=ticket.number, contact=contact)
        is None
    )
    assert (
        await add_alert_contact(session, resident=owner, number="RO-000000-0000", contact=contact)
        is None
    )
