"""Open311 GeoReport v2 under `/open311/v2/` and service discovery at `/open311/discovery`.

Every resource is `.json` or `.xml`; errors of these routes (400, 403, 404, also for
an unknown format suffix or path) are in the spec's format: a list of
{code, description} (`<errors><error>...` in XML), never the JSON API's shape.
The ticket number (RO-YYMMDD-NNNN) is the service_request_id. Requests as shown
carry no personal data (services/open311.py). See docs/open311.md.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
from collections.abc import Callable, Coroutine, Mapping, Sequence
from datetime import UTC, datetime
from typing import Annotated, Any
from xml.etree import ElementTree as ET
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, Header, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException

from services import open311 as domain
from services.errors import ServiceError, TicketNotFound, UnknownCategory
from services.models import Category
from services.open311 import Attribute, NewRequest, RequestQuery, RequestView
from services.parsing import parse_phone, parse_preferred_time
from services.tickets import aware_utc
from web.bounds import OutOfBounds, bounded_datetime
from web.state import WebState, request_state

logger = logging.getLogger(__name__)

FORMATS = ("json", "xml")
SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
# When the service list or definitions last changed in a way clients should notice.
CHANGESET = "2026-11-22T00:00:00Z"
MAX_TEXT = 2000
MAX_ADDRESS = 500
MAX_SHORT = 128
_HAN = re.compile(r"[\u4e00-\u9fff]")
# XML 1.0 cannot carry these characters at all, escaped or not.
_NOT_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
# Children of these lists are named like this in XML.
_XML_ITEMS = {
    "attributes": "attribute",
    "values": "value",
    "endpoints": "endpoint",
    "formats": "format",
}


class Open311Error(Exception):
    """An error answered in the Open311 format."""

    def __init__(self, status_code: int, description: str) -> None:
        super().__init__(description)
        self.status_code = status_code
        self.description = description


# --- rendering ---------------------------------------------------------------------------


def _xml_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return _NOT_XML.sub("", str(value))


def _xml_fill(element: ET.Element, value: object) -> None:
    if isinstance(value, Mapping):
        for key, child in value.items():
            _xml_child(element, str(key), child)
    else:
        element.text = _xml_text(value)


def _xml_child(parent: ET.Element, tag: str, value: object) -> None:
    element = ET.SubElement(parent, tag)
    if isinstance(value, list | tuple):
        for item in value:
            _xml_fill(ET.SubElement(element, _XML_ITEMS.get(tag, "item")), item)
    else:
        _xml_fill(element, value)


def render(
    fmt: str, payload: Sequence[Mapping[str, Any]] | Mapping[str, Any], *, root: str, item: str = ""
) -> Response:
    """The payload as JSON, or as XML under `root` (list items named `item`)."""
    return render_status(fmt, payload, root=root, item=item, status_code=200)


def render_status(
    fmt: str,
    payload: Sequence[Mapping[str, Any]] | Mapping[str, Any],
    *,
    root: str,
    item: str = "",
    status_code: int,
) -> Response:
    if fmt != "xml":
        return JSONResponse(
            payload, status_code=status_code, media_type="application/json; charset=utf-8"
        )
    element = ET.Element(root)
    if isinstance(payload, Mapping):
        _xml_fill(element, payload)
    else:
        for entry in payload:
            _xml_fill(ET.SubElement(element, item), entry)
    body = '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(element, encoding="unicode")
    return Response(
        body.encode("utf-8"), status_code=status_code, media_type="text/xml; charset=utf-8"
    )


def error_response(fmt: str, status_code: int, description: str) -> Response:
    """The spec's error body: [{code, description}] / <errors><error>...</error></errors>."""
    return render_status(
        fmt,
        [{"code": status_code, "description": description}],
        root="errors",
        item="error",
        status_code=status_code,
    )


