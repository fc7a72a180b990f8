"""Organisations and staff: creating them, their tokens, link codes and linked chats.

Tokens and link codes are shown once and stored only as SHA-256 hashes; web
passwords are hashed with argon2 (argon2-cffi: the reference implementation's
binding, with safe defaults and rehash detection).
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.categories import category_codes
from services.errors import BadCredentials, InvalidInput, NotFound, UnknownCategory
from services.models import (
    Category,
    ChatLink,
    Community,
    LinkCode,
    Organisation,
    Staff,
)
from services.tickets import aware_utc

# Link codes are typed by people: no 0/O, 1/I/L.
_CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
_CODE_LENGTH = 8
_hasher = PasswordHasher()


class Role(StrEnum):
    """What a staff member may see and do."""

    ADMIN = "admin"
    STAFF = "staff"


def digest(secret: str) -> str:
    """The stored form of a token or link code."""
    return hashlib.sha256(secret.strip().encode()).hexdigest()


def new_token() -> str:
    """A new API token (URL-safe, 256 bits)."""
    return secrets.token_urlsafe(32)


def new_link_code() -> str:
    """A new one-time link code, easy to read out and type."""
    return "".join(secrets.choice(_CODE_ALPHABET) for _ in range(_CODE_LENGTH))


def normalise_code(code: str) -> str:
    """A typed link code as stored: upper case, without spaces or dashes."""
    return "".join(ch for ch in code.upper() if ch.isalnum())


def hash_password(password: str) -> str:
    """An argon2 hash of a web password."""
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True when the password matches the stored argon2 hash."""
    if not password_hash:
        return False
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


async def password_matches(password_hash: str | None, password: str) -> bool:
    """`verify_password` in a worker thread: argon2 takes about 0.1 s of CPU (and 64 MiB)
    per check, which must not stall the event loop that serves everyone else."""
    return await asyncio.to_thread(verify_password, password_hash, password)


async def new_password_hash(password: str) -> str:
    """`hash_password` in a worker thread (see `password_matches`)."""
    return await asyncio.to_thread(hash_password, password)


@dataclass(frozen=True)
class Credentials:
    """What `org add` / `staff add` print once: a link code and an API token."""

    link_code: str
    token: str


async def _categories(session: AsyncSession, codes: Sequence[str]) -> list[Category]:
    found = []
    for code in codes:
        category = await session.get(Category, code)
        if category is None:
            raise UnknownCategory(code, await category_codes(session))
        found.append(category)
    return found


async def _communities(session: AsyncSession, ids: Sequence[int]) -> list[Community]:
    found = []
    for community_id in ids:
        community = await session.get(Community, community_id)
        if community is None:
            raise NotFound(f"community {community_id}")
        found.append(community)
    return found


def _issue_link_code(
    session: AsyncSession,
    *,
    organisation: Organisation | None = None,
    staff: Staff | None = None,
    now: datetime | None = None,
) -> str:
    code = new_link_code()
    session.add(
        LinkCode(
            code_hash=digest(code),
            organisation_id=organisation.id if organisation else None,
            staff_id=staff.id if staff else None,
            created_at=aware_utc(now),
        )
    )
    return code


async def create_organisation(
    session: AsyncSession,
    *,
    name: str,
    categories: Sequence[str],
    communities: Sequence[int] | None,
    contact: str | None = None,
    language: str = "zh",
    now: datetime | None = None,
) -> tuple[Organisation, Credentials]:
    """Create an organisation serving `categories` in `communities` (None: all)."""
    if not name.strip():
        raise InvalidInput("an organisation needs a name")
    token = new_token()
    organisation = Organisation(
        name=name.strip(),
        contact=contact,
        active=True,
        all_communities=communities is None,
        token_hash=digest(token),
        language=language,
        created_at=aware_utc(now),
        categories=await _categories(session, categories),
        communities=await _communities(session, communities or []),
    )
    session.add(organisation)
    await session.flush()
    code = _issue_link_code(session, organisation=organisation, now=now)
    await session.flush()
    return organisation, Credentials(link_code=code, token=token)


