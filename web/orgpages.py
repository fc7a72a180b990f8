"""The organisation pages (`/org`): sign in with the API token (or a web password set
after a token sign-in; failed sign-ins are throttled, web/login_throttle.py), change
that password (`/org/password`), see the open tickets the organisation may claim and the
tickets it holds, and claim / start / finish / release them.

Every action goes through `services.workflow`, the same functions and rules as the
Telegram buttons: exactly one claimer wins, an organisation that released a ticket
cannot claim it back, and the resident's phone, exact address and location are shown
only on tickets the organisation holds (their words, masked on every other ticket;
a ticket it may not know of is "no such ticket"). Sessions, CSRF and templates come from
web/sessions.py and web/templating.py; see docs/webchat.md.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from desk.notices import localise
from desk.render import local_time
from desk.workdesk import RELEASE_REASONS
from i18n import status_name, t
from services import matching, notify, workflow
from services.errors import (
    AlreadyTaken,
    BadCredentials,
    IllegalTransition,
    NotEligible,
    NotYourTicket,
    ServiceError,
    TicketNotFound,
)
from services.lifecycle import HOLDER_STATUSES, TicketStatus
from services.models import Organisation, Ticket
from services.numbers import is_number
from services.organisation_views import organisation_tickets
from services.parties import (
    authenticate_organisation,
    digest,
    organisation_by_token,
    password_matches,
    set_organisation_password,
)
from services.privacy import mask_text
from services.reference.emergency_kinds import street_hotline
from services.tickets import get_ticket
from web.errors import meaning_of
from web.login_throttle import (
    Attempt,
    account_key,
    client_ip,
    throttled_sentence,
    with_retry_after,
)
from web.pages import render, safe_next, see_other, transaction
from web.password_change import form_context, new_password_problem
from web.sessions import (
    Csrf,
    SignedInOrganisation,
    current_session,
    end_other_sessions,
    end_session,
    request_language,
    set_anonymous_csrf_cookie,
    set_session_cookie,
    start_session,
)
from web.state import request_state

router = APIRouter(prefix="/org", tags=["organisation pages"], include_in_schema=False)

S = TicketStatus
HOME = "/org"
MAX_FIELD = 200
MAX_NOTE = 2000
ACTIONS = ("claim", "start", "done", "release")


def _safe_next(value: str | None) -> str:
    """A redirect target inside the organisation pages, else the home page."""
    return safe_next(value, HOME, within=HOME)


# --- signing in ---------------------------------------------------------------------------


def _login_page(
    request: Request,
    next_url: str,
    *,
    failed: str | None = None,
    name: str = "",
    refused: Attempt | None = None,
) -> HTMLResponse:
    throttled = (
        throttled_sentence(refused, request_language(request)) if refused is not None else None
    )
    status = 429 if throttled else 400 if failed else 200
    # Whom an organisation without an account (or its token) asks: the street office.
    office = street_hotline()
    contact = {
        "hotline": office.number,
        "office_hours": (
            office.office_hours_en if request_language(request) == "en" else office.office_hours_zh
        ),
    }
    response = render(
        request,
        "org/login.html",
        {
            "next": next_url,
            "failed": failed,
            "name": name,
            "throttled": throttled,
            "contact": contact,
        },
        status=status,
    )
    if refused is not None:
        with_retry_after(response, refused)
    set_anonymous_csrf_cookie(response, request)
    return response


@router.get("/login")
async def login_page(request: Request, next: str | None = None) -> Response:
    """The sign-in form: the API token, or the organisation's name and web password."""
    signed_in = await current_session(request)
    if signed_in is not None and signed_in.organisation is not None:
        return see_other(_safe_next(next))
    return _login_page(request, _safe_next(next))


