"""The ticket page (every field, the photo, the map link, the timeline) and the
staff actions allowed in the ticket's state, through services.workflow.

A staff member only sees tickets of their communities (and those whose community
is not known); any other ticket number answers 404, as if it did not exist.
"""

from __future__ import annotations

import mimetypes
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import FileResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from i18n import has_key, t
from services import emergency, workflow
from services.errors import (
    IllegalTransition,
    InvalidInput,
    NotFound,
    NotYourTicket,
    ServiceError,
    TicketNotFound,
    UnknownCategory,
)
from services.lifecycle import HELD_OPEN, OPEN, TicketStatus
from services.management import list_categories
from services.models import Staff, Ticket
from services.numbers import NUMBER, is_number
from services.parties import get_organisation, staff_sees
from services.queue import TicketDetail, TimelineEntry, ticket_detail
from services.tickets import get_ticket
from web.errors import meaning_of
from web.pages import error_page, flash_text, language, render, see_other, transaction
from web.sessions import Csrf, StaffMember
from web.state import request_state

router = APIRouter(include_in_schema=False)

S = TicketStatus
MAX_TEXT = 2000
# Reasons offered as buttons; the resident reads them from the catalogue in their language.
REJECT_REASONS = ("reason_scope", "reason_info", "reason_duplicate")
CLOSE_REASONS = ("reason_handled", "reason_duplicate", "reason_scope")
_ASSIGNED = re.compile(r"^assigned to org:(\d+)(?:: (.*))?$", re.DOTALL)
_HANDED_OVER = re.compile(r"^from org:(\d+) to org:(\d+)(?:: (.*))?$", re.DOTALL)
_MERGED = re.compile(rf"^into ({NUMBER})$")
_RATED = re.compile(r"^rated (\d)$")
_ALERT_HANDED = re.compile(r"^from (emergency|handoff) to ([a-z_]+)(?:: (.*))?$", re.DOTALL)


def allowed_actions(ticket: Ticket) -> list[str]:
    """The staff actions the ticket's state allows, in the order the page shows them.
    An emergency or hand-off has its own (services.emergency), never approve/assign:
    it has no category and reaches no organisation until staff hand it to one."""
    status = TicketStatus(ticket.status)
    if emergency.is_alert(ticket):
        alert = [action.value for action in emergency.alert_actions(ticket)]
        return alert + (["merge", "close"] if status in OPEN else [])
    actions = []
    if status == S.SUBMITTED:
        actions += ["approve", "reject"]
    if status in OPEN:  # held ones are handed on to another organisation
        actions.append("assign")
    if status in OPEN and ticket.escalated_at is None:
        actions.append("escalate")
    if status in OPEN:
        actions.append("merge")
    if status in (*OPEN, S.DONE):
        actions.append("close")
    return actions


# Notes the system writes as codes, not anyone's words (services/tickets, services/alerts).
SYSTEM_NOTES = frozenset({"auto-published", "emergency", "handoff"})


def note_text(entry: TimelineEntry, detail: TicketDetail, lang: str) -> str | None:
    """An event's note for staff: reason codes and the workflow's own notes translated,
    anyone's words as they wrote them."""
    note = entry.event.note
    if not note:
        return None
    category = detail.category
    if note.startswith("reason_") and has_key(note):
        hours: Any = "-"
        if category is not None:
            hours = (
                category.sla_done_hours if note == "reason_overdue" else category.sla_claim_hours
            )
        return t(note, lang, hours=hours)
    names = detail.organisation_names
    if found := _ASSIGNED.match(note):
        name = names.get(int(found.group(1)), found.group(1))
        text = t("dash_note_assigned", lang, organisation=name)
        return f"{text}: {found.group(2)}" if found.group(2) else text
    if entry.event.action == workflow.HANDED_OVER and (found := _HANDED_OVER.match(note)):
        text = t(
            "dash_note_handed_over",
            lang,
            previous=names.get(int(found.group(1)), found.group(1)),
            organisation=names.get(int(found.group(2)), found.group(2)),
        )
        return f"{text}: {found.group(3)}" if found.group(3) else text
    if found := _MERGED.match(note):
        return t("dash_note_merged", lang, number=found.group(1))
    if found := _ALERT_HANDED.match(note):
        category = detail.category
        text = t(
            "dash_note_alert_handed",
            lang,
            kind=t(f"dash_kind_{found.group(1)}", lang),
            category=(category.name_zh if lang == "zh" else category.name_en)
            if category is not None and category.code == found.group(2)
            else found.group(2),
        )
        return f"{text}: {found.group(3)}" if found.group(3) else text
    if entry.event.action == emergency.REALERTED and note.isdigit():
        return t("dash_note_realerted", lang, minutes=note)
    if found := _RATED.match(note):
        return t("dash_note_rated", lang, stars=found.group(1))
    if note == "unrated":
        return t("dash_note_unrated", lang)
    if note in SYSTEM_NOTES:
        # Words, never the code ("auto-published", "emergency").
        return t("dash_note_" + note.replace("-", "_"), lang)
    if note.startswith("reason_"):
        return t("dash_note_other_reason", lang)  # a reason code this version has no words for
    return note