async def create_staff(
    session: AsyncSession,
    *,
    name: str,
    role: Role | str,
    communities: Sequence[int] = (),
    password: str | None = None,
    language: str = "zh",
    now: datetime | None = None,
) -> tuple[Staff, Credentials]:
    """Create a staff member (admin: every community) with a web password."""
    if not name.strip():
        raise InvalidInput("a staff member needs a name")
    token = new_token()
    staff = Staff(
        name=name.strip(),
        role=Role(role).value,
        password_hash=await new_password_hash(password) if password else None,
        token_hash=digest(token),
        language=language,
        active=True,
        created_at=aware_utc(now),
        communities=await _communities(session, communities),
    )
    session.add(staff)
    await session.flush()
    code = _issue_link_code(session, staff=staff, now=now)
    await session.flush()
    return staff, Credentials(link_code=code, token=token)


async def new_org_link_code(
    session: AsyncSession, organisation: Organisation, *, now: datetime | None = None
) -> str:
    """Another one-time link code for an organisation (e.g. for a second group)."""
    code = _issue_link_code(session, organisation=organisation, now=now)
    await session.flush()
    return code


async def organisation_by_token(session: AsyncSession, token: str) -> Organisation:
    """The active organisation holding this API token, or BadCredentials."""
    organisation = await session.scalar(
        select(Organisation).where(Organisation.token_hash == digest(token))
    )
    if organisation is None or not organisation.active:
        raise BadCredentials("unknown or suspended organisation token")
    return organisation


async def staff_by_token(session: AsyncSession, token: str) -> Staff:
    """The active staff member holding this API token, or BadCredentials."""
    staff = await session.scalar(select(Staff).where(Staff.token_hash == digest(token)))
    if staff is None or not staff.active:
        raise BadCredentials("unknown or inactive staff token")
    return staff


async def get_organisation(session: AsyncSession, organisation_id: int) -> Organisation:
    """The organisation with this id, or NotFound."""
    organisation = await session.get(Organisation, organisation_id)
    if organisation is None:
        raise NotFound(f"organisation {organisation_id}")
    return organisation


async def set_organisation_active(
    session: AsyncSession, organisation: Organisation, active: bool
) -> None:
    """Suspend or reactivate an organisation (a suspended one is offered nothing)."""
    organisation.active = active
    await session.flush()


@dataclass(frozen=True)
class Party:
    """Who a linked chat speaks for."""

    organisation: Organisation | None
    staff: Staff | None


async def redeem_link_code(
    session: AsyncSession, *, code: str, channel: str, chat_id: str, now: datetime | None = None
) -> Party:
    """Bind a chat to the code's organisation or staff member; the code is spent.

    Linking a chat again moves it to the new party (a group changes hands)."""
    now = aware_utc(now)
    link_code = await session.get(LinkCode, digest(normalise_code(code)))
    if link_code is None or link_code.used_at is not None:
        raise BadCredentials("unknown or used link code")
    organisation = (
        await session.get(Organisation, link_code.organisation_id)
        if link_code.organisation_id
        else None
    )
    staff = await session.get(Staff, link_code.staff_id) if link_code.staff_id else None
    if (organisation is not None and not organisation.active) or (
        staff is not None and not staff.active
    ):
        raise BadCredentials("the code belongs to a suspended party")
    link_code.used_at = now
    await session.execute(
        delete(ChatLink).where(ChatLink.channel == channel, ChatLink.chat_id == chat_id)
    )
    session.add(
        ChatLink(
            channel=channel,
            chat_id=chat_id,
            organisation_id=organisation.id if organisation else None,
            staff_id=staff.id if staff else None,
            created_at=now,
        )
    )
    await session.flush()
    return Party(organisation=organisation, staff=staff)