@router.post("/login", dependencies=[Csrf])
async def login(
    request: Request,
    token: Annotated[str, Form(max_length=MAX_FIELD)] = "",
    name: Annotated[str, Form(max_length=MAX_FIELD)] = "",
    password: Annotated[str, Form(max_length=MAX_FIELD)] = "",
    next: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """Check the token (or name and password); start a new session. Over the failed
    sign-in limit of the IP (or of the name, for a password): 429, nothing checked."""
    next_url = _safe_next(next)
    throttle = request_state(request).login_throttle
    account = None if token.strip() else account_key("org", name)
    attempt = await throttle.begin(account=account, ip=client_ip(request))
    if attempt.refused:
        return _login_page(request, next_url, name=name, refused=attempt)
    async with transaction(request) as session:
        organisation: Organisation | None = None
        if token.strip():
            try:
                organisation = await organisation_by_token(session, token.strip())
            except BadCredentials:
                organisation = None
            failed = "org_page_login_bad_token"
        else:
            organisation = await authenticate_organisation(session, name, password)
            failed = "org_page_login_bad_password"
        if organisation is None:
            return _login_page(request, next_url, failed=failed, name=name)
        response = see_other(next_url)
        await end_session(session, request, response)
        session_id = await start_session(session, organisation=organisation)
    await throttle.succeeded(attempt)
    set_session_cookie(response, request, session_id)
    return response


# --- the organisation's tickets -----------------------------------------------------------


async def _card(
    session: AsyncSession,
    organisation: Organisation,
    ticket: Ticket,
    language: str,
    timezone: str,
    *,
    contact: bool,
) -> dict[str, Any]:
    """A ticket as the page shows it: the fields of the Telegram card, in words; the
    resident's words masked unless the organisation holds the ticket (decided now)."""
    masked = not matching.sees_full_text(organisation, ticket)
    contact = contact and not masked
    params = await notify.card_params(
        session, ticket, contact=contact, masked=masked, timezone=timezone
    )
    shown = {name: localise(name, value, language, params) for name, value in params.items()}
    comment = ticket.rating_comment
    return {
        **shown,
        "number": ticket.number,
        "status": ticket.status,
        "status_name": status_name(ticket.status, language),
        "created": local_time(ticket.created_at, timezone),
        "rating": ticket.rating,
        "rating_comment": mask_text(comment) if masked and comment else comment,
        "contact": contact,
        "escalated": ticket.escalated_at is not None,
    }


async def _home_context(
    request: Request, organisation: Organisation, language: str
) -> dict[str, Any]:
    timezone = request_state(request).settings.timezone
    async with request_state(request).sessionmaker() as session:
        lists = await organisation_tickets(session, organisation.id)
        assert lists is not None
        fresh = lists.organisation

        async def cards(tickets: list[Ticket], *, holding: bool) -> list[dict[str, Any]]:
            return [
                await _card(
                    session,
                    fresh,
                    ticket,
                    language,
                    timezone,
                    contact=holding and ticket.status in HOLDER_STATUSES,
                )
                for ticket in tickets
            ]

        open_tickets = await cards(lists.claimable, holding=False)
        mine = await cards(lists.held, holding=True)
        closed = await cards(lists.closed, holding=False)
    return {
        "organisation": fresh,
        "open_tickets": open_tickets,
        "mine": mine,
        "closed": closed,
        "standing": lists.standing,
        "reasons": RELEASE_REASONS,
    }


def _home_page(
    request: Request,
    context: dict[str, Any],
    *,
    flash: str | None = None,
    flash_kind: str = "ok",
    status: int = 200,
) -> HTMLResponse:
    return render(
        request,
        "org/home.html",
        {**context, "flash": flash, "flash_kind": flash_kind},
        status=status,
    )


@router.get("")
async def home(
    request: Request,
    organisation: SignedInOrganisation,
    ok: str | None = None,
    number: str | None = None,
) -> Response:
    """The organisation's page: tickets it may claim, its tickets, its closed ones."""
    language = request_language(request)
    flash = None
    if ok in ACTIONS and is_number(number or ""):
        flash = t(f"org_page_ok_{ok}", language, number=number or "")
    context = await _home_context(request, organisation, language)
    return _home_page(request, context, flash=flash)


# --- actions ------------------------------------------------------------------------------


async def _problem(
    request: Request, number: str, exc: ServiceError, language: str
) -> tuple[int, str]:
    """The status code and sentence for a refused action (web.errors' one map); a move
    the ticket's state no longer allows answers with that state in words."""
    meaning = meaning_of(exc)
    if meaning.key != "ticket_now":
        holder = getattr(exc, "holder", None)
        return meaning.status, t(meaning.key, language, number=number, holder=holder)
    async with request_state(request).sessionmaker() as session:
        ticket = await get_ticket(session, number)
    status = status_name(ticket.status, language)
    return meaning.status, t("ticket_now", language, number=number, status=status)


@router.post("/tickets/{number}/{action}", dependencies=[Csrf])
async def act(
    request: Request,
    organisation: SignedInOrganisation,
    number: str,
    action: str,
    note: Annotated[str, Form(max_length=MAX_NOTE)] = "",
    reason: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    """Claim, start, finish (with an optional note for the resident) or release (with a
    reason) a ticket, as the Telegram buttons do; the notifier is woken after."""
    language = request_language(request)
    if action not in ACTIONS or not is_number(number):
        context = await _home_context(request, organisation, language)
        message = t("ticket_not_found", language, number=number[:20])
        return _home_page(request, context, flash=message, flash_kind="error", status=404)
    note_text = note.replace("\x00", "").strip() or None
    release_reason = reason if reason in RELEASE_REASONS else "reason_other"

    async def claim(session: AsyncSession) -> None:
        await workflow.claim(session, number=number, organisation=organisation)

    async def start(session: AsyncSession) -> None:
        await workflow.start(session, number=number, organisation=organisation)

    async def done(session: AsyncSession) -> None:
        await workflow.done(session, number=number, organisation=organisation, note=note_text)

    async def release(session: AsyncSession) -> None:
        await workflow.release(
            session, number=number, organisation=organisation, reason=release_reason
        )

    steps: dict[str, Callable[[AsyncSession], Awaitable[None]]] = {
        "claim": claim,
        "start": start,
        "done": done,
        "release": release,
    }
    try:
        async with transaction(request) as session:
            await steps[action](session)
    except (TicketNotFound, AlreadyTaken, IllegalTransition, NotEligible, NotYourTicket) as exc:
        status, message = await _problem(request, number, exc, language)
        context = await _home_context(request, organisation, language)
        return _home_page(request, context, flash=message, flash_kind="error", status=status)
    await request_state(request).waker.wake()
    return see_other(f"{HOME}?{urlencode({'ok': action, 'number': number})}")


# --- the web password ---------------------------------------------------------------------

PASSWORD_PAGE = f"{HOME}/password"
# ?ok= of the password page after a change: the catalogue sentence to show.
PASSWORD_DONE = {"set": "org_page_ok_password", "changed": "account_password_changed"}


def _password_page(
    request: Request,
    organisation: Organisation,
    *,
    flash: str | None = None,
    kind: str = "ok",
    status: int = 200,
) -> HTMLResponse:
    has_password = organisation.password_hash is not None
    context = form_context(
        action=PASSWORD_PAGE,
        needs_current=has_password,
        current_label="account_current_password_or_token",
        first_time=not has_password,
    )
    return render(
        request, "org/password.html", {**context, "flash": flash, "flash_kind": kind}, status=status
    )


async def _proves_the_organisation(organisation: Organisation, secret: str) -> bool:
    """The current password, or the API token (the organisation's master credential)."""
    if await password_matches(organisation.password_hash, secret):
        return True
    token = secret.strip()
    stored = organisation.token_hash or ""
    return bool(token and stored) and hmac.compare_digest(digest(token), stored)


@router.get("/password")
async def password_page(
    request: Request, organisation: SignedInOrganisation, ok: str | None = None
) -> Response:
    """Set the first web password, or change it (current password or API token asked)."""
    key = PASSWORD_DONE.get(ok or "")
    flash = t(key, request_language(request)) if key else None
    return _password_page(request, organisation, flash=flash)


@router.post("/password", dependencies=[Csrf])
async def password(
    request: Request,
    organisation: SignedInOrganisation,
    current_password: Annotated[str, Form(max_length=MAX_FIELD)] = "",
    new_password: Annotated[str, Form(max_length=MAX_FIELD)] = "",
    confirm: Annotated[str, Form(max_length=MAX_FIELD)] = "",
) -> Response:
    """Set or change the organisation's web password (for sign-in by name). With a
    password already set, the current one (or the API token) is checked through the
    sign-in throttle. Every other session of the organisation ends; this one stays."""
    language = request_language(request)
    problem = new_password_problem(new_password, confirm, name=organisation.name, language=language)
    if problem is not None:
        return _password_page(request, organisation, flash=problem, kind="error", status=400)
    throttle = request_state(request).login_throttle
    attempt: Attempt | None = None
    signed_in = await current_session(request)
    assert signed_in is not None
    async with transaction(request) as session:
        fresh = await session.get(Organisation, organisation.id)
        assert fresh is not None
        first_time = fresh.password_hash is None
        if not first_time:
            attempt = await throttle.begin(
                account=account_key("org", fresh.name), ip=client_ip(request)
            )
            if attempt.refused:
                refused = throttled_sentence(attempt, language)
                page = _password_page(request, fresh, flash=refused, kind="error", status=429)
                return with_retry_after(page, attempt)
            if not await _proves_the_organisation(fresh, current_password):
                wrong = t("account_password_wrong_current", language)
                return _password_page(request, fresh, flash=wrong, kind="error", status=400)
        await set_organisation_password(session, fresh, new_password)
        await end_other_sessions(session, signed_in)
    if attempt is not None:
        await throttle.succeeded(attempt)
    done = "set" if first_time else "changed"
    return see_other(f"{PASSWORD_PAGE}?{urlencode({'ok': done})}")