def map_link(latitude: float, longitude: float) -> str:
    """The OpenStreetMap page of a point."""
    return (
        f"https://www.openstreetmap.org/?mlat={latitude:.6f}&mlon={longitude:.6f}"
        f"#map=18/{latitude:.6f}/{longitude:.6f}"
    )


async def _visible_detail(session: AsyncSession, staff: Staff, number: str) -> TicketDetail | None:
    if not is_number(number):
        return None
    try:
        detail = await ticket_detail(session, number)
    except TicketNotFound:
        return None
    return detail if staff_sees(staff, detail.ticket.community_id) else None


@router.get("/dashboard/tickets/{number}")
async def ticket_page(request: Request, number: str, staff: StaffMember) -> Response:
    """Every field, the photo, the map link, the timeline and the allowed actions."""
    lang = language(request)
    async with transaction(request) as session:
        detail = await _visible_detail(session, staff, number)
        if detail is None:
            return error_page(request, 404, "dash_err_no_ticket")
        actions = allowed_actions(detail.ticket)
        assignable = (
            await workflow.assignable(session, detail.ticket) if "assign" in actions else []
        )
        categories = (
            await list_categories(session)
            if emergency.AlertAction.HAND_TO_ORGANISATION.value in actions
            else []
        )
    ticket = detail.ticket
    error = request.query_params.get("error") or ""
    return render(
        request,
        "dashboard/ticket.html",
        {
            "d": detail,
            "ticket": ticket,
            "actions": actions,
            "assignable": assignable,
            "alert": emergency.is_alert(ticket),
            "unacknowledged": emergency.needs_acknowledgement(ticket),
            "categories": categories,
            # A held ticket is handed on: the old holder loses it (and its contact).
            "handing_over": ticket.organisation_id is not None and ticket.status in HELD_OPEN,
            "notes": [note_text(entry, detail, lang) for entry in detail.timeline],
            "map_url": (
                map_link(ticket.latitude, ticket.longitude)
                if ticket.latitude is not None and ticket.longitude is not None
                else None
            ),
            "reject_reasons": REJECT_REASONS,
            "close_reasons": CLOSE_REASONS,
            "flash": flash_text(request),
            "error": t(error, lang) if error.startswith("dash_err_") and has_key(error) else None,
        },
    )


@router.get("/dashboard/tickets/{number}/photo")
async def ticket_photo(request: Request, number: str, staff: StaffMember) -> Response:
    """The resident's photo, for staff only (never a public URL)."""
    async with transaction(request) as session:
        detail = await _visible_detail(session, staff, number)
    photo = detail.ticket.photo_path if detail is not None else None
    # Stored names are plain file names (uuid.jpg); anything else is not ours to serve.
    if not photo or Path(photo).name != photo or photo.startswith("."):
        return error_page(request, 404, "dash_err_no_photo")
    path = request_state(request).settings.photos_dir / photo
    if not path.is_file():
        return error_page(request, 404, "dash_err_no_photo")
    media_type = mimetypes.guess_type(photo)[0] or "application/octet-stream"
    if not media_type.startswith("image/"):
        media_type = "application/octet-stream"
    return FileResponse(
        path,
        media_type=media_type,
        headers={"Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff"},
    )