async def party_of_chat(session: AsyncSession, *, channel: str, chat_id: str) -> Party:
    """Who this chat speaks for (both None: a resident's chat)."""
    link = await session.scalar(
        select(ChatLink).where(ChatLink.channel == channel, ChatLink.chat_id == chat_id)
    )
    if link is None:
        return Party(organisation=None, staff=None)
    organisation = (
        await session.get(Organisation, link.organisation_id) if link.organisation_id else None
    )
    staff = await session.get(Staff, link.staff_id) if link.staff_id else None
    return Party(organisation=organisation, staff=staff)


async def organisation_chats(session: AsyncSession, organisation_id: int) -> list[ChatLink]:
    """Every chat linked to the organisation."""
    rows = await session.scalars(
        select(ChatLink).where(ChatLink.organisation_id == organisation_id).order_by(ChatLink.id)
    )
    return list(rows)


async def staff_chats(
    session: AsyncSession, community_id: int | None
) -> list[tuple[Staff, ChatLink]]:
    """Chats of active staff responsible for the community: admins, staff of that
    community, and (for a ticket without a community) every staff member."""
    query = (
        select(Staff, ChatLink)
        .join(ChatLink, ChatLink.staff_id == Staff.id)
        .where(Staff.active.is_(True))
        .order_by(ChatLink.id)
    )
    if community_id is not None:
        query = query.where(
            or_(
                Staff.role == Role.ADMIN.value,
                Staff.communities.any(Community.id == community_id),
            )
        )
    rows = await session.execute(query)
    return [(staff, link) for staff, link in rows]


def staff_sees(staff: Staff, community_id: int | None) -> bool:
    """True when the staff member is responsible for tickets of this community."""
    if staff.role == Role.ADMIN.value or community_id is None:
        return True
    return any(community.id == community_id for community in staff.communities)


# --- organisations' web passwords ---------------------------------------------------------

MIN_PASSWORD_LENGTH = 10
# Verified when no organisation has the name, so a wrong name takes as long as a wrong
# password (names cannot be probed by timing).
_DUMMY_HASH = _hasher.hash("resident-orders-no-such-organisation")


class PasswordProblem(StrEnum):
    """Why a new web password is not accepted."""

    TOO_SHORT = "too_short"  # fewer than MIN_PASSWORD_LENGTH characters
    SAME_AS_NAME = "same_as_name"  # the account's name (case and spaces ignored)


def password_problem(password: str, *, name: str) -> PasswordProblem | None:
    """What is wrong with a new web password for the account called `name`, if anything."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return PasswordProblem.TOO_SHORT
    if password.strip().casefold() == name.strip().casefold():
        return PasswordProblem.SAME_AS_NAME
    return None


async def _checked_hash(password: str, name: str) -> str:
    problem = password_problem(password, name=name)
    if problem is not None:
        raise InvalidInput(f"password refused: {problem.value}")
    return await new_password_hash(password)


async def set_organisation_password(
    session: AsyncSession, organisation: Organisation, password: str
) -> None:
    """Set the organisation's web password; InvalidInput if `password_problem` finds one."""
    organisation.password_hash = await _checked_hash(password, organisation.name)
    await session.flush()


async def set_staff_password(session: AsyncSession, staff: Staff, password: str) -> None:
    """Set a staff member's web password; InvalidInput if `password_problem` finds one."""
    staff.password_hash = await _checked_hash(password, staff.name)
    await session.flush()


async def authenticate_organisation(
    session: AsyncSession, name: str, password: str
) -> Organisation | None:
    """The active organisation with this name and web password, else None."""
    rows = await session.scalars(
        select(Organisation)
        .where(
            Organisation.name == name.strip(),
            Organisation.active.is_(True),
            Organisation.password_hash.is_not(None),
        )
        .order_by(Organisation.id)
    )
    found = list(rows)
    if not found:
        await password_matches(_DUMMY_HASH, password)
        return None
    for organisation in found:
        if await password_matches(organisation.password_hash, password):
            if _hasher.check_needs_rehash(organisation.password_hash or ""):
                organisation.password_hash = await new_password_hash(password)
            return organisation
    return None
