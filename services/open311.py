"""Open311 GeoReport v2 in domain terms: API keys, services from categories, filing a
request as an `open311` resident, and finding and showing requests without the
resident's personal data. No HTTP here (web/open311.py speaks the protocol).

Privacy rule (docs/open311.md): a request as shown never holds the resident's name,
phone, e-mail or exact address. The address is reduced to the community and the
street-level part of the address (`coarse_address`), coordinates are rounded to
3 decimals (about 100 m), and the description is masked by `services.privacy.mask_text`
with building numbers hidden too (Open311 is a public view).

A client's media URL lives in its own column (`tickets.media_url`), validated when it is
filed; nothing is ever read back out of the description.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.lifecycle import TicketStatus
from services.models import ApiKey, Category, Community, Organisation, Resident, Ticket
from services.parties import digest, new_token
from services.privacy import drop_units, mask_text
from services.tickets import aware_utc, get_or_create_resident, ticket_by_key
from services.workflow import file_ticket

S = TicketStatus
CHANNEL = "open311"

# Open311 knows two statuses. `done` counts as closed (the organisation reports it
# resolved); if the resident says it is not fixed it is reopened, and open again.
CLOSED_STATUSES: tuple[str, ...] = (S.DONE, S.CLOSED, S.REJECTED, S.CANCELLED, S.MERGED)
OPEN_STATUSES: tuple[str, ...] = (S.SUBMITTED, S.PUBLISHED, S.CLAIMED, S.IN_PROGRESS, S.REOPENED)

STATUS_NOTES: dict[str, str] = {
    S.SUBMITTED: "Submitted: waiting for community staff to review it.",
    S.PUBLISHED: "Published: offered to the social organisations that serve it.",
    S.CLAIMED: "Claimed: an organisation has taken it on.",
    S.IN_PROGRESS: "In progress: the organisation is working on it.",
    S.DONE: "Done: the organisation reports it resolved; waiting for the resident to confirm.",
    S.CLOSED: "Closed: resolved.",
    S.REJECTED: "Rejected by community staff.",
    S.CANCELLED: "Cancelled by the resident.",
    S.REOPENED: "Reopened: the resident says it is not fixed yet.",
    S.MERGED: "Merged into another request about the same problem.",
}

DEFAULT_SPAN = timedelta(days=90)
MAX_RESULTS = 1000
MAX_IDS = 100
COORDINATE_DECIMALS = 3
# Retries without an idempotency key are recognised for this long (see `file_request`).
RETRY_WINDOW = timedelta(minutes=10)
MAX_MEDIA_URL = 500


def open311_status(status: str) -> str:
    """`open` or `closed` for one of our statuses."""
    return "closed" if status in CLOSED_STATUSES else "open"


def statuses_for(open311: Sequence[str]) -> list[str]:
    """Our statuses behind a set of Open311 statuses (`open`, `closed`)."""
    found: list[str] = []
    if "open" in open311:
        found += OPEN_STATUSES
    if "closed" in open311:
        found += CLOSED_STATUSES
    return found


# --- API keys ----------------------------------------------------------------------------


async def create_api_key(session: AsyncSession, *, name: str) -> tuple[ApiKey, str]:
    """A new key for an Open311 client; the key is returned once and stored hashed."""
    name = name.strip()
    if not name:
        raise ValueError("an API key needs a name")
    secret = new_token()
    key = ApiKey(name=name, key_hash=digest(secret), active=True, created_at=aware_utc(None))
    session.add(key)
    await session.flush()
    return key, secret


async def api_key_by_secret(session: AsyncSession, secret: str | None) -> ApiKey | None:
    """The active key with this secret, or None."""
    if not secret or not secret.strip() or len(secret) > 200:
        return None
    key = await session.scalar(select(ApiKey).where(ApiKey.key_hash == digest(secret)))
    return key if key is not None and key.active else None


# --- services ----------------------------------------------------------------------------


async def list_services(session: AsyncSession) -> list[Category]:
    """Every category, in the order residents see them."""
    rows = await session.scalars(select(Category).order_by(Category.sort_order, Category.code))
    return list(rows)


async def get_service(session: AsyncSession, code: str) -> Category | None:
    """The category with this code, or None."""
    if not code or len(code) > 32:
        return None
    return await session.get(Category, code)


@dataclass(frozen=True)
class AttributeValue:
    key: str
    name: str


@dataclass(frozen=True)
class Attribute:
    """One question of a service definition (what the chat asks besides the basics)."""

    code: str
    datatype: str
    required: bool
    datatype_description: str
    order: int
    description: str
    values: tuple[AttributeValue, ...] = ()
    variable: bool = True


# Location, description, phone and photo are standard fields of a request; these are
# the chat's other questions.
ATTRIBUTES: tuple[Attribute, ...] = (
    Attribute(
        code="preferred_time",
        datatype="string",
        required=False,
        datatype_description="Free text, Chinese or English, e.g. 明天下午三点 or tomorrow 3pm.",
        order=1,
        description="When would suit the resident for the visit or the service?",
    ),
    Attribute(
        code="language",
        datatype="singlevaluelist",
        required=False,
        datatype_description="zh or en; by default the script of the description decides.",
        order=2,
        description="Which language the resident prefers.",
        values=(AttributeValue("zh", "中文"), AttributeValue("en", "English")),
    ),
)


# --- privacy -----------------------------------------------------------------------------

# Numbers left in an address are kept only as street numbers (幸福路100号, 88弄).
_NON_STREET_NUMBER = re.compile(r"\d+(?!\d|\s*(?:号|弄|路|街|巷|道))")
_SPACES = re.compile(r"[ \t]{2,}")
_EDGE_PUNCTUATION = " ,，、;；.。-—:："


def scrub_text(text: str) -> str:
    """Free text as a public view shows it: `mask_text` with building numbers hidden."""
    return mask_text(text, keep_building=False)


def coarse_address(address: str | None, community: str | None) -> str | None:
    """The community and the street-level part of an address: no building, unit, flat,
    room or floor numbers and no other numbers than street numbers (幸福路100号)."""
    street = ""
    if address:
        text = _NON_STREET_NUMBER.sub(" ", drop_units(address))
        parts = [p.strip(_EDGE_PUNCTUATION) for p in re.split(r"[\s,，、;；]+", text)]
        street = " ".join(p for p in parts if p)
    pieces = [piece for piece in (community, street) if piece]
    if len(pieces) == 2 and pieces[0] in pieces[1]:
        pieces = [pieces[1]]
    joined = scrub_text(_SPACES.sub(" ", " ".join(pieces)).strip())
    return joined[:200] or None


def coarse_coordinate(value: float | None) -> float | None:
    """A coordinate rounded to about 100 m."""
    if value is None or not math.isfinite(value):
        return None
    return round(value, COORDINATE_DECIMALS)


# --- showing requests --------------------------------------------------------------------


@dataclass(frozen=True)
class RequestView:
    """A ticket as Open311 shows it (already stripped of personal data)."""

    service_request_id: str
    status: str
    status_notes: str
    service_name: str | None
    service_code: str | None
    description: str
    agency_responsible: str | None
    service_notice: str | None
    requested_datetime: datetime
    updated_datetime: datetime
    expected_datetime: datetime | None
    address: str | None
    lat: float | None
    long: float | None
    media_url: str | None


def valid_media_url(url: str) -> bool:
    """Whether a client's media URL may be shown: an absolute http(s) URL with a host,
    without spaces or control characters."""
    if not url or len(url) > MAX_MEDIA_URL or any(c.isspace() or ord(c) < 32 for c in url):
        return False
    try:
        parts = urlsplit(url)
        host, _port = parts.hostname, parts.port  # a port that is no number: ValueError
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(host)


def _expected(ticket: Ticket, category: Category | None) -> datetime | None:
    if category is None:
        return None
    if ticket.status in (S.CLAIMED, S.IN_PROGRESS) and ticket.claimed_at is not None:
        return ticket.claimed_at + timedelta(hours=category.sla_done_hours)
    if ticket.status == S.PUBLISHED and ticket.published_at is not None:
        hours = category.sla_claim_hours + category.sla_done_hours
        return ticket.published_at + timedelta(hours=hours)
    return None


async def request_views(session: AsyncSession, tickets: Sequence[Ticket]) -> list[RequestView]:
    """The tickets as Open311 requests (a few queries for the whole page, not per row)."""
    if not tickets:
        return []
    categories = {c.code: c for c in await session.scalars(select(Category))}
    community_ids = {t.community_id for t in tickets if t.community_id is not None}
    communities = {
        c.id: c
        for c in (
            await session.scalars(select(Community).where(Community.id.in_(community_ids)))
            if community_ids
            else []
        )
    }
    organisation_ids = {t.organisation_id for t in tickets if t.organisation_id is not None}
    organisations = (
        {
            row.id: row.name
            for row in await session.execute(
                select(Organisation.id, Organisation.name).where(
                    Organisation.id.in_(organisation_ids)
                )
            )
        }
        if organisation_ids
        else {}
    )
    merged_ids = {t.merged_into_id for t in tickets if t.merged_into_id is not None}
    merged = (
        {
            row.id: row.number
            for row in await session.execute(
                select(Ticket.id, Ticket.number).where(Ticket.id.in_(merged_ids))
            )
        }
        if merged_ids
        else {}
    )
    views = []
    for ticket in tickets:
        category = categories.get(ticket.category_code) if ticket.category_code else None
        community = communities.get(ticket.community_id) if ticket.community_id else None
        notes = STATUS_NOTES.get(ticket.status, ticket.status)
        if ticket.merged_into_id is not None and ticket.merged_into_id in merged:
            joined = merged[ticket.merged_into_id]
            notes = f"Merged into {joined}, a request about the same problem."
        views.append(
            RequestView(
                service_request_id=ticket.number,
                status=open311_status(ticket.status),
                status_notes=notes,
                service_name=category.name_en if category else None,
                service_code=ticket.category_code,
                description=scrub_text(ticket.description),
                agency_responsible=(
                    organisations.get(ticket.organisation_id) if ticket.organisation_id else None
                ),
                service_notice=None,
                requested_datetime=ticket.created_at,
                updated_datetime=ticket.updated_at,
                expected_datetime=_expected(ticket, category),
                address=coarse_address(ticket.address, community.name_zh if community else None),
                lat=coarse_coordinate(ticket.latitude),
                long=coarse_coordinate(ticket.longitude),
                media_url=ticket.media_url,
            )
        )
    return views


# --- finding requests --------------------------------------------------------------------


@dataclass(frozen=True)
class RequestQuery:
    """GET requests: either ticket numbers, or a time window with optional filters.

    Window and order use tickets.created_at (requested_datetime), newest first."""

    numbers: tuple[str, ...] = ()
    service_codes: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()  # "open" / "closed"; empty: both
    start: datetime | None = None
    end: datetime | None = None
    limit: int = MAX_RESULTS
    offset: int = 0


async def find_requests(session: AsyncSession, query: RequestQuery) -> list[Ticket]:
    """The tickets a GET requests call returns. With numbers, every other filter is
    ignored (as the spec says)."""
    if query.numbers:
        rows = await session.scalars(
            select(Ticket)
            .where(Ticket.number.in_(query.numbers[:MAX_IDS]), Ticket.kind == "service")
            .order_by(Ticket.created_at.desc(), Ticket.id.desc())
        )
        return list(rows)
    statement = select(Ticket).where(Ticket.kind == "service")
    if query.start is not None:
        statement = statement.where(Ticket.created_at >= query.start)
    if query.end is not None:
        statement = statement.where(Ticket.created_at <= query.end)
    if query.service_codes:
        statement = statement.where(Ticket.category_code.in_(query.service_codes))
    if query.statuses and set(query.statuses) != {"open", "closed"}:
        statement = statement.where(Ticket.status.in_(statuses_for(query.statuses)))
    statement = (
        statement.order_by(Ticket.created_at.desc(), Ticket.id.desc())
        .limit(min(query.limit, MAX_RESULTS))
        .offset(query.offset)
    )
    return list(await session.scalars(statement))


async def find_request(session: AsyncSession, number: str) -> Ticket | None:
    """One service request by its ticket number, or None."""
    if not number or len(number) > 20:
        return None
    return await session.scalar(
        select(Ticket).where(Ticket.number == number, Ticket.kind == "service")
    )


# --- filing ------------------------------------------------------------------------------


@dataclass(frozen=True)
class NewRequest:
    """A POST requests call, validated by the caller (web/open311.py)."""

    service_code: str
    description: str | None
    address: str | None
    latitude: float | None
    longitude: float | None
    phone: str | None  # E.164
    preferred_time_text: str | None
    preferred_time_at: datetime | None
    language: str
    # Who the resident is, as far as the client tells: device_id, account_id or e-mail.
    identity: str | None
    display_name: str | None
    media_url: str | None
    idempotency_token: str | None


def _hash(*parts: object) -> str:
    return hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).hexdigest()


def resident_external_id(api_key: ApiKey, identity: str | None) -> str:
    """`<key id>:<hash>`: one resident per client key and device/account/e-mail (hashed,
    so the e-mail itself is not stored); `<key id>:anonymous` without any."""
    if identity is None or not identity.strip():
        return f"{api_key.id}:anonymous"
    return f"{api_key.id}:{_hash(identity.strip().casefold())[:40]}"


def idempotency_keys(
    api_key: ApiKey, resident: Resident, request: NewRequest, now: datetime
) -> list[str]:
    """Keys that make a client's retry return the first ticket instead of a second one.

    With the client's token (Idempotency-Key header or idempotency_key field): one key
    per client key and token. Without: the request's content in a 10-minute bucket;
    the previous bucket's key is tried too, so a retry across a bucket edge is caught."""
    if request.idempotency_token:
        return [f"open311:{_hash(api_key.id, request.idempotency_token)[:48]}"]
    content = (
        resident.external_id,
        request.service_code,
        request.description,
        request.address,
        request.latitude,
        request.longitude,
        request.media_url,
    )
    bucket = int(now.timestamp() // RETRY_WINDOW.total_seconds())
    return [f"open311-auto:{_hash(api_key.id, b, *content)[:48]}" for b in (bucket, bucket - 1)]


async def file_request(
    session: AsyncSession,
    *,
    api_key: ApiKey,
    request: NewRequest,
    category: Category,
    now: datetime | None = None,
) -> tuple[Ticket, bool]:
    """File the request as a ticket of an `open311` resident through the same workflow as
    the chat; returns the ticket and whether it is new (False: a retry). A media URL
    that `valid_media_url` refuses is a ValueError (the caller answers 400 first)."""
    if request.media_url is not None and not valid_media_url(request.media_url):
        raise ValueError("media_url must be an absolute http(s) URL with a host")
    now = aware_utc(now)
    resident = await get_or_create_resident(
        session,
        channel=CHANNEL,
        external_id=resident_external_id(api_key, request.identity),
        display_name=request.display_name,
    )
    keys = idempotency_keys(api_key, resident, request, now)
    for key in keys:
        earlier = await ticket_by_key(session, key)
        if earlier is not None:
            return earlier, False
    description = (request.description or "").strip() or category.name_zh
    ticket = await file_ticket(
        session,
        resident=resident,
        category_code=category.code,
        description=description,
        address=request.address,
        latitude=request.latitude,
        longitude=request.longitude,
        preferred_time_text=request.preferred_time_text,
        preferred_time_at=request.preferred_time_at,
        phone=request.phone,
        photo_path=None,
        language=request.language,
        idempotency_key=keys[0],
        now=now,
    )
    created = ticket.created_at == now
    if created and request.media_url is not None:
        ticket.media_url = request.media_url
        await session.flush()
    return ticket, created