# --- actions ------------------------------------------------------------------------------

Action = Callable[[AsyncSession, Ticket], Awaitable[bool]]


def _version(ticket: Ticket) -> tuple[object, ...]:
    return (
        ticket.status,
        ticket.organisation_id,
        ticket.updated_at,
        ticket.escalated_at,
        ticket.acknowledged_at,
    )


async def _act(request: Request, staff: Staff, number: str, name: str, action: Action) -> Response:
    """Run one workflow step for a ticket the staff member sees; wake the notifier
    after the commit when something changed; back to the ticket page."""
    page = f"/dashboard/tickets/{number}"
    if not is_number(number):
        return error_page(request, 404, "dash_err_no_ticket")
    try:
        async with transaction(request) as session:
            ticket = await get_ticket(session, number)
            if not staff_sees(staff, ticket.community_id):
                raise NotYourTicket(number)
            before = _version(ticket)
            changed = await action(session, ticket)
            changed = changed or _version(ticket) != before
    except (TicketNotFound, NotYourTicket) as exc:  # the ticket of the page
        return error_page(request, 404, meaning_of(exc).staff_key)
    except (NotFound, UnknownCategory):
        # What the form chose (an organisation, a category) is gone or was never offered.
        return see_other(f"{page}?error=dash_err_input")
    except ServiceError as exc:  # web.errors' one map
        return see_other(f"{page}?error={meaning_of(exc).staff_key}")
    if changed:
        await request_state(request).waker.wake()
    return see_other(f"{page}?done=dash_done_{name}")


def _reason(code: str, text: str, allowed: tuple[str, ...]) -> str:
    text = text.replace("\x00", "").strip()
    if text:
        return text[:MAX_TEXT]
    if code in allowed:
        return code
    raise InvalidInput("a reason is required")


Text = Annotated[str, Form(max_length=MAX_TEXT)]


@router.post("/dashboard/tickets/{number}/approve", dependencies=[Csrf])
async def approve(request: Request, number: str, staff: StaffMember) -> Response:
    """Approve a submitted ticket: published and offered to organisations."""

    async def act(session: AsyncSession, ticket: Ticket) -> bool:
        await workflow.approve(session, number=number, staff=staff)
        return False

    return await _act(request, staff, number, "approved", act)


@router.post("/dashboard/tickets/{number}/reject", dependencies=[Csrf])
async def reject(
    request: Request, number: str, staff: StaffMember, reason: Text = "", reason_text: Text = ""
) -> Response:
    """Reject a submitted ticket; the resident is told the reason."""

    async def act(session: AsyncSession, ticket: Ticket) -> bool:
        chosen = _reason(reason, reason_text, REJECT_REASONS)
        await workflow.reject(session, number=number, staff=staff, reason=chosen)
        return False

    return await _act(request, staff, number, "rejected", act)


@router.post("/dashboard/tickets/{number}/assign", dependencies=[Csrf])
async def assign(
    request: Request, number: str, staff: StaffMember, organisation_id: Text = "", note: Text = ""
) -> Response:
    """Give the ticket to an organisation directly, or hand a held one on (with a note)."""

    async def act(session: AsyncSession, ticket: Ticket) -> bool:
        if not organisation_id.isdigit() or len(organisation_id) > 9:
            raise InvalidInput("no organisation chosen")
        organisation = await get_organisation(session, int(organisation_id))
        words = note.replace("\x00", "").strip()[:MAX_TEXT] or None
        await workflow.assign(
            session, number=number, staff=staff, organisation=organisation, note=words
        )
        return False

    return await _act(request, staff, number, "assigned", act)


@router.post("/dashboard/tickets/{number}/escalate", dependencies=[Csrf])
async def escalate(request: Request, number: str, staff: StaffMember, note: Text = "") -> Response:
    """Escalate (吹哨) by hand, with the staff member's words."""

    async def act(session: AsyncSession, ticket: Ticket) -> bool:
        if ticket.status not in OPEN:
            raise IllegalTransition(ticket.status, "escalated")
        words = note.replace("\x00", "").strip() or t("dash_escalate_default", staff.language)
        return await workflow.escalate(
            session, ticket, actor=workflow.staff_actor(staff), note=words[:MAX_TEXT]
        )

    return await _act(request, staff, number, "escalated", act)


