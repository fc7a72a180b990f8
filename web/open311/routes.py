"""The Open311 routes: each reads its parameters (params), asks services and answers
with a document (views) in the format of its suffix (formats)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine, Sequence
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, Header, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException

from services.api_clients import (
    MAX_MEDIA_URL,
    NewRequest,
    api_key_by_secret,
    file_request,
    valid_media_url,
)
from services.categories import list_categories
from services.errors import ServiceError, TicketNotFound, UnknownCategory
from services.parsing import parse_phone
from services.public_tickets import (
    MAX_IDS,
    MAX_RESULTS,
    PublicTicket,
    TicketQuery,
    find_ticket,
    find_tickets,
    public_tickets,
)
from web.errors import meaning_of
from web.open311 import views
from web.open311.formats import FORMATS, error_response, format_of, render, render_status
from web.open311.params import (
    MAX_ADDRESS,
    MAX_SHORT,
    MAX_TEXT,
    Open311Error,
    check_format,
    coordinate_param,
    datetime_param,
    language_param,
    list_param,
    preferred_time_at,
    text_param,
    validation_message,
    window,
)
from web.state import WebState, request_state

logger = logging.getLogger(__name__)


def _status_of(exc: ServiceError) -> int:
    """web.errors' one map, in GeoReport v2's codes: a refused value is a 400 there
    (the spec has no 422)."""
    status = meaning_of(exc).status
    return 400 if status == 422 else status


class Open311Route(APIRoute):
    """A route whose every error is answered in the Open311 format of its suffix."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except Open311Error as exc:
                return error_response(format_of(request), exc.status_code, exc.description)
            except RequestValidationError as exc:
                return error_response(format_of(request), 400, validation_message(exc))
            except TicketNotFound:
                return error_response(format_of(request), 404, "No such service request.")
            except UnknownCategory:
                return error_response(format_of(request), 404, "No such service.")
            except ServiceError as exc:
                logger.warning("open311.service_error %r", exc)
                return error_response(format_of(request), _status_of(exc), str(exc))
            except StarletteHTTPException as exc:
                return error_response(format_of(request), exc.status_code, str(exc.detail))

        return handle


router = APIRouter(prefix="/open311", tags=["open311"], route_class=Open311Route)
State = Annotated[WebState, Depends(request_state)]
FormatParam = Annotated[
    str,
    Path(description="Response format: json or xml.", json_schema_extra={"enum": list(FORMATS)}),
]
JurisdictionParam = Annotated[
    str | None,
    Query(max_length=MAX_SHORT, description="Accepted and ignored: one jurisdiction here."),
]


def _answer(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {}, "text/xml": {}}}


_ERRORS: dict[int | str, dict[str, Any]] = {
    400: _answer("Invalid parameters: [{code, description}]"),
    404: _answer("Unknown resource or format suffix"),
    # Declared so that FastAPI does not document its 422: these routes answer 400.
    "4XX": _answer("Any other client error, in the same format"),
}


def _ok(description: str) -> dict[int | str, dict[str, Any]]:
    return {200: _answer(description), **_ERRORS}


# --- discovery and services --------------------------------------------------------------


@router.get("/discovery.{format}", summary="Open311 service discovery", responses=_ok("Discovery"))
async def discovery(request: Request, format: FormatParam) -> Response:
    """Where the GeoReport v2 endpoint is, its formats and how to get an API key."""
    fmt = check_format(format)
    payload = views.discovery(str(request.base_url).rstrip("/"))
    return render(fmt, payload, root="discovery")


@router.get("/v2/services.{format}", summary="Service list", responses=_ok("The services"))
async def services(
    state: State, format: FormatParam, jurisdiction_id: JurisdictionParam = None
) -> Response:
    """Every service (our categories) that can be requested."""
    fmt = check_format(format)
    async with state.sessionmaker() as session:
        categories = await list_categories(session)
    payload = [views.service(c) for c in categories.values()]
    return render(fmt, payload, root="services", item="service")


@router.get(
    "/v2/services/{service_code}.{format}",
    summary="Service definition",
    responses=_ok("The service's attributes"),
)
async def service_definition(
    state: State,
    service_code: Annotated[str, Path(description="A service_code from the service list.")],
    format: FormatParam,
    jurisdiction_id: JurisdictionParam = None,
) -> Response:
    """The extra questions (attributes) of one service."""
    fmt = check_format(format)
    async with state.sessionmaker() as session:
        category = (await list_categories(session)).get(service_code)
    if category is None:
        raise Open311Error(404, f"No service has the code {service_code[:40]!r}.")
    return render(fmt, views.service_definition(category), root="service_definition")


