"""SQLAlchemy models of the services layer."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    Dialect,
    Double,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    """Return the current time as an aware UTC datetime."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back as an aware UTC datetime."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            # A naive datetime is ambiguous; refusing it keeps "UTC everywhere" true.
            raise ValueError("naive datetime given; pass an aware datetime")
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        # SQLite drops tzinfo; what we stored there was already UTC.
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base with the project's constraint naming convention."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Resident(Base):
    """A person who orders services through one channel."""

    __tablename__ = "residents"
    __table_args__ = (UniqueConstraint("channel", "external_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))  # "telegram" | "cli" | "web"
    external_id: Mapped[str] = mapped_column(String(64))
    display_name: Mapped[str | None] = mapped_column(String(128))
    language: Mapped[str | None] = mapped_column(String(5))
    language_choice: Mapped[str | None] = mapped_column(String(5))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Category(Base):
    """A kind of service residents can order."""

    __tablename__ = "categories"

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    name_zh: Mapped[str] = mapped_column(String(64))
    name_en: Mapped[str] = mapped_column(String(64))
    needs_review: Mapped[bool] = mapped_column(default=False)
    sla_claim_hours: Mapped[int] = mapped_column(Integer)
    sla_done_hours: Mapped[int] = mapped_column(Integer)
    unit_price: Mapped[Decimal] = mapped_column(Numeric(10, 2))
    sort_order: Mapped[int] = mapped_column(Integer, default=0)


class Community(Base):
    """A residential community, matched by address keywords or a bounding box."""

    __tablename__ = "communities"

    id: Mapped[int] = mapped_column(primary_key=True)
    name_zh: Mapped[str] = mapped_column(String(64), unique=True)
    name_en: Mapped[str] = mapped_column(String(128))
    keywords: Mapped[list[str]] = mapped_column(JSON, default=list)
    bbox_min_lat: Mapped[float | None] = mapped_column(Double)
    bbox_min_lon: Mapped[float | None] = mapped_column(Double)
    bbox_max_lat: Mapped[float | None] = mapped_column(Double)
    bbox_max_lon: Mapped[float | None] = mapped_column(Double)
    timezone: Mapped[str] = mapped_column(String(64), default="Asia/Shanghai")


organisation_categories = Table(
    "organisation_categories",
    Base.metadata,
    Column(
        "organisation_id",
        ForeignKey("organisations.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column(
        "category_code",
        ForeignKey("categories.code", ondelete="CASCADE"),
        primary_key=True,
    ),
)

organisation_communities = Table(
    "organisation_communities",
    Base.metadata,
    Column(
        "organisation_id",
        ForeignKey("organisations.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column(
        "community_id",
        ForeignKey("communities.id", ondelete="CASCADE"),
        primary_key=True,
    ),
)


class Organisation(Base):
    """A social organisation that claims and delivers tickets."""

    __tablename__ = "organisations"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    contact: Mapped[str | None] = mapped_column(String(128))
    active: Mapped[bool] = mapped_column(default=True)
    # True: serves every community, present and future.
    all_communities: Mapped[bool] = mapped_column(default=False, server_default=false())
    # SHA-256 of the API token; the token itself is shown once and never stored.
    token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    # Optional web password (argon2), set by the organisation after a token login.
    password_hash: Mapped[str | None] = mapped_column(String(255))
    language: Mapped[str] = mapped_column(String(5), default="zh", server_default="zh")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # Small sets, read together with the organisation: selectin avoids async lazy loads.
    categories: Mapped[list[Category]] = relationship(
        secondary=organisation_categories, lazy="selectin"
    )
    communities: Mapped[list[Community]] = relationship(
        secondary=organisation_communities, lazy="selectin"
    )


class Ticket(Base):
    """One resident's order, carried from submitted to its end."""

    __tablename__ = "tickets"
    __table_args__ = (
        Index(None, "resident_id", "created_at"),
        Index(None, "status"),
        Index(None, "urgent", "status"),
        Index(None, "category_code", "community_id", "status"),
        # Migration 0006: the queue, charts and Open311 lists at a million tickets.
        Index(None, "status", "created_at", "id"),
        Index(None, "created_at", "id"),
        Index(None, "community_id", "created_at"),
        Index(None, "organisation_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(20), unique=True)
    resident_id: Mapped[int] = mapped_column(ForeignKey("residents.id"))
    # "service" (a category is set), "emergency" or "handoff" (staff must act; no category).
    kind: Mapped[str] = mapped_column(String(16), default="service", server_default="service")
    urgent: Mapped[bool] = mapped_column(default=False, server_default=false())
    category_code: Mapped[str | None] = mapped_column(ForeignKey("categories.code"))
    community_id: Mapped[int | None] = mapped_column(ForeignKey("communities.id"))
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"))
    status: Mapped[str] = mapped_column(String(16))
    description: Mapped[str] = mapped_column(Text)
    address: Mapped[str | None] = mapped_column(Text)
    latitude: Mapped[float | None] = mapped_column(Double)
    longitude: Mapped[float | None] = mapped_column(Double)
    preferred_time_text: Mapped[str | None] = mapped_column(String(128))
    preferred_time_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    phone: Mapped[str | None] = mapped_column(String(32))  # E.164
    # Who the service is for when not the resident: mother, father, child, … (a code).
    beneficiary: Mapped[str | None] = mapped_column(String(16))
    photo_path: Mapped[str | None] = mapped_column(String(255))
    # An Open311 client's photo URL (absolute http(s), validated when filed; migration 0008).
    media_url: Mapped[str | None] = mapped_column(String(500))
    language: Mapped[str] = mapped_column(String(5))
    channel: Mapped[str] = mapped_column(String(16))
    idempotency_key: Mapped[str | None] = mapped_column(String(128), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # Milestones, for SLAs, escalation, standing and settlement.
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Escalation (吹哨) is a flag with its own event, not a state.
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"))
    rating: Mapped[int | None] = mapped_column(Integer)
    rating_comment: Mapped[str | None] = mapped_column(Text)
    # True when the organisation finished it after the done SLA.
    done_late: Mapped[bool | None] = mapped_column()
    # Emergency and hand-off tickets (migration 0011): the staff member who first
    # acknowledged it and when (until then it stays at the top of the queue and staff
    # are alerted again), and when staff were last re-alerted about it.
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    acknowledged_by: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    realerted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # An emergency's or hand-off's conversation before it (migration 0012): the latest
    # lines, each {"from": "resident" | "assistant", "text": ...}; staff read it beside
    # the need, which stays a short summary. Only staff see it.
    transcript: Mapped[list[dict[str, str]] | None] = mapped_column(JSON)


class TicketFollower(Base):
    """A resident who joined someone else's ticket (the same broken lift) and is
    told what happens to it."""

    __tablename__ = "ticket_followers"

    ticket_id: Mapped[int] = mapped_column(
        ForeignKey("tickets.id", ondelete="CASCADE"), primary_key=True
    )
    resident_id: Mapped[int] = mapped_column(
        ForeignKey("residents.id", ondelete="CASCADE"), primary_key=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class TicketOffer(Base):
    """A ticket shown to one organisation (its card), in match order."""

    __tablename__ = "ticket_offers"

    ticket_id: Mapped[int] = mapped_column(
        ForeignKey("tickets.id", ondelete="CASCADE"), primary_key=True
    )
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), primary_key=True
    )
    rank: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


staff_communities = Table(
    "staff_communities",
    Base.metadata,
    Column("staff_id", ForeignKey("staff.id", ondelete="CASCADE"), primary_key=True),
    Column("community_id", ForeignKey("communities.id", ondelete="CASCADE"), primary_key=True),
)


class Staff(Base):
    """A community staff member (role staff: their communities; admin: everything)."""

    __tablename__ = "staff"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    role: Mapped[str] = mapped_column(String(8))  # "admin" | "staff"
    password_hash: Mapped[str | None] = mapped_column(String(255))
    token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    language: Mapped[str] = mapped_column(String(5), default="zh", server_default="zh")
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    communities: Mapped[list[Community]] = relationship(
        secondary=staff_communities, lazy="selectin"
    )


class LinkCode(Base):
    """A one-time code that binds a Telegram chat to an organisation or a staff member."""

    __tablename__ = "link_codes"

    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    organisation_id: Mapped[int | None] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE")
    )
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ChatLink(Base):
    """A chat (private or group) that speaks for an organisation or a staff member."""

    __tablename__ = "chat_links"
    __table_args__ = (UniqueConstraint("channel", "chat_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    chat_id: Mapped[str] = mapped_column(String(64))
    organisation_id: Mapped[int | None] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    staff_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class OutboxMessage(Base):
    """A message to send, written in the same transaction as the change it reports.

    The text is a catalogue key plus parameters, rendered in the recipient's language
    when sent; buttons are [[{"key", "params", "data"}]] rows.
    """

    __tablename__ = "outbox"
    __table_args__ = (
        Index(None, "state", "next_attempt_at"),
        Index(None, "channel", "chat_id", "sent_message_id"),
        # the retention purge and a ticket's messages; deleting a ticket nulls these rows
        Index(None, "ticket_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    chat_id: Mapped[str] = mapped_column(String(64))
    language: Mapped[str] = mapped_column(String(5))
    message_key: Mapped[str] = mapped_column(String(64))
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    buttons: Mapped[list[list[dict[str, Any]]]] = mapped_column(JSON, default=list)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id", ondelete="SET NULL"))
    # What a reply to the sent message means (e.g. "rating_comment"), if anything.
    reply_kind: Mapped[str | None] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(8), default="pending")  # pending|sent|blocked|failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text)
    sent_message_id: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class TicketEvent(Base):
    """One row of a ticket's append-only history."""

    __tablename__ = "ticket_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    actor: Mapped[str] = mapped_column(String(64))
    # "transition" (a status change), or a flag/fact: "escalated", "followed", "rated", "note".
    action: Mapped[str] = mapped_column(
        String(16), default="transition", server_default="transition"
    )
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(Text)
    # The organisation this event made the holder (a claim, a staff assignment, a
    # hand-over): who held a ticket before is read from here, never from the note.
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class TicketNumberSequence(Base):
    """The last ticket number handed out on one day (Asia/Shanghai)."""

    __tablename__ = "ticket_number_sequences"

    day: Mapped[str] = mapped_column(String(6), primary_key=True)
    last: Mapped[int] = mapped_column(Integer, default=0)


class WebSession(Base):
    """A signed-in browser (staff member or organisation): server-side, revocable."""

    __tablename__ = "web_sessions"

    # SHA-256 of the session id in the cookie; the id itself is never stored.
    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    staff_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff.id", ondelete="CASCADE"), index=True
    )
    organisation_id: Mapped[int | None] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    csrf_token: Mapped[str] = mapped_column(String(64))
    language: Mapped[str] = mapped_column(String(5), default="zh")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ApiKey(Base):
    """An Open311 client's key (`orders apikey add`), stored as a SHA-256 hash."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
