"""What the Open311 test files share: the spec's constants, the JSON and XML checks,
and filing through the API."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import datetime
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.models import Ticket
from services.tickets import NewTicket, get_or_create_resident
from services.workflow import file_ticket
from tests.web.conftest import unique

V2 = "/open311/v2"
NUMBER = re.compile(r"RO-\d{6}-\d{4,}")
CATEGORY_CODES = {
    "repair",
    "elder_care",
    "legal_aid",
    "mediation",
    "medical",
    "counselling",
    "childcare",
    "disability",
    "housekeeping",
    "property",
    "policy",
}
REQUEST_FIELDS = (
    "service_request_id",
    "status",
    "status_notes",
    "service_name",
    "service_code",
    "description",
    "agency_responsible",
    "service_notice",
    "requested_datetime",
    "updated_datetime",
    "expected_datetime",
    "address",
    "address_id",
    "zipcode",
    "lat",
    "long",
    "media_url",
)
FLAT_ADDRESS = "幸福小区3栋2单元501室"


def xml_root(response: httpx.Response, root: str) -> ET.Element:
    assert response.headers["content-type"].startswith("text/xml")
    assert response.text.startswith('<?xml version="1.0" encoding="UTF-8"?>')
    element = ET.fromstring(response.content)
    assert element.tag == root
    return element


def xml_record(element: ET.Element) -> dict[str, str]:
    """A flat element's children as {tag: text} ("" for empty elements)."""
    return {child.tag: child.text or "" for child in element}


def json_list(response: httpx.Response) -> list[dict[str, Any]]:
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert isinstance(body, list)
    return body


def assert_json_error(response: httpx.Response, status: int) -> str:
    assert response.status_code == status
    body = json_list(response)
    assert len(body) == 1 and set(body[0]) == {"code", "description"}
    assert body[0]["code"] == status
    assert isinstance(body[0]["description"], str) and body[0]["description"]
    return str(body[0]["description"])


def assert_xml_error(response: httpx.Response, status: int) -> str:
    assert response.status_code == status
    root = xml_root(response, "errors")
    errors = root.findall("error")
    assert len(errors) == 1
    record = xml_record(errors[0])
    assert set(record) == {"code", "description"}
    assert int(record["code"]) == status and record["description"]
    return record["description"]


def assert_error(response: httpx.Response, fmt: str, status: int) -> str:
    if fmt == "xml":
        return assert_xml_error(response, status)
    return assert_json_error(response, status)


def aware(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    assert parsed.tzinfo is not None, value
    return parsed


async def post(client: httpx.AsyncClient, fmt: str = "json", **fields: str) -> httpx.Response:
    return await client.post(f"{V2}/requests.{fmt}", data=fields)


def valid_fields(api_key: str, **extra: str) -> dict[str, str]:
    return {
        "api_key": api_key,
        "service_code": "repair",
        "lat": "31.20512",
        "long": "121.43561",
        "description": f"楼道灯坏了 {unique('d')}",
        **extra,
    }


async def ticket(db: async_sessionmaker[AsyncSession], number: str) -> Ticket:
    async with db() as session:
        found = await session.scalar(select(Ticket).where(Ticket.number == number))
        assert found is not None
        return found


async def filed_via_api(client: httpx.AsyncClient, api_key: str, **extra: str) -> str:
    response = await post(client, **valid_fields(api_key, **extra))
    assert response.status_code == 201, response.text
    return str(response.json()[0]["service_request_id"])


async def filed_via_chat(
    db: async_sessionmaker[AsyncSession], description: str, *, address: str = "幸福小区"
) -> str:
    """A web chat resident's ticket with these words, filed by the service function the
    chat's submit action calls (nlu/actions/tickets.py); returns its number."""
    async with db() as session, session.begin():
        resident = await get_or_create_resident(
            session, channel="web", external_id=unique("web-resident")
        )
        filed = (
            await file_ticket(
                session,
                resident=resident,
                request=NewTicket(
                    category_code="repair",
                    description=description,
                    address=address,
                    latitude=None,
                    longitude=None,
                    preferred_time_text="随时都可以",
                    preferred_time_at=None,
                    phone="+8613800000009",
                    photo_path=None,
                    language="zh",
                    idempotency_key=None,
                ),
            )
        ).ticket
        return filed.number


async def shown(client: httpx.AsyncClient, number: str) -> dict[str, Any]:
    """One request as Open311 shows it in JSON, checked against its XML twin."""
    (request,) = json_list(await client.get(f"{V2}/requests/{number}.json"))
    root = xml_root(await client.get(f"{V2}/requests/{number}.xml"), "service_requests")
    (element,) = root.findall("request")
    record = xml_record(element)
    for name in ("description", "address", "media_url"):
        assert record[name] == (request[name] or ""), name
    return request


def check_request_types(request: dict[str, Any]) -> None:
    assert set(request) == set(REQUEST_FIELDS)
    assert NUMBER.fullmatch(request["service_request_id"])
    assert request["status"] in ("open", "closed")
    assert isinstance(request["status_notes"], str) and request["status_notes"]
    aware(request["requested_datetime"])
    aware(request["updated_datetime"])
    if request["expected_datetime"] is not None:
        aware(request["expected_datetime"])
    for name in ("lat", "long"):
        assert request[name] is None or isinstance(request[name], float)