def _format_of(request: Request) -> str:
    fmt = request.path_params.get("format")
    if fmt is None:
        fmt = request.url.path.rsplit(".", 1)[-1] if "." in request.url.path else "json"
    return fmt if fmt in FORMATS else "json"


def _validation_message(exc: RequestValidationError) -> str:
    problems = []
    for error in exc.errors()[:5]:
        location = [str(part) for part in error.get("loc", ()) if part not in ("query", "body")]
        problems.append(f"{'.'.join(location) or 'request'}: {error.get('msg', 'invalid')}")
    return "; ".join(problems) or "The request is not valid."


class Open311Route(APIRoute):
    """A route whose every error is answered in the Open311 format of its suffix."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except Open311Error as exc:
                return error_response(_format_of(request), exc.status_code, exc.description)
            except RequestValidationError as exc:
                return error_response(_format_of(request), 400, _validation_message(exc))
            except TicketNotFound:
                return error_response(_format_of(request), 404, "No such service request.")
            except UnknownCategory:
                return error_response(_format_of(request), 404, "No such service.")
            except ServiceError as exc:
                logger.warning("open311.service_error %r", exc)
                return error_response(_format_of(request), 400, str(exc))
            except StarletteHTTPException as exc:
                return error_response(_format_of(request), exc.status_code, str(exc.detail))

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


def _check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise Open311Error(404, f"Unknown format {fmt[:20]!r}: use .json or .xml.")
    return fmt


# --- values ------------------------------------------------------------------------------


def _iso(value: datetime | None, tz: ZoneInfo) -> str | None:
    if value is None:
        return None
    return value.astimezone(tz).isoformat(timespec="seconds")


def _parse_datetime(value: str | None, name: str) -> datetime | None:
    """A W3C/ISO 8601 datetime; without a timezone it is read as UTC."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise Open311Error(
            400, f"{name} must be an ISO 8601 datetime such as 2026-11-22T08:00:00Z."
        ) from None
    try:
        return bounded_datetime(parsed, name)
    except OutOfBounds as exc:
        raise Open311Error(400, exc.message) from None


def _split(value: str | None) -> list[str]:
    if value is None:
        return []
    return [part.strip() for part in value.split(",") if part.strip()]


def _text(value: str | None, name: str, max_length: int) -> str | None:
    if value is None:
        return None
    if "\x00" in value:
        raise Open311Error(400, f"{name} must not contain NUL characters.")
    value = value.strip()
    if len(value) > max_length:
        raise Open311Error(400, f"{name} is longer than {max_length} characters.")
    return value or None


def _coordinate(value: str | None, name: str, limit: float) -> float | None:
    text = _text(value, name, 40)
    if text is None:
        return None
    try:
        number = float(text)
    except ValueError:
        raise Open311Error(400, f"{name} must be a decimal number (WGS84 degrees).") from None
    if not math.isfinite(number) or abs(number) > limit:
        raise Open311Error(400, f"{name} must be between -{limit:g} and {limit:g}.")
    return number


# --- discovery and services --------------------------------------------------------------


@router.get("/discovery.{format}", summary="Open311 service discovery", responses=_ok("Discovery"))
async def discovery(request: Request, format: FormatParam) -> Response:
    """Where the GeoReport v2 endpoint is, its formats and how to get an API key."""
    fmt = _check_format(format)
    base = str(request.base_url).rstrip("/")
    payload = {
        "changeset": CHANGESET,
        "contact": "The community service centre that runs Resident Orders.",
        "key_service": "API keys are issued by the operators: orders apikey add --name NAME.",
        "endpoints": [
            {
                "specification": SPECIFICATION,
                "url": f"{base}/open311/v2",
                "changeset": CHANGESET,
                "type": "production",
                "formats": ["text/xml", "application/json"],
            }
        ],
    }
    return render(fmt, payload, root="discovery")


def _service(category: Category) -> dict[str, Any]:
    return {
        "service_code": category.code,
        "service_name": category.name_en,
        "description": f"{category.name_zh} / {category.name_en}",
        "metadata": True,
        "type": "realtime",
        "keywords": f"{category.code},{category.name_zh}",
        "group": "community services",
    }


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


