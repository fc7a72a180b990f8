"""The queue: every ticket staff may see, filtered and sorted, refreshing itself
(htmx polls the rows fragment every few seconds)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.datastructures import QueryParams

from services.lifecycle import TicketStatus
from services.management import list_categories, list_communities, list_organisations
from services.models import Staff
from services.parties import Role
from services.queue import QueueQuery, Sort, StatusFilter, search_queue
from web.pages import parse_date, parse_int, render, transaction
from web.sessions import StaffMember

router = APIRouter(include_in_schema=False)
POLL_SECONDS = 3
FILTER_FIELDS = (
    "status",
    "category",
    "community",
    "organisation",
    "from",
    "to",
    "attention",
    "q",
    "sort",
)
STATUS_CHOICES = [
    StatusFilter.ACTIVE.value,
    StatusFilter.ALL.value,
    *[s.value for s in TicketStatus],
]


def visible_communities(staff: Staff) -> list[int] | None:
    """The communities a staff member sees (None: every one, for admins)."""
    if staff.role == Role.ADMIN.value:
        return None
    return [community.id for community in staff.communities]


def parse_queue(params: QueryParams, staff: Staff, timezone: str) -> QueueQuery:
    """The queue query from the filter form's fields; malformed values are ignored."""
    status = params.get("status") or StatusFilter.ACTIVE.value
    if status not in STATUS_CHOICES:
        status = StatusFilter.ACTIVE.value
    sort_name = params.get("sort") or Sort.ATTENTION.value
    sort = Sort(sort_name) if sort_name in {s.value for s in Sort} else Sort.ATTENTION
    return QueueQuery(
        communities=visible_communities(staff),
        status=status,
        category=(params.get("category") or None),
        community_id=parse_int(params.get("community")),
        organisation_id=parse_int(params.get("organisation")),
        created_from=parse_date(params.get("from"), "from"),
        created_to=parse_date(params.get("to"), "to"),
        attention_only=params.get("attention") == "1",
        search=(params.get("q") or "").strip() or None,
        sort=sort,
        page=parse_int(params.get("page")) or 1,
        timezone=timezone,
    )


def filter_query(params: QueryParams, **changes: Any) -> str:
    """The filter fields as a query string (for polling and paging links)."""
    values = {name: params.get(name, "") for name in FILTER_FIELDS}
    values |= {name: str(value) for name, value in changes.items()}
    return urlencode({k: v for k, v in values.items() if v})


async def _page_context(request: Request, staff: Staff) -> dict[str, Any]:
    timezone = request.app.state.web.settings.timezone
    query = parse_queue(request.query_params, staff, timezone)
    async with transaction(request) as session:
        page = await search_queue(session, query)
        categories = await list_categories(session)
        communities = [
            c
            for c in await list_communities(session)
            if query.communities is None or c.id in query.communities
        ]
        organisations = await list_organisations(session)
    params = request.query_params
    return {
        "page": page,
        "query": query,
        "params": params,
        "filters": filter_query(params),
        "next_link": filter_query(params, page=page.page + 1),
        "previous_link": filter_query(params, page=page.page - 1),
        "poll_link": filter_query(params, page=page.page),
        "poll_seconds": POLL_SECONDS,
        "categories": categories,
        "communities": communities,
        "organisations": organisations,
        "statuses": STATUS_CHOICES,
        "sorts": [s.value for s in Sort],
    }


@router.get("/dashboard")
async def queue_page(request: Request, staff: StaffMember) -> Response:
    """The queue with its filters; the rows refresh themselves."""
    return render(request, "dashboard/queue.html", await _page_context(request, staff))


@router.get("/dashboard/rows")
async def queue_rows(request: Request, staff: StaffMember) -> Response:
    """The rows fragment htmx polls."""
    return render(request, "dashboard/_rows.html", await _page_context(request, staff))
