"""Browser sessions of staff members and organisations, kept on the server.

The cookie holds a random session id (256 bits); the `web_sessions` table keeps only
its SHA-256, the signed-in party, a per-session CSRF token, the interface language
and the expiry (12 h from sign-in). Ending a session deletes its row, so a stolen
cookie stops working at logout, and suspending a party ends its access at once.

CSRF: every state-changing browser request (POST, PUT, PATCH, DELETE) through
`check_csrf` must carry the session's token in the form field `csrf_token` or the
header `X-CSRF-Token`, else 403. Before sign-in (the login forms) the token is a
double-submit cookie (`ro_csrf`) set when the form is shown. Token-authenticated
APIs (Bearer, Open311 api_key) do not use these dependencies and need no CSRF token.

Dependencies for routes:
    require_staff          -> Staff         (no session: 303 to /login?next=...)
    require_admin          -> Staff         (a staff member who is not admin: 403)
    require_organisation   -> Organisation  (no session: 303 to /org/login?next=...)
    check_csrf             -> None          (safe methods pass; others need the token)
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, HTTPException, Request, Response
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from i18n import DEFAULT_LANGUAGE, normalise_language
from services.models import Organisation, Staff, WebSession, utcnow
from services.parties import Role
from web.state import request_state

SESSION_COOKIE = "ro_session"
ANONYMOUS_CSRF_COOKIE = "ro_csrf"
LANGUAGE_COOKIE = "ro_lang"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
SESSION_LIFETIME = timedelta(hours=12)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
STAFF_LOGIN = "/login"
_UNREAD = object()
ORGANISATION_LOGIN = "/org/login"


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def is_https(request: Request) -> bool:
    """True when the browser reached us over https (cookies are then Secure)."""
    return request.url.scheme == "https"


@dataclass(frozen=True)
class CurrentSession:
    """A signed-in browser: its party (exactly one of staff/organisation), CSRF token
    and language."""

    id_hash: str
    csrf_token: str
    language: str
    expires_at: datetime
    staff: Staff | None
    organisation: Organisation | None


async def start_session(
    session: AsyncSession,
    *,
    staff: Staff | None = None,
    organisation: Organisation | None = None,
    language: str | None = None,
    now: datetime | None = None,
) -> str:
    """Store a new session for a staff member or an organisation; returns the id to
    put in the cookie (see `set_session_cookie`). The caller owns the transaction."""
    if (staff is None) == (organisation is None):
        raise ValueError("a session belongs to exactly one staff member or organisation")
    now = now or utcnow()
    session_id = secrets.token_urlsafe(32)
    party = staff if staff is not None else organisation
    assert party is not None
    party_language = party.language
    session.add(
        WebSession(
            id_hash=_digest(session_id),
            staff_id=staff.id if staff is not None else None,
            organisation_id=organisation.id if organisation is not None else None,
            csrf_token=secrets.token_urlsafe(32),
            language=normalise_language(language) or party_language or DEFAULT_LANGUAGE,
            created_at=now,
            expires_at=now + SESSION_LIFETIME,
        )
    )
    await session.flush()
    return session_id


def set_session_cookie(response: Response, request: Request, session_id: str) -> None:
    """Give the browser its session cookie: HttpOnly, SameSite=Lax, Secure over https."""
    response.set_cookie(
        SESSION_COOKIE,
        session_id,
        max_age=int(SESSION_LIFETIME.total_seconds()),
        httponly=True,
        samesite="lax",
        secure=is_https(request),
        path="/",
    )


async def end_session(
    session: AsyncSession, request: Request, response: Response | None = None
) -> None:
    """Forget the browser's session: its row, and (given the response) its cookie.
    The caller owns the transaction."""
    session_id = request.cookies.get(SESSION_COOKIE)
    if session_id:
        await session.execute(delete(WebSession).where(WebSession.id_hash == _digest(session_id)))
    if response is not None:
        response.delete_cookie(
            SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=is_https(request)
        )
    request.state.web_session = None


async def end_sessions_of(
    session: AsyncSession, *, staff_id: int | None = None, organisation_id: int | None = None
) -> None:
    """End every session of a staff member or an organisation (e.g. when suspended)."""
    if staff_id is not None:
        await session.execute(delete(WebSession).where(WebSession.staff_id == staff_id))
    if organisation_id is not None:
        await session.execute(
            delete(WebSession).where(WebSession.organisation_id == organisation_id)
        )


async def end_other_sessions(session: AsyncSession, current: CurrentSession) -> int:
    """End every session of the current session's party except this one (after a
    password change); returns how many. The caller owns the transaction."""
    query = delete(WebSession).where(WebSession.id_hash != current.id_hash)
    if current.staff is not None:
        query = query.where(WebSession.staff_id == current.staff.id)
    elif current.organisation is not None:
        query = query.where(WebSession.organisation_id == current.organisation.id)
    else:  # a session always has a party; never delete everyone's
        return 0
    result = await session.execute(query)
    return int(getattr(result, "rowcount", 0) or 0)


async def load_session(
    session: AsyncSession, session_id: str, *, now: datetime | None = None
) -> CurrentSession | None:
    """The live session with this cookie value whose party is still active, else None."""
    now = now or utcnow()
    row = await session.get(WebSession, _digest(session_id))
    if row is None:
        return None
    if row.expires_at <= now:
        await session.delete(row)
        return None
    staff = await session.get(Staff, row.staff_id) if row.staff_id is not None else None
    organisation = (
        await session.get(Organisation, row.organisation_id)
        if row.organisation_id is not None
        else None
    )
    if (staff is None or not staff.active) and (organisation is None or not organisation.active):
        return None
    return CurrentSession(
        id_hash=row.id_hash,
        csrf_token=row.csrf_token,
        language=row.language,
        expires_at=row.expires_at,
        staff=staff,
        organisation=organisation,
    )


async def current_session(request: Request) -> CurrentSession | None:
    """The signed-in browser of this request, or None (read once per request)."""
    cached = getattr(request.state, "web_session", _UNREAD)
    if cached is not _UNREAD:
        assert cached is None or isinstance(cached, CurrentSession)
        return cached
    found: CurrentSession | None = None
    session_id = request.cookies.get(SESSION_COOKIE)
    if session_id and len(session_id) <= 128:
        state = request_state(request)
        async with state.sessionmaker() as session, session.begin():
            found = await load_session(session, session_id)
    request.state.web_session = found
    return found


async def set_session_language(session: AsyncSession, id_hash: str, language: str) -> None:
    """Change the interface language of a session."""
    row = await session.get(WebSession, id_hash)
    if row is not None:
        row.language = language
        await session.flush()


async def delete_expired_sessions(session: AsyncSession, *, now: datetime | None = None) -> int:
    """Remove sessions past their expiry; returns how many."""
    now = now or utcnow()
    expired = list(
        await session.scalars(select(WebSession.id_hash).where(WebSession.expires_at <= now))
    )
    if expired:
        await session.execute(delete(WebSession).where(WebSession.id_hash.in_(expired)))
    return len(expired)


# --- language ------------------------------------------------------------------------------


def request_language(request: Request) -> str:
    """The interface language: the session's, else the language cookie, else the
    browser's Accept-Language, else Chinese."""
    signed_in: CurrentSession | None = getattr(request.state, "web_session", None)
    if signed_in is not None:
        return signed_in.language
    chosen = normalise_language(request.cookies.get(LANGUAGE_COOKIE))
    if chosen:
        return chosen
    for part in request.headers.get("accept-language", "").split(","):
        found = normalise_language(part.split(";")[0].strip())
        if found:
            return found
    return DEFAULT_LANGUAGE


