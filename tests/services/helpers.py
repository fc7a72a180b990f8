"""Builders shared by the workflow tests: residents, organisations and staff with a
linked chat, filing, and reading back events and outbox rows."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.models import (
    Community,
    Organisation,
    OutboxMessage,
    Resident,
    Staff,
    Ticket,
    TicketEvent,
    TicketOffer,
)
from services.parties import Credentials, create_organisation, create_staff, redeem_link_code
from services.tickets import NewTicket, get_or_create_resident
from services.workflow import file_ticket

NOW = datetime(2031, 5, 6, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai

# An address in each demo community (services/reference/communities.yml).
XINGFULI = "幸福路88弄3号"
HEPING = "和平新村5号楼"
FENGLIN = "枫林苑2号楼"
SUNSHINE = "阳光花园7号"
NOWHERE = "火星基地1号"

PHONE = "+8613800138000"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@dataclass
class Org:
    """An organisation with one linked Telegram chat."""

    organisation: Organisation
    credentials: Credentials
    chat: str

    @property
    def id(self) -> int:
        return self.organisation.id

    @property
    def actor(self) -> str:
        return f"org:{self.organisation.id}"


@dataclass
class StaffMember:
    """A staff member with one linked Telegram chat."""

    staff: Staff
    credentials: Credentials
    chat: str

    @property
    def actor(self) -> str:
        return f"staff:{self.staff.id}"


async def community_id(session: AsyncSession, name_zh: str) -> int:
    found = await session.scalar(select(Community.id).where(Community.name_zh == name_zh))
    assert found is not None, name_zh
    return found


async def resident(session: AsyncSession, external_id: str | None = None) -> Resident:
    return await get_or_create_resident(
        session, channel="telegram", external_id=external_id or unique("r"), display_name="张三"
    )


async def make_org(
    session: AsyncSession,
    *,
    categories: Sequence[str] = ("repair",),
    communities: Sequence[str] | None = ("幸福里社区",),
    name: str | None = None,
    now: datetime = NOW,
    link: bool = True,
) -> Org:
    """An organisation (communities by name_zh, None: all) with a linked chat."""
    ids = (
        None
        if communities is None
        else [await community_id(session, community) for community in communities]
    )
    organisation, credentials = await create_organisation(
        session,
        name=name or unique("org"),
        categories=categories,
        communities=ids,
        now=now,
    )
    chat = unique("ochat")
    if link:
        await redeem_link_code(
            session, code=credentials.link_code, channel="telegram", chat_id=chat, now=now
        )
    return Org(organisation, credentials, chat)


async def make_staff(
    session: AsyncSession,
    *,
    role: str = "staff",
    communities: Sequence[str] = ("幸福里社区",),
    password: str | None = None,
    now: datetime = NOW,
    link: bool = True,
) -> StaffMember:
    ids = [await community_id(session, community) for community in communities]
    staff, credentials = await create_staff(
        session, name=unique("staff"), role=role, communities=ids, password=password, now=now
    )
    chat = unique("schat")
    if link:
        await redeem_link_code(
            session, code=credentials.link_code, channel="telegram", chat_id=chat, now=now
        )
    return StaffMember(staff, credentials, chat)


async def file(
    session: AsyncSession,
    who: Resident,
    *,
    category: str = "repair",
    address: str | None = XINGFULI,
    key: str | None = None,
    now: datetime = NOW,
    description: str = "厨房水管漏水",
    phone: str | None = PHONE,
) -> Ticket:
    return (
        await file_ticket(
            session,
            resident=who,
            now=now,
            request=NewTicket(
                category_code=category,
                description=description,
                address=address,
                latitude=None,
                longitude=None,
                preferred_time_text="明天下午",
                preferred_time_at=None,
                phone=phone,
                photo_path=None,
                language="zh",
                idempotency_key=key,
            ),
        )
    ).ticket


async def events(session: AsyncSession, ticket: Ticket) -> list[TicketEvent]:
    rows = await session.scalars(
        select(TicketEvent).where(TicketEvent.ticket_id == ticket.id).order_by(TicketEvent.id)
    )
    return list(rows)


def transitions(rows: Sequence[TicketEvent]) -> list[tuple[str, str | None, str]]:
    """(actor, from, to) of the status changes among a ticket's events."""
    return [(e.actor, e.from_status, e.to_status) for e in rows if e.action == "transition"]


async def outbox(
    session: AsyncSession,
    *,
    chat: str | None = None,
    key: str | None = None,
    ticket: Ticket | None = None,
) -> list[OutboxMessage]:
    query = select(OutboxMessage).order_by(OutboxMessage.id)
    if chat is not None:
        query = query.where(OutboxMessage.chat_id == chat)
    if key is not None:
        query = query.where(OutboxMessage.message_key == key)
    if ticket is not None:
        query = query.where(OutboxMessage.ticket_id == ticket.id)
    return list(await session.scalars(query))


async def keys(session: AsyncSession, chat: str, ticket: Ticket | None = None) -> list[str]:
    """Message keys sent to one chat, oldest first."""
    return [m.message_key for m in await outbox(session, chat=chat, ticket=ticket)]


async def offers(session: AsyncSession, ticket: Ticket) -> list[int]:
    """Organisation ids offered the ticket, in rank order."""
    rows = await session.scalars(
        select(TicketOffer.organisation_id)
        .where(TicketOffer.ticket_id == ticket.id)
        .order_by(TicketOffer.rank)
    )
    return list(rows)


def button_data(message: OutboxMessage) -> list[list[str]]:
    return [[button["data"] for button in row] for row in message.buttons]


def params(message: OutboxMessage) -> dict[str, Any]:
    return dict(message.params)