@router.get("/v2/services.{format}", summary="Service list", responses=_ok("The services"))
async def services(
    state: State, format: FormatParam, jurisdiction_id: JurisdictionParam = None
) -> Response:
    """Every service (our categories) that can be requested."""
    fmt = _check_format(format)
    async with state.sessionmaker() as session:
        categories = await domain.list_services(session)
    return render(fmt, [_service(c) for c in categories], root="services", item="service")


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
    fmt = _check_format(format)
    async with state.sessionmaker() as session:
        category = await domain.get_service(session, service_code)
    if category is None:
        raise Open311Error(404, f"No service has the code {service_code[:40]!r}.")
    payload = {
        "service_code": category.code,
        "attributes": [_attribute(a) for a in domain.ATTRIBUTES],
    }
    return render(fmt, payload, root="service_definition")


# --- reading requests --------------------------------------------------------------------


def _request(view: RequestView, tz: ZoneInfo) -> dict[str, Any]:
    return {
        "service_request_id": view.service_request_id,
        "status": view.status,
        "status_notes": view.status_notes,
        "service_name": view.service_name,
        "service_code": view.service_code,
        "description": view.description,
        "agency_responsible": view.agency_responsible,
        "service_notice": view.service_notice,
        "requested_datetime": _iso(view.requested_datetime, tz),
        "updated_datetime": _iso(view.updated_datetime, tz),
        "expected_datetime": _iso(view.expected_datetime, tz),
        "address": view.address,
        "address_id": None,
        "zipcode": None,
        "lat": view.lat,
        "long": view.long,
        "media_url": view.media_url,
    }


def _window(start: datetime | None, end: datetime | None) -> tuple[datetime, datetime]:
    """The spec's default: the last 90 days; one side given, 90 days from/to it."""
    try:
        if start is None and end is None:
            end = aware_utc(None)
        if start is None:
            assert end is not None
            start = end - domain.DEFAULT_SPAN
        if end is None:
            end = start + domain.DEFAULT_SPAN
    except OverflowError:
        raise Open311Error(400, "start_date/end_date are out of range.") from None
    if start > end:
        raise Open311Error(400, "start_date must not be after end_date.")
    return start, end


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
        int, Query(ge=1, le=domain.MAX_RESULTS, description="Extension: results per page.")
    ] = domain.MAX_RESULTS,
    jurisdiction_id: JurisdictionParam = None,
) -> Response:
    """Requests filed in a window (default: the last 90 days; at most 1000), newest first."""
    fmt = _check_format(format)
    numbers = tuple(n for n in _split(service_request_id) if len(n) <= 40)
    if numbers:
        query = RequestQuery(numbers=numbers[: domain.MAX_IDS])
    else:
        statuses = _split(status)
        unknown = [s for s in statuses if s not in ("open", "closed")]
        if unknown:
            raise Open311Error(400, "status must be open, closed or both (comma-separated).")
        start, end = _window(
            _parse_datetime(start_date, "start_date"), _parse_datetime(end_date, "end_date")
        )
        query = RequestQuery(
            service_codes=tuple(c for c in _split(service_code) if len(c) <= 32),
            statuses=tuple(statuses),
            start=start,
            end=end,
            limit=page_size,
            offset=(page - 1) * page_size,
        )
    async with state.sessionmaker() as session:
        tickets = await domain.find_requests(session, query)
        views = await domain.request_views(session, tickets)
    tz = ZoneInfo(state.settings.timezone)
    return render(fmt, [_request(v, tz) for v in views], root="service_requests", item="request")


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
    fmt = _check_format(format)
    async with state.sessionmaker() as session:
        ticket = await domain.find_request(session, service_request_id)
        if ticket is None:
            raise Open311Error(404, f"No service request {service_request_id[:40]!r}.")
        views = await domain.request_views(session, [ticket])
    tz = ZoneInfo(state.settings.timezone)
    return render(fmt, [_request(v, tz) for v in views], root="service_requests", item="request")