# --- reading requests --------------------------------------------------------------------


def _requests(fmt: str, state: WebState, shown: Sequence[PublicTicket]) -> Response:
    """Tickets as a list of Open311 requests, datetimes in the configured timezone."""
    tz = ZoneInfo(state.settings.timezone)
    payload = [views.request(t, tz) for t in shown]
    return render(fmt, payload, root="service_requests", item="request")


@router.get("/v2/requests.{format}", summary="Service requests", responses=_ok("The requests"))
async def requests(
    state: State,
    format: FormatParam,
    service_request_id: Annotated[
        str | None,
        Query(
            max_length=4000,
            description="Comma-separated service_request_ids; overrides every other filter.",
        ),
    ] = None,
    service_code: Annotated[
        str | None, Query(max_length=1000, description="Comma-separated service codes.")
    ] = None,
    start_date: Annotated[
        str | None, Query(max_length=64, description="Earliest requested_datetime (ISO 8601).")
    ] = None,
    end_date: Annotated[
        str | None, Query(max_length=64, description="Latest requested_datetime (ISO 8601).")
    ] = None,
    status: Annotated[
        str | None, Query(max_length=64, description="open, closed or open,closed (default).")
    ] = None,
    page: Annotated[int, Query(ge=1, le=100_000, description="Extension: page number.")] = 1,
    page_size: Annotated[
        int, Query(ge=1, le=MAX_RESULTS, description="Extension: results per page.")
    ] = MAX_RESULTS,
    jurisdiction_id: JurisdictionParam = None,
) -> Response:
    """Requests filed in a window (default: the last 90 days; at most 1000), newest first."""
    fmt = check_format(format)
    numbers = tuple(n for n in list_param(service_request_id) if len(n) <= 40)
    if numbers:
        query = TicketQuery(numbers=numbers[:MAX_IDS])
    else:
        wanted = list_param(status)
        if any(s not in ("open", "closed") for s in wanted):
            raise Open311Error(400, "status must be open, closed or both (comma-separated).")
        start, end = window(
            datetime_param(start_date, "start_date"), datetime_param(end_date, "end_date")
        )
        both = not wanted or set(wanted) == {"open", "closed"}
        query = TicketQuery(
            category_codes=tuple(c for c in list_param(service_code) if len(c) <= 32),
            statuses=() if both else tuple(views.statuses_for(wanted)),
            start=start,
            end=end,
            limit=page_size,
            offset=(page - 1) * page_size,
        )
    async with state.sessionmaker() as session:
        shown = await public_tickets(session, await find_tickets(session, query))
    return _requests(fmt, state, shown)


@router.get(
    "/v2/requests/{service_request_id}.{format}",
    summary="One service request",
    responses=_ok("The request (a list of one)"),
)
async def request_by_id(
    state: State,
    service_request_id: Annotated[str, Path(description="The ticket number, e.g. RO-261122-0007.")],
    format: FormatParam,
    jurisdiction_id: JurisdictionParam = None,
) -> Response:
    """One request by its service_request_id (our ticket number)."""
    fmt = check_format(format)
    async with state.sessionmaker() as session:
        ticket = await find_ticket(session, service_request_id)
        if ticket is None:
            raise Open311Error(404, f"No service request {service_request_id[:40]!r}.")
        shown = await public_tickets(session, [ticket])
    return _requests(fmt, state, shown)


# --- filing a request --------------------------------------------------------------------

FormText = Annotated[str | None, Form(max_length=MAX_TEXT)]


