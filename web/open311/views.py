"""Our categories and tickets as Open311 documents: discovery, services and their
definitions, requests with their status and status notes, the answer to a filing."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from services.lifecycle import TicketStatus
from services.models import Category, Ticket
from services.public_tickets import PublicTicket

S = TicketStatus
SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
# When the service list or definitions last changed in a way clients should notice.
CHANGESET = "2026-11-22T00:00:00Z"

# --- statuses ----------------------------------------------------------------------------

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


def status_notes(ticket: PublicTicket) -> str:
    """The sentence that says where a request stands."""
    if ticket.merged_into is not None:
        return f"Merged into {ticket.merged_into}, a request about the same problem."
    return STATUS_NOTES.get(ticket.status, ticket.status)


# --- discovery and services --------------------------------------------------------------


def discovery(base_url: str) -> dict[str, Any]:
    """Where the GeoReport v2 endpoint is, its formats and how to get an API key."""
    return {
        "changeset": CHANGESET,
        "contact": "The community service centre that runs Resident Orders.",
        "key_service": "API keys are issued by the operators: orders apikey add --name NAME.",
        "endpoints": [
            {
                "specification": SPECIFICATION,
                "url": f"{base_url}/open311/v2",
                "changeset": CHANGESET,
                "type": "production",
                "formats": ["text/xml", "application/json"],
            }
        ],
    }


def service(category: Category) -> dict[str, Any]:
    """A category as an Open311 service."""
    return {
        "service_code": category.code,
        "service_name": category.name_en,
        "description": f"{category.name_zh} / {category.name_en}",
        "metadata": True,
        "type": "realtime",
        "keywords": f"{category.code},{category.name_zh}",
        "group": "community services",
    }


@dataclass(frozen=True)
class AttributeValue:
    """One choice of a list attribute."""

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


def _attribute(attribute: Attribute) -> dict[str, Any]:
    return {
        "variable": attribute.variable,
        "code": attribute.code,
        "datatype": attribute.datatype,
        "required": attribute.required,
        "datatype_description": attribute.datatype_description,
        "order": attribute.order,
        "description": attribute.description,
        "values": [{"key": v.key, "name": v.name} for v in attribute.values],
    }


def service_definition(category: Category) -> dict[str, Any]:
    """A service's definition: the same attributes for every service."""
    return {
        "service_code": category.code,
        "attributes": [_attribute(a) for a in ATTRIBUTES],
    }


# --- requests ----------------------------------------------------------------------------


def _iso(value: datetime | None, tz: ZoneInfo) -> str | None:
    if value is None:
        return None
    return value.astimezone(tz).isoformat(timespec="seconds")


def request(ticket: PublicTicket, tz: ZoneInfo) -> dict[str, Any]:
    """A ticket as an Open311 request, its datetimes in the timezone `tz`."""
    return {
        "service_request_id": ticket.number,
        "status": open311_status(ticket.status),
        "status_notes": status_notes(ticket),
        "service_name": ticket.category.name_en if ticket.category else None,
        "service_code": ticket.category_code,
        "description": ticket.description,
        "agency_responsible": ticket.organisation_name,
        "service_notice": None,
        "requested_datetime": _iso(ticket.created_at, tz),
        "updated_datetime": _iso(ticket.updated_at, tz),
        "expected_datetime": _iso(ticket.expected_at, tz),
        "address": ticket.address,
        "address_id": None,
        "zipcode": None,
        "lat": ticket.latitude,
        "long": ticket.longitude,
        "media_url": ticket.media_url,
    }


def filed(ticket: Ticket, account_id: str | None) -> dict[str, Any]:
    """The answer to a filing: the request's id and what happens to it next."""
    notice = (
        "Community staff review this request before organisations see it."
        if ticket.status == "submitted"
        else "Offered to the organisations that serve it."
    )
    return {
        "service_request_id": ticket.number,
        "service_notice": notice,
        "account_id": account_id,
    }
