"""Outside systems that file tickets with an API key: the keys, the resident an outside
client's user is, and filing a request so that a client's retry files nothing new.
No HTTP here: the Open311 endpoint (web/open311/) validates a call and files it here.

A client's media URL lives in its own column (`tickets.media_url`), validated when it is
filed; nothing is ever read back out of the description.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.errors import InvalidInput
from services.models import ApiKey, Category, Resident, Ticket
from services.parties import digest, new_token
from services.tickets import NewTicket, aware_utc, get_or_create_resident, ticket_by_key
from services.workflow import file_ticket

# The channel of the residents outside clients file for.
CHANNEL = "open311"
# Retries without an idempotency key are recognised for this long (see `file_request`).
RETRY_WINDOW = timedelta(minutes=10)
MAX_MEDIA_URL = 500


# --- API keys ----------------------------------------------------------------------------


async def create_api_key(session: AsyncSession, *, name: str) -> tuple[ApiKey, str]:
    """A new key for an outside client; the key is returned once and stored hashed."""
    name = name.strip()
    if not name:
        raise InvalidInput("an API key needs a name")
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


# --- filing ------------------------------------------------------------------------------


def valid_media_url(url: str) -> bool:
    """Whether a client's media URL may be stored and shown: an absolute http(s) URL with
    a host, without spaces or control characters."""
    if not url or len(url) > MAX_MEDIA_URL or any(c.isspace() or ord(c) < 32 for c in url):
        return False
    try:
        parts = urlsplit(url)
        host, _port = parts.hostname, parts.port  # a port that is no number: ValueError
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(host)


@dataclass(frozen=True)
class NewRequest:
    """A request an outside client files, validated by the caller (web/open311/)."""

    category_code: str
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

    With the client's own token for the request: one key per client key and token.
    Without: the request's content in a 10-minute bucket; the previous bucket's key is
    tried too, so a retry across a bucket edge is caught."""
    if request.idempotency_token:
        return [f"open311:{_hash(api_key.id, request.idempotency_token)[:48]}"]
    content = (
        resident.external_id,
        request.category_code,
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
    that `valid_media_url` refuses is InvalidInput (the caller answers 400 first)."""
    if request.media_url is not None and not valid_media_url(request.media_url):
        raise InvalidInput("media_url must be an absolute http(s) URL with a host")
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
    ticket, created = await file_ticket(
        session,
        resident=resident,
        now=now,
        request=NewTicket(
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
        ),
    )
    if created and request.media_url is not None:
        ticket.media_url = request.media_url
        await session.flush()
    return ticket, created