# --- filing a request --------------------------------------------------------------------


def _language(explicit: str | None, description: str | None) -> str:
    if explicit is not None:
        if explicit not in ("zh", "en"):
            raise Open311Error(400, "attribute[language] must be zh or en.")
        return explicit
    return "zh" if description is None or _HAN.search(description) else "en"


async def _preferred_time(text: str | None, timezone: str) -> datetime | None:
    if text is None:
        return None
    try:
        window = await asyncio.to_thread(
            parse_preferred_time, text, now=aware_utc(None), timezone=timezone
        )
    except Exception as exc:  # the parsers' libraries fail in many ways on odd input
        logger.info("open311.time_unparsed error=%r", exc)
        return None
    return window.start.astimezone(UTC) if window is not None else None


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
    fmt = _check_format(format)
    secret = api_key if api_key is not None else request.query_params.get("api_key")
    async with state.sessionmaker() as session, session.begin():
        key = await domain.api_key_by_secret(session, secret)
        if key is None:
            raise Open311Error(403, "api_key is missing or not valid.")
        code = _text(service_code, "service_code", 32)
        if code is None:
            raise Open311Error(400, "service_code is required.")
        category = await domain.get_service(session, code)
        if category is None:
            raise Open311Error(400, f"service_code {code!r} is not a service; see services.")
        latitude = _coordinate(lat, "lat", 90)
        longitude = _coordinate(long, "long", 180)
        address = _text(address_string, "address_string", MAX_ADDRESS)
        if (latitude is None) != (longitude is None):
            raise Open311Error(400, "lat and long go together.")
        if latitude is None and address is None:
            raise Open311Error(400, "A location is required: lat and long, or address_string.")
        text = _text(description, "description", MAX_TEXT)
        raw_phone = _text(phone, "phone", 40)
        phone_e164 = parse_phone(raw_phone) if raw_phone else None
        if raw_phone and phone_e164 is None:
            raise Open311Error(400, "phone is not a valid phone number.")
        media = _text(media_url, "media_url", domain.MAX_MEDIA_URL)
        if media is not None and not domain.valid_media_url(media):
            raise Open311Error(400, "media_url must be an absolute http(s) URL with a host.")
        time_text = _text(preferred_time, "attribute[preferred_time]", MAX_SHORT)
        names = [_text(first_name, "first_name", 64), _text(last_name, "last_name", 64)]
        identity = (
            _text(device_id, "device_id", MAX_SHORT)
            or _text(account_id, "account_id", MAX_SHORT)
            or _text(email, "email", 254)
        )
        _text(address_id, "address_id", MAX_SHORT)
        _text(jurisdiction_id, "jurisdiction_id", MAX_SHORT)
        token = _text(idempotency_key or idempotency_header, "idempotency_key", 200)
        new = NewRequest(
            service_code=category.code,
            description=text,
            address=address,
            latitude=latitude,
            longitude=longitude,
            phone=phone_e164,
            preferred_time_text=time_text,
            preferred_time_at=await _preferred_time(time_text, state.settings.timezone),
            language=_language(_text(language, "attribute[language]", 8), text),
            identity=identity,
            # Two names of 64 make 129 characters: the column (like PostgreSQL) holds 128.
            display_name=" ".join(n for n in names if n)[:MAX_SHORT] or None,
            media_url=media,
            idempotency_token=token,
        )
        ticket, created = await domain.file_request(
            session, api_key=key, request=new, category=category
        )
        notice = (
            "Community staff review this request before organisations see it."
            if ticket.status == "submitted"
            else "Offered to the organisations that serve it."
        )
        body = [
            {
                "service_request_id": ticket.number,
                "service_notice": notice,
                "account_id": _text(account_id, "account_id", MAX_SHORT),
            }
        ]
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
