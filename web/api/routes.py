"""The JSON API's routes (web/api/): authenticate, act in one transaction, answer."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession

from services import emergency, workflow
from services.categories import category_codes
from services.errors import (
    AlreadyHolds,
    BadCredentials,
    NotFound,
    NotYourTicket,
    UnknownCategory,
)
from services.management import list_organisations
from services.models import Organisation, Staff, Ticket
from services.parties import get_organisation, organisation_by_token, staff_by_token, staff_sees
from services.ticket_access import check_visible, existing
from web.api.bodies import AssignBody, DoneBody, HandBody, NoteBody, ReasonBody
from web.api.views import shown_json
from web.errors import ApiError
from web.state import WebState, request_state

router = APIRouter(prefix="/api/tickets", tags=["tickets"])
organisations_router = APIRouter(prefix="/api/organisations", tags=["organisations"])


_bearer = HTTPBearer(
    auto_error=False,
    description="An organisation's token (`orders org add`) or a staff token (`orders staff add`).",
)
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
State = Annotated[WebState, Depends(request_state)]
TicketNumber = Annotated[
    str, Path(description="The ticket number residents see, e.g. RO-261122-0007.")
]


# --- authentication -----------------------------------------------------------------------

Kind = Literal["organisation", "staff"]


def _token(credentials: HTTPAuthorizationCredentials | None) -> str:
    if credentials is None or not credentials.credentials.strip():
        raise ApiError(
            401,
            "missing_token",
            "Send the token as 'Authorization: Bearer <token>'.",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return credentials.credentials.strip()


async def _known_as(session: AsyncSession, token: str, kind: Kind) -> bool:
    lookup = organisation_by_token if kind == "organisation" else staff_by_token
    try:
        await lookup(session, token)
    except BadCredentials:
        return False
    return True


async def _wrong_kind(session: AsyncSession, token: str, wanted: Kind) -> BadCredentials:
    """Forbid a valid token of the other kind; anything else is an unknown token."""
    other: Kind = "staff" if wanted == "organisation" else "organisation"
    if await _known_as(session, token, other):
        raise ApiError(
            403,
            "wrong_token_kind",
            f"This endpoint needs an {wanted} token; a {other} token was sent."
            if wanted == "organisation"
            else f"This endpoint needs a {wanted} token; an {other} token was sent.",
        )
    return BadCredentials(f"unknown {wanted} token")


async def _organisation(session: AsyncSession, token: str) -> Organisation:
    try:
        return await organisation_by_token(session, token)
    except BadCredentials:
        raise await _wrong_kind(session, token, "organisation") from None


async def _staff(session: AsyncSession, token: str) -> Staff:
    try:
        return await staff_by_token(session, token)
    except BadCredentials:
        raise await _wrong_kind(session, token, "staff") from None


# --- one request, one transaction ---------------------------------------------------------


def _version(ticket: Ticket) -> tuple[object, ...]:
    """What changes whenever a workflow step acts on the ticket."""
    return (
        ticket.status,
        ticket.organisation_id,
        ticket.updated_at,
        ticket.escalated_at,
        ticket.acknowledged_at,
    )


async def _respond(
    state: WebState,
    number: str,
    credentials: HTTPAuthorizationCredentials | None,
    kind: Kind,
    action: Callable[[AsyncSession, Organisation | Staff], Awaitable[Ticket]],
) -> JSONResponse:
    """Authenticate, act and answer in one transaction; wake the notifier after commit."""
    token = _token(credentials)
    async with state.sessionmaker() as session, session.begin():
        party: Organisation | Staff = (
            await _organisation(session, token)
            if kind == "organisation"
            else await _staff(session, token)
        )
        current = await existing(session, number)
        if isinstance(party, Organisation):
            await check_visible(session, party, current)
        before = _version(current)
        ticket = await action(session, party)
        changed = _version(ticket) != before
        body = await shown_json(session, party, ticket)
    if changed:
        await state.waker.wake()
    return JSONResponse(body)


def _as_organisation(party: Organisation | Staff) -> Organisation:
    assert isinstance(party, Organisation)
    return party


def _as_staff(party: Organisation | Staff) -> Staff:
    assert isinstance(party, Staff)
    return party


_ORG_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "No token, or an unknown one"},
    403: {"description": "A staff token, or the organisation may not act on this ticket"},
    404: {"description": "No ticket has this number, or none the organisation may know of"},
    409: {"description": "The ticket's status does not allow this (any more)"},
}
_STAFF_RESPONSES: dict[int | str, dict[str, Any]] = {
    **_ORG_RESPONSES,
    403: {"description": "An organisation token, or a ticket of another community"},
}


# --- reading ------------------------------------------------------------------------------


@router.get("/{number}", responses=_ORG_RESPONSES | {403: {"description": "Not yours to read"}})
async def read(number: TicketNumber, state: State, credentials: Credentials) -> JSONResponse:
    """Read a ticket, with an organisation token (a ticket it may claim or holds) or
    a staff token (a ticket of their communities)."""
    token = _token(credentials)
    async with state.sessionmaker() as session, session.begin():
        try:
            party: Organisation | Staff = await organisation_by_token(session, token)
        except BadCredentials:
            try:
                party = await staff_by_token(session, token)
            except BadCredentials:
                raise BadCredentials("unknown token") from None
        ticket = await existing(session, number)
        if isinstance(party, Staff):
            if not party.active or not staff_sees(party, ticket.community_id):
                raise NotYourTicket(number)
        else:
            await check_visible(session, party, ticket)
        body = await shown_json(session, party, ticket)
    return JSONResponse(body)


# --- organisations ------------------------------------------------------------------------


@router.post("/{number}/claim", responses=_ORG_RESPONSES)
async def claim(number: TicketNumber, state: State, credentials: Credentials) -> JSONResponse:
    """Claim a published ticket; exactly one organisation wins, the others get 409."""

    async def act(session: AsyncSession, party: Organisation | Staff) -> Ticket:
        return await workflow.claim(session, number=number, organisation=_as_organisation(party))

    return await _respond(state, number, credentials, "organisation", act)


@router.post("/{number}/start", responses=_ORG_RESPONSES)
async def start(number: TicketNumber, state: State, credentials: Credentials) -> JSONResponse:
    """Report that the work on a claimed ticket has started."""

    async def act(session: AsyncSession, party: Organisation | Staff) -> Ticket:
        return await workflow.start(session, number=number, organisation=_as_organisation(party))

    return await _respond(state, number, credentials, "organisation", act)


@router.post("/{number}/done", responses=_ORG_RESPONSES)
async def done(
    number: TicketNumber,
    state: State,
    credentials: Credentials,
    body: DoneBody | None = None,
) -> JSONResponse:
    """Report the work done (with an optional note); the resident is asked to rate it."""
    note = body.note if body is not None else None

    async def act(session: AsyncSession, party: Organisation | Staff) -> Ticket:
        return await workflow.done(
            session, number=number, organisation=_as_organisation(party), note=note
        )

    return await _respond(state, number, credentials, "organisation", act)


@router.post("/{number}/release", responses=_ORG_RESPONSES)
async def release(
    number: TicketNumber, body: ReasonBody, state: State, credentials: Credentials
) -> JSONResponse:
    """Give a held ticket back (a reason is required): it is published to the others."""

    async def act(session: AsyncSession, party: Organisation | Staff) -> Ticket:
        return await workflow.release(
            session, number=number, organisation=_as_organisation(party), reason=body.reason
        )

    return await _respond(state, number, credentials, "organisation", act)


# --- staff --------------------------------------------------------------------------------


@router.post("/{number}/approve", responses=_STAFF_RESPONSES)
async def approve(number: TicketNumber, state: State, credentials: Credentials) -> JSONResponse:
    """Approve a submitted ticket: it is published and offered to organisations."""

    async def act(session: AsyncSession, party: Organisation | Staff) -> Ticket:
        return await workflow.approve(session, number=number, staff=_as_staff(party))

    return await _respond(state, number, credentials, "staff", act)


@router.post("/{number}/reject", responses=_STAFF_RESPONSES)
async def reject(
    number: TicketNumber, body: ReasonBody, state: State, credentials: Credentials
) -> JSONResponse:
    """Reject a submitted ticket with a reason the resident is told."""

    async def act(session: AsyncSession, party: Organisation | Staff) -> Ticket:
        return await workflow.reject(
            session, number=number, staff=_as_staff(party), reason=body.reason
        )

    return await _respond(state, number, credentials, "staff", act)


@router.post("/{number}/assign", responses=_STAFF_RESPONSES)
async def assign(
    number: TicketNumber, body: AssignBody, state: State, credentials: Credentials
) -> JSONResponse:
    """Give the ticket to an organisation directly (approving it first if needed), or
    hand a claimed, in-progress or reopened ticket on to another organisation."""

    async def act(session: AsyncSession, party: Organisation | Staff) -> Ticket:
        try:
            organisation = await get_organisation(session, body.organisation_id)
        except NotFound:
            raise ApiError(
                422,
                "unknown_organisation",
                f"No organisation has the id {body.organisation_id}.",
            ) from None
        if not organisation.active:
            raise ApiError(
                422,
                "organisation_suspended",
                f"The organisation {body.organisation_id} is suspended.",
            )
        try:
            return await workflow.assign(
                session,
                number=number,
                staff=_as_staff(party),
                organisation=organisation,
                note=body.note,
            )
        except AlreadyHolds as exc:
            raise ApiError(
                409,
                "already_holder",
                f"The organisation {body.organisation_id} already holds the ticket.",
                status=exc.current,
                holder=organisation.name,
            ) from None

    return await _respond(state, number, credentials, "staff", act)


# --- emergency and hand-off tickets, for staff (services.emergency) ----------------------


def _note_of(body: NoteBody | None) -> str | None:
    return body.note if body is not None else None


@router.post("/{number}/acknowledge", responses=_STAFF_RESPONSES)
async def acknowledge(number: TicketNumber, state: State, credentials: Credentials) -> JSONResponse:
    """A staff member takes an emergency or hand-off ticket: it leaves the top of the
    queue, staff are no longer re-alerted, the resident hears someone is on it.
    Acknowledging again changes nothing."""

    async def act(session: AsyncSession, party: Organisation | Staff) -> Ticket:
        return await emergency.acknowledge(session, number=number, staff=_as_staff(party))

    return await _respond(state, number, credentials, "staff", act)


@router.post("/{number}/called-back", responses=_STAFF_RESPONSES)
async def called_back(
    number: TicketNumber, state: State, credentials: Credentials, body: NoteBody | None = None
) -> JSONResponse:
    """Log that staff called the resident back (acknowledges the ticket if nobody had)."""

    async def act(session: AsyncSession, party: Organisation | Staff) -> Ticket:
        return await emergency.called_back(
            session, number=number, staff=_as_staff(party), note=_note_of(body)
        )

    return await _respond(state, number, credentials, "staff", act)


@router.post("/{number}/help-arrived", responses=_STAFF_RESPONSES)
async def help_arrived(
    number: TicketNumber, state: State, credentials: Credentials, body: NoteBody | None = None
) -> JSONResponse:
    """Log that help reached the resident of an emergency (not a hand-off: 409)."""

    async def act(session: AsyncSession, party: Organisation | Staff) -> Ticket:
        return await emergency.help_arrived(
            session, number=number, staff=_as_staff(party), note=_note_of(body)
        )

    return await _respond(state, number, credentials, "staff", act)


@router.post("/{number}/resolve", responses=_STAFF_RESPONSES)
async def resolve(
    number: TicketNumber, state: State, credentials: Credentials, body: NoteBody | None = None
) -> JSONResponse:
    """Close an emergency or hand-off as dealt with; the resident is told."""

    async def act(session: AsyncSession, party: Organisation | Staff) -> Ticket:
        return await emergency.resolve(
            session, number=number, staff=_as_staff(party), note=_note_of(body)
        )

    return await _respond(state, number, credentials, "staff", act)


@router.post(
    "/{number}/hand-to-organisation",
    responses=_STAFF_RESPONSES | {422: {"description": "Not a category code"}},
)
async def hand_to_organisation(
    number: TicketNumber, body: HandBody, state: State, credentials: Credentials
) -> JSONResponse:
    """Make an emergency or hand-off an ordinary service ticket of `category`: published
    and offered to the organisations serving it (staff are asked to assign when none
    does); the resident is told."""

    async def act(session: AsyncSession, party: Organisation | Staff) -> Ticket:
        try:
            return await emergency.hand_to_organisation(
                session,
                number=number,
                staff=_as_staff(party),
                category_code=body.category,
                note=body.note,
            )
        except UnknownCategory:
            codes = await category_codes(session)
            raise ApiError(
                422,
                "unknown_category",
                f"No category has the code {body.category[:32]!r}; use one of: {', '.join(codes)}.",
                categories=codes,
            ) from None

    return await _respond(state, number, credentials, "staff", act)


# --- organisations, for staff -------------------------------------------------------------


def organisation_json(organisation: Organisation) -> dict[str, Any]:
    """An organisation as staff choosing whom to assign see it; `communities` is
    empty when it serves every community (`all_communities`)."""
    return {
        "id": organisation.id,
        "name": organisation.name,
        "categories": sorted(category.code for category in organisation.categories),
        "communities": sorted(community.id for community in organisation.communities),
        "all_communities": organisation.all_communities,
        "active": organisation.active,
    }


@organisations_router.get(
    "",
    responses={
        401: {"description": "No token, or an unknown one"},
        403: {"description": "An organisation token"},
    },
)
async def organisations(state: State, credentials: Credentials) -> JSONResponse:
    """Every organisation, suspended ones too, by name (staff token only)."""
    token = _token(credentials)
    async with state.sessionmaker() as session, session.begin():
        await _staff(session, token)
        body = [organisation_json(o) for o in await list_organisations(session)]
    return JSONResponse(body)