@router.post("/dashboard/tickets/{number}/merge", dependencies=[Csrf])
async def merge(request: Request, number: str, staff: StaffMember, into: Text = "") -> Response:
    """Merge the ticket as a duplicate of another (its residents follow that one)."""

    async def act(session: AsyncSession, ticket: Ticket) -> bool:
        target = into.strip().upper()
        if not is_number(target):
            raise InvalidInput("not a ticket number")
        try:
            await workflow.merge(session, number=number, into=target, staff=staff)
        except (TicketNotFound, NotYourTicket):
            # The other ticket does not exist, or is another community's.
            raise InvalidInput("unknown target") from None
        return False

    return await _act(request, staff, number, "merged", act)


@router.post("/dashboard/tickets/{number}/close", dependencies=[Csrf])
async def close(
    request: Request, number: str, staff: StaffMember, reason: Text = "", reason_text: Text = ""
) -> Response:
    """Close the ticket with a reason the resident is told."""

    async def act(session: AsyncSession, ticket: Ticket) -> bool:
        chosen = _reason(reason, reason_text, CLOSE_REASONS)
        await workflow.close(session, number=number, staff=staff, reason=chosen)
        return False

    return await _act(request, staff, number, "closed", act)


# --- emergency and hand-off tickets (services.emergency) ----------------------------------


def _words(text: str) -> str | None:
    return text.replace("\x00", "").strip()[:MAX_TEXT] or None


@router.post("/dashboard/tickets/{number}/acknowledge", dependencies=[Csrf])
async def acknowledge(request: Request, number: str, staff: StaffMember) -> Response:
    """ "I'm on it": the emergency or hand-off leaves the top of the queue, re-alerts stop."""

    async def act(session: AsyncSession, ticket: Ticket) -> bool:
        await emergency.acknowledge(session, number=number, staff=staff)
        return False

    return await _act(request, staff, number, "acknowledged", act)


@router.post("/dashboard/tickets/{number}/called-back", dependencies=[Csrf])
async def called_back(
    request: Request, number: str, staff: StaffMember, note: Text = ""
) -> Response:
    """Log that staff called the resident back (acknowledges the ticket)."""

    async def act(session: AsyncSession, ticket: Ticket) -> bool:
        await emergency.called_back(session, number=number, staff=staff, note=_words(note))
        return True

    return await _act(request, staff, number, "called_back", act)


@router.post("/dashboard/tickets/{number}/help-arrived", dependencies=[Csrf])
async def help_arrived(
    request: Request, number: str, staff: StaffMember, note: Text = ""
) -> Response:
    """Log that help reached the resident of an emergency (acknowledges the ticket)."""

    async def act(session: AsyncSession, ticket: Ticket) -> bool:
        await emergency.help_arrived(session, number=number, staff=staff, note=_words(note))
        return True

    return await _act(request, staff, number, "help_arrived", act)


@router.post("/dashboard/tickets/{number}/resolve", dependencies=[Csrf])
async def resolve(request: Request, number: str, staff: StaffMember, note: Text = "") -> Response:
    """Close the emergency or hand-off as dealt with; the resident is told."""

    async def act(session: AsyncSession, ticket: Ticket) -> bool:
        await emergency.resolve(session, number=number, staff=staff, note=_words(note))
        return False

    return await _act(request, staff, number, "resolved", act)


@router.post("/dashboard/tickets/{number}/hand-to-organisation", dependencies=[Csrf])
async def hand_to_organisation(
    request: Request, number: str, staff: StaffMember, category: Text = "", note: Text = ""
) -> Response:
    """Make it a service ticket of the chosen category, offered to organisations."""

    async def act(session: AsyncSession, ticket: Ticket) -> bool:
        code = category.strip()
        if not code:
            raise InvalidInput("no category chosen")
        await emergency.hand_to_organisation(
            session, number=number, staff=staff, category_code=code, note=_words(note)
        )
        return False

    return await _act(request, staff, number, "handed", act)