# --- who may come in -----------------------------------------------------------------------


def _login_redirect(request: Request, login_path: str) -> HTTPException:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    location = f"{login_path}?next={quote(target, safe='')}"
    if request.headers.get("HX-Request"):
        # htmx follows HX-Redirect with a full page load (a plain redirect would
        # swap the login page into the polled fragment).
        return HTTPException(401, "Sign in first.", headers={"HX-Redirect": location})
    return HTTPException(303, "Sign in first.", headers={"Location": location})


async def require_staff(request: Request) -> Staff:
    """The signed-in, active staff member; a browser without one goes to /login."""
    signed_in = await current_session(request)
    if signed_in is None or signed_in.staff is None:
        raise _login_redirect(request, STAFF_LOGIN)
    return signed_in.staff


async def require_admin(staff: Annotated[Staff, Depends(require_staff)]) -> Staff:
    """The signed-in admin; other staff get 403."""
    if staff.role != Role.ADMIN.value:
        raise HTTPException(403, "Only an admin may do this.")
    return staff


async def require_organisation(request: Request) -> Organisation:
    """The signed-in, active organisation; a browser without one goes to /org/login."""
    signed_in = await current_session(request)
    if signed_in is None or signed_in.organisation is None:
        raise _login_redirect(request, ORGANISATION_LOGIN)
    return signed_in.organisation


# --- CSRF ----------------------------------------------------------------------------------


def anonymous_csrf_token(request: Request) -> str:
    """The CSRF token of a form shown before sign-in (double-submit cookie); call
    `set_anonymous_csrf_cookie` on the response that shows the form."""
    existing = getattr(request.state, "anonymous_csrf", None)
    if isinstance(existing, str):
        return existing
    token = request.cookies.get(ANONYMOUS_CSRF_COOKIE)
    if not token or len(token) > 128:
        token = secrets.token_urlsafe(32)
    request.state.anonymous_csrf = token
    return token


def set_anonymous_csrf_cookie(response: Response, request: Request) -> None:
    """Send the double-submit cookie of the login form's token."""
    response.set_cookie(
        ANONYMOUS_CSRF_COOKIE,
        anonymous_csrf_token(request),
        httponly=True,
        samesite="lax",
        secure=is_https(request),
        path="/",
    )


def csrf_token(request: Request) -> str:
    """The token forms of this page must send back: the session's, or before sign-in
    the double-submit cookie's."""
    signed_in: CurrentSession | None = getattr(request.state, "web_session", None)
    if signed_in is not None:
        return signed_in.csrf_token
    return anonymous_csrf_token(request)


async def check_csrf(request: Request) -> None:
    """Refuse (403) a state-changing request without the right CSRF token."""
    if request.method in SAFE_METHODS:
        return
    signed_in = await current_session(request)
    expected = (
        signed_in.csrf_token
        if signed_in is not None
        else request.cookies.get(ANONYMOUS_CSRF_COOKIE, "")
    )
    sent = request.headers.get(CSRF_HEADER, "")
    if not sent:
        content_type = request.headers.get("content-type", "")
        if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            value = (await request.form()).get(CSRF_FIELD)
            sent = value if isinstance(value, str) else ""
    if not expected or not sent or not hmac.compare_digest(sent.encode(), expected.encode()):
        raise HTTPException(403, "The form's CSRF token is missing or wrong; reload the page.")


StaffMember = Annotated[Staff, Depends(require_staff)]
Admin = Annotated[Staff, Depends(require_admin)]
SignedInOrganisation = Annotated[Organisation, Depends(require_organisation)]
Csrf = Depends(check_csrf)