@router.post(
    "/v2/requests.{format}",
    summary="File a service request",
    status_code=201,
    responses={
        201: _answer("Filed: [{service_request_id, service_notice, account_id}]"),
        200: _answer("A retry of a request filed before: the same answer"),
        403: _answer("api_key missing or not valid"),
        **_ERRORS,
    },
)
async def post_request(
    request: Request,
    state: State,
    format: FormatParam,
    api_key: Annotated[
        str | None, Form(description="The client's key (orders apikey add).")
    ] = None,
    service_code: Annotated[str | None, Form(description="From the service list.")] = None,
    lat: Annotated[str | None, Form(description="Latitude (WGS84); with long.")] = None,
    long: Annotated[str | None, Form(description="Longitude (WGS84); with lat.")] = None,
    address_string: Annotated[str | None, Form(description="The address, if no lat/long.")] = None,
    address_id: FormText = None,
    description: FormText = None,
    email: FormText = None,
    device_id: FormText = None,
    account_id: FormText = None,
    first_name: FormText = None,
    last_name: FormText = None,
    phone: FormText = None,
    media_url: FormText = None,
    jurisdiction_id: FormText = None,
    preferred_time: Annotated[
        str | None,
        Form(alias="attribute[preferred_time]", description="When would suit the resident."),
    ] = None,
    language: Annotated[
        str | None, Form(alias="attribute[language]", description="zh or en.")
    ] = None,
    idempotency_key: Annotated[
        str | None,
        Form(description="Extension: a client token; a retry with it files nothing new."),
    ] = None,
    idempotency_header: Annotated[
        str | None, Header(alias="Idempotency-Key", include_in_schema=False)
    ] = None,
) -> Response:
    """File a request as a resident of the `open311` channel (api_key required)."""
    fmt = check_format(format)
    secret = api_key if api_key is not None else request.query_params.get("api_key")
    async with state.sessionmaker() as session, session.begin():
        key = await api_key_by_secret(session, secret)
        if key is None:
            raise Open311Error(403, "api_key is missing or not valid.")
        code = text_param(service_code, "service_code", 32)
        if code is None:
            raise Open311Error(400, "service_code is required.")
        category = (await list_categories(session)).get(code)
        if category is None:
            raise Open311Error(400, f"service_code {code!r} is not a service; see services.")
        latitude = coordinate_param(lat, "lat", 90)
        longitude = coordinate_param(long, "long", 180)
        address = text_param(address_string, "address_string", MAX_ADDRESS)
        if (latitude is None) != (longitude is None):
            raise Open311Error(400, "lat and long go together.")
        if latitude is None and address is None:
            raise Open311Error(400, "A location is required: lat and long, or address_string.")
        text = text_param(description, "description", MAX_TEXT)
        raw_phone = text_param(phone, "phone", 40)
        phone_e164 = parse_phone(raw_phone) if raw_phone else None
        if raw_phone and phone_e164 is None:
            raise Open311Error(400, "phone is not a valid phone number.")
        media = text_param(media_url, "media_url", MAX_MEDIA_URL)
        if media is not None and not valid_media_url(media):
            raise Open311Error(400, "media_url must be an absolute http(s) URL with a host.")
        time_text = text_param(preferred_time, "attribute[preferred_time]", MAX_SHORT)
        names = [text_param(first_name, "first_name", 64), text_param(last_name, "last_name", 64)]
        identity = (
            text_param(device_id, "device_id", MAX_SHORT)
            or text_param(account_id, "account_id", MAX_SHORT)
            or text_param(email, "email", 254)
        )
        text_param(address_id, "address_id", MAX_SHORT)
        text_param(jurisdiction_id, "jurisdiction_id", MAX_SHORT)
        token = text_param(idempotency_key or idempotency_header, "idempotency_key", 200)
        new = NewRequest(
            category_code=category.code,
            description=text,
            address=address,
            latitude=latitude,
            longitude=longitude,
            phone=phone_e164,
            preferred_time_text=time_text,
            preferred_time_at=await preferred_time_at(time_text, state.settings.timezone),
            language=language_param(text_param(language, "attribute[language]", 8), text),
            identity=identity,
            # Two names of 64 make 129 characters: the column (like PostgreSQL) holds 128.
            display_name=" ".join(n for n in names if n)[:MAX_SHORT] or None,
            media_url=media,
            idempotency_token=token,
        )
        ticket, created = await file_request(session, api_key=key, request=new, category=category)
        body = [views.filed(ticket, text_param(account_id, "account_id", MAX_SHORT))]
    if created:
        await state.waker.wake()
    return render_status(
        fmt, body, root="service_requests", item="request", status_code=201 if created else 200
    )


# --- anything else under /open311 ----------------------------------------------------------


@router.api_route(
    "/{rest:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"], include_in_schema=False
)
async def unknown(rest: str) -> Response:
    """Unknown resources are 404 in the Open311 format (of their suffix)."""
    raise Open311Error(404, "No such Open311 resource; see /open311/discovery.json.")
