"""Open311 GeoReport v2 conformance: every endpoint in JSON and XML (XML parsed with
xml.etree), the spec's defaults and filters, its error format, idempotent POSTs, and
`orders apikey add`. The privacy rule: test_open311_privacy.py."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from typer.testing import CliRunner

from app.cli import app as cli
from config.settings import Settings
from services import workflow
from services.api_clients import api_key_by_secret
from services.models import Organisation, Resident, Ticket
from services.tickets import NewTicket, get_or_create_resident
from tests.web.conftest import file, make_org, unique
from tests.web.open311_support import (
    CATEGORY_CODES,
    FLAT_ADDRESS,
    NUMBER,
    REQUEST_FIELDS,
    V2,
    assert_error,
    assert_json_error,
    aware,
    check_request_types,
    filed_via_api,
    json_list,
    post,
    ticket,
    valid_fields,
    xml_record,
    xml_root,
)
from web.state import WebState

# --- discovery ----------------------------------------------------------------------------


async def test_discovery_json(client: httpx.AsyncClient) -> None:
    response = await client.get("/open311/discovery.json")
    assert response.status_code == 200
    body = response.json()
    assert {"changeset", "contact", "key_service", "endpoints"} <= set(body)
    aware(body["changeset"])
    (endpoint,) = body["endpoints"]
    assert endpoint["specification"] == "http://wiki.open311.org/GeoReport_v2"
    assert endpoint["url"] == "http://web.test/open311/v2"
    assert endpoint["type"] == "production"
    assert set(endpoint["formats"]) == {"text/xml", "application/json"}


async def test_discovery_xml(client: httpx.AsyncClient) -> None:
    root = xml_root(await client.get("/open311/discovery.xml"), "discovery")
    aware(root.findtext("changeset") or "")
    endpoints = root.findall("endpoints/endpoint")
    assert len(endpoints) == 1
    assert endpoints[0].findtext("specification") == "http://wiki.open311.org/GeoReport_v2"
    assert endpoints[0].findtext("url") == "http://web.test/open311/v2"
    formats = [f.text for f in endpoints[0].findall("formats/format")]
    assert set(formats) == {"text/xml", "application/json"}


# --- services -----------------------------------------------------------------------------

SERVICE_FIELDS = {
    "service_code",
    "service_name",
    "description",
    "metadata",
    "type",
    "keywords",
    "group",
}


async def test_service_list_json(client: httpx.AsyncClient) -> None:
    services = json_list(await client.get(f"{V2}/services.json"))
    assert {s["service_code"] for s in services} == CATEGORY_CODES
    for service in services:
        assert set(service) == SERVICE_FIELDS
        assert service["metadata"] is True
        assert service["type"] == "realtime"
        assert isinstance(service["service_name"], str) and service["service_name"]
    repair = next(s for s in services if s["service_code"] == "repair")
    assert repair["service_name"] == "Repairs" and "维修" in repair["description"]


async def test_service_list_xml(client: httpx.AsyncClient) -> None:
    root = xml_root(await client.get(f"{V2}/services.xml"), "services")
    services = [xml_record(s) for s in root.findall("service")]
    assert len(services) == len(root) == len(CATEGORY_CODES)
    assert {s["service_code"] for s in services} == CATEGORY_CODES
    for service in services:
        assert set(service) == SERVICE_FIELDS
        assert service["metadata"] == "true" and service["type"] == "realtime"


async def test_service_definition_json(client: httpx.AsyncClient) -> None:
    response = await client.get(f"{V2}/services/repair.json")
    assert response.status_code == 200
    body = response.json()
    assert body["service_code"] == "repair"
    attributes = {a["code"]: a for a in body["attributes"]}
    assert {"preferred_time", "language"} <= set(attributes)
    for attribute in body["attributes"]:
        assert isinstance(attribute["variable"], bool)
        assert isinstance(attribute["required"], bool)
        assert isinstance(attribute["order"], int)
        assert attribute["datatype"] in {
            "string",
            "number",
            "datetime",
            "text",
            "singlevaluelist",
            "multivaluelist",
        }
        assert attribute["description"] and attribute["datatype_description"]
    assert attributes["preferred_time"]["datatype"] == "string"
    assert {v["key"] for v in attributes["language"]["values"]} == {"zh", "en"}
    orders = [a["order"] for a in body["attributes"]]
    assert orders == sorted(orders)


async def test_service_definition_xml(client: httpx.AsyncClient) -> None:
    root = xml_root(await client.get(f"{V2}/services/elder_care.xml"), "service_definition")
    assert root.findtext("service_code") == "elder_care"
    attributes = root.findall("attributes/attribute")
    codes = {a.findtext("code"): a for a in attributes}
    assert {"preferred_time", "language"} <= set(codes)
    for attribute in attributes:
        assert attribute.findtext("variable") in ("true", "false")
        assert attribute.findtext("required") in ("true", "false")
        int(attribute.findtext("order") or "")
    values = codes["language"].findall("values/value")
    assert {v.findtext("key") for v in values} == {"zh", "en"}
    assert all(v.findtext("name") for v in values)


@pytest.mark.parametrize("fmt", ["json", "xml"])
async def test_unknown_service_is_404(client: httpx.AsyncClient, fmt: str) -> None:
    assert_error(await client.get(f"{V2}/services/plumbing.{fmt}"), fmt, 404)


# --- errors of any resource ---------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        f"{V2}/services.html",
        f"{V2}/services/repair.yaml",
        f"{V2}/requests.csv",
        "/open311/discovery.txt",
        f"{V2}/requests/RO-261122-0001.html",
    ],
)
async def test_unknown_format_suffix_is_a_404_in_the_spec_format(
    client: httpx.AsyncClient, path: str
) -> None:
    assert ".json or .xml" in assert_json_error(await client.get(path), 404)


async def test_unknown_format_suffix_on_post(client: httpx.AsyncClient, api_key: str) -> None:
    response = await client.post(f"{V2}/requests.html", data=valid_fields(api_key))
    assert_json_error(response, 404)


@pytest.mark.parametrize("fmt", ["json", "xml"])
async def test_unknown_resource_is_a_404_in_the_spec_format(
    client: httpx.AsyncClient, fmt: str
) -> None:
    assert_error(await client.get(f"{V2}/tokens/abc.{fmt}"), fmt, 404)
    assert_error(await client.get(f"/open311/v3/services.{fmt}"), fmt, 404)


# --- POST requests ------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["json", "xml"])
async def test_post_without_or_with_a_bad_api_key_is_403(
    client: httpx.AsyncClient, fmt: str, api_key: str
) -> None:
    fields = valid_fields(api_key)
    del fields["api_key"]
    assert_error(await post(client, fmt, **fields), fmt, 403)
    assert_error(await post(client, fmt, **fields, api_key="not-a-key"), fmt, 403)
    assert_error(await post(client, fmt, **fields, api_key=""), fmt, 403)


async def test_a_deactivated_key_is_403(
    client: httpx.AsyncClient, db: async_sessionmaker[AsyncSession], api_key: str
) -> None:
    async with db() as session, session.begin():
        key = await api_key_by_secret(session, api_key)
        assert key is not None
        key.active = False
    assert_json_error(await post(client, **valid_fields(api_key)), 403)


@pytest.mark.parametrize("fmt", ["json", "xml"])
@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"service_code": None}, "service_code"),
        ({"service_code": "plumbing"}, "service_code"),
        ({"lat": None, "long": None}, "location"),
        ({"long": None}, "lat and long"),
        ({"lat": "north"}, "lat"),
        ({"lat": "95"}, "lat"),
        ({"long": "nan"}, "long"),
        ({"phone": "12"}, "phone"),
        ({"media_url": "file:///etc/passwd"}, "media_url"),
        ({"attribute[language]": "fr"}, "language"),
        ({"description": "x" * 2001}, "description"),
        ({"description": "a\x00b"}, "NUL"),
    ],
)
async def test_post_with_missing_or_bad_fields_is_400(
    client: httpx.AsyncClient,
    api_key: str,
    fmt: str,
    change: dict[str, str | None],
    words: str,
) -> None:
    fields: dict[str, str] = valid_fields(api_key)
    for name, value in change.items():
        if value is None:
            fields.pop(name, None)
        else:
            fields[name] = value
    description = assert_error(await post(client, fmt, **fields), fmt, 400)
    assert words.lower() in description.lower()


async def test_post_files_a_ticket_through_the_workflow(
    client: httpx.AsyncClient,
    db: async_sessionmaker[AsyncSession],
    web: WebState,
    api_key: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    woken: list[bool] = []

    async def wake() -> None:
        woken.append(True)

    monkeypatch.setattr(web.waker, "wake", wake)
    response = await post(
        client,
        **valid_fields(
            api_key,
            address_string=FLAT_ADDRESS,
            phone="13812345678",
            email="li@example.org",
            first_name="Li",
            last_name="Wei",
            account_id="acct-7",
            media_url="https://example.org/p.jpg",
            **{"attribute[preferred_time]": "明天下午三点"},
        ),
    )
    assert response.status_code == 201
    (body,) = json_list(response)
    assert set(body) == {"service_request_id", "service_notice", "account_id"}
    assert NUMBER.fullmatch(body["service_request_id"])
    assert body["account_id"] == "acct-7"
    assert woken == [True]
    filed = await ticket(db, body["service_request_id"])
    assert filed.channel == "open311"
    assert filed.category_code == "repair"
    assert filed.status == "published"  # repair needs no review: offered at once
    assert filed.phone == "+8613812345678"
    assert filed.address == FLAT_ADDRESS
    assert filed.community_id is not None
    assert filed.preferred_time_text == "明天下午三点"
    assert filed.preferred_time_at is not None
    assert filed.language == "zh"
    async with db() as session:
        resident = await session.get(Resident, filed.resident_id)
        assert resident is not None
        assert resident.channel == "open311"
        # The resident is the key's client device/account, hashed; no e-mail stored.
        assert "acct-7" not in resident.external_id and "@" not in resident.external_id


async def test_post_xml_answer(client: httpx.AsyncClient, api_key: str) -> None:
    response = await post(client, "xml", **valid_fields(api_key, service_code="legal_aid"))
    assert response.status_code == 201
    root = xml_root(response, "service_requests")
    (request,) = root.findall("request")
    record = xml_record(request)
    assert NUMBER.fullmatch(record["service_request_id"])
    assert "review" in record["service_notice"]  # legal_aid is reviewed by staff first
    assert record["account_id"] == ""


async def test_post_with_address_only_and_api_key_in_the_query(
    client: httpx.AsyncClient, api_key: str
) -> None:
    fields = valid_fields(api_key, address_string="和平路12号")
    for name in ("lat", "long", "api_key"):
        del fields[name]
    response = await client.post(f"{V2}/requests.json", params={"api_key": api_key}, data=fields)
    assert response.status_code == 201


async def test_retry_with_an_idempotency_key_files_once(
    client: httpx.AsyncClient, api_key: str, db: async_sessionmaker[AsyncSession]
) -> None:
    fields = valid_fields(api_key)
    token = unique("token")
    first = await client.post(
        f"{V2}/requests.json", data=fields, headers={"Idempotency-Key": token}
    )
    again = await client.post(
        f"{V2}/requests.json", data=fields, headers={"Idempotency-Key": token}
    )
    as_field = await post(client, **fields, idempotency_key=token)
    assert (first.status_code, again.status_code, as_field.status_code) == (201, 200, 200)
    numbers = {r.json()[0]["service_request_id"] for r in (first, again, as_field)}
    assert len(numbers) == 1
    other = await client.post(
        f"{V2}/requests.json", data=fields, headers={"Idempotency-Key": unique("token")}
    )
    assert other.status_code == 201
    assert other.json()[0]["service_request_id"] not in numbers


async def test_identical_retry_without_a_key_files_once(
    client: httpx.AsyncClient, api_key: str
) -> None:
    fields = valid_fields(api_key, device_id=unique("device"))
    first = await post(client, **fields)
    again = await post(client, **fields)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json() == again.json()
    different = await post(client, **{**fields, "description": "另一个问题"})
    assert different.status_code == 201
    assert different.json()[0]["service_request_id"] != first.json()[0]["service_request_id"]


# --- GET requests -------------------------------------------------------------------------


async def test_get_requests_json_defaults(client: httpx.AsyncClient, api_key: str) -> None:
    number = await filed_via_api(client, api_key)
    response = await client.get(f"{V2}/requests.json")
    assert response.status_code == 200
    requests = json_list(response)
    assert 0 < len(requests) <= 1000
    for request in requests:
        check_request_types(request)
    mine = next(r for r in requests if r["service_request_id"] == number)
    assert mine["status"] == "open"
    assert mine["service_code"] == "repair" and mine["service_name"] == "Repairs"
    assert mine["agency_responsible"] is None
    # Newest first, by requested_datetime.
    times = [aware(r["requested_datetime"]) for r in requests]
    assert times == sorted(times, reverse=True)
    # Times carry the community's offset (Asia/Shanghai).
    assert mine["requested_datetime"].endswith("+08:00")


async def test_get_requests_xml(client: httpx.AsyncClient, api_key: str) -> None:
    number = await filed_via_api(client, api_key)
    root = xml_root(await client.get(f"{V2}/requests.xml"), "service_requests")
    records = [xml_record(r) for r in root.findall("request")]
    assert len(records) == len(root)
    mine = next(r for r in records if r["service_request_id"] == number)
    assert tuple(mine) == REQUEST_FIELDS
    assert mine["status"] == "open"
    aware(mine["requested_datetime"])
    float(mine["lat"]), float(mine["long"])
    assert mine["agency_responsible"] == ""


async def test_default_window_is_the_last_90_days(
    client: httpx.AsyncClient, db: async_sessionmaker[AsyncSession]
) -> None:
    old_time = datetime.now(UTC) - timedelta(days=100)
    async with db() as session, session.begin():
        resident = await get_or_create_resident(
            session, channel="cli", external_id=unique("resident")
        )
        old = (
            await workflow.file_ticket(
                session,
                resident=resident,
                now=old_time,
                request=NewTicket(
                    category_code="housekeeping",
                    description="old one",
                    address="枫林苑",
                    latitude=None,
                    longitude=None,
                    preferred_time_text=None,
                    preferred_time_at=None,
                    phone=None,
                    photo_path=None,
                    language="en",
                    idempotency_key=None,
                ),
            )
        ).ticket
        number = old.number
    default = json_list(await client.get(f"{V2}/requests.json"))
    assert number not in {r["service_request_id"] for r in default}
    start = (old_time - timedelta(hours=1)).isoformat()
    windowed = json_list(await client.get(f"{V2}/requests.json", params={"start_date": start}))
    # start_date alone: 90 days from it.
    assert number in {r["service_request_id"] for r in windowed}
    for request in windowed:
        assert aware(request["requested_datetime"]) <= old_time + timedelta(days=90, hours=1)
    end = (old_time + timedelta(hours=1)).isoformat().replace("+00:00", "Z")
    ended = json_list(await client.get(f"{V2}/requests.json", params={"end_date": end}))
    assert number in {r["service_request_id"] for r in ended}
    assert all(aware(r["requested_datetime"]) <= old_time + timedelta(hours=1) for r in ended)


async def test_filters(
    client: httpx.AsyncClient, api_key: str, db: async_sessionmaker[AsyncSession]
) -> None:
    repair = await filed_via_api(client, api_key)
    elder = await filed_via_api(client, api_key, service_code="elder_care")
    organisation = await make_org(db, categories=("repair",))
    async with db() as session, session.begin():
        org = await session.get(Organisation, organisation.id)
        assert org is not None
        await workflow.claim(session, number=repair, organisation=org)
        await workflow.done(session, number=repair, organisation=org)

    def ids(response: httpx.Response) -> set[str]:
        return {r["service_request_id"] for r in json_list(response)}

    closed = await client.get(f"{V2}/requests.json", params={"status": "closed"})
    assert repair in ids(closed) and elder not in ids(closed)
    assert {r["status"] for r in json_list(closed)} == {"closed"}
    opened = await client.get(f"{V2}/requests.json", params={"status": "open"})
    assert elder in ids(opened) and repair not in ids(opened)
    both = await client.get(f"{V2}/requests.json", params={"status": "open,closed"})
    assert {repair, elder} <= ids(both)
    by_code = await client.get(f"{V2}/requests.json", params={"service_code": "elder_care"})
    assert elder in ids(by_code) and repair not in ids(by_code)
    assert {r["service_code"] for r in json_list(by_code)} == {"elder_care"}
    two_codes = await client.get(
        f"{V2}/requests.json", params={"service_code": "elder_care,repair"}
    )
    assert {repair, elder} <= ids(two_codes)
    future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    assert ids(await client.get(f"{V2}/requests.json", params={"start_date": future})) == set()
    page = await client.get(f"{V2}/requests.json", params={"page_size": "1"})
    assert len(json_list(page)) == 1


async def test_service_request_id_overrides_the_other_filters(
    client: httpx.AsyncClient, api_key: str
) -> None:
    first = await filed_via_api(client, api_key)
    second = await filed_via_api(client, api_key, service_code="elder_care")
    response = await client.get(
        f"{V2}/requests.json",
        params={
            "service_request_id": f"{first},{second},RO-000000-0000",
            "status": "closed",
            "service_code": "policy",
            "start_date": "2000-01-01T00:00:00Z",
            "end_date": "2000-01-02T00:00:00Z",
        },
    )
    assert {r["service_request_id"] for r in json_list(response)} == {first, second}


@pytest.mark.parametrize("fmt", ["json", "xml"])
@pytest.mark.parametrize(
    "params",
    [
        {"start_date": "yesterday"},
        {"end_date": "2026-13-01T00:00:00Z"},
        {"status": "pending"},
        {"start_date": "2026-02-01T00:00:00Z", "end_date": "2026-01-01T00:00:00Z"},
        {"end_date": "0001-01-01T00:00:00Z"},
        {"page_size": "1001"},
        {"page": "0"},
        {"page_size": "many"},
    ],
)
async def test_bad_list_parameters_are_400(
    client: httpx.AsyncClient, fmt: str, params: dict[str, str]
) -> None:
    assert_error(await client.get(f"{V2}/requests.{fmt}", params=params), fmt, 400)


async def test_one_request_json_and_xml(
    client: httpx.AsyncClient, api_key: str, db: async_sessionmaker[AsyncSession]
) -> None:
    number = await filed_via_api(client, api_key, media_url="https://example.org/photo.jpg")
    organisation = await make_org(db, categories=("repair",))
    async with db() as session, session.begin():
        org = await session.get(Organisation, organisation.id)
        assert org is not None
        await workflow.claim(session, number=number, organisation=org)
    (request,) = json_list(await client.get(f"{V2}/requests/{number}.json"))
    check_request_types(request)
    assert request["service_request_id"] == number
    assert request["status"] == "open"
    assert request["status_notes"].startswith("Claimed")
    assert request["agency_responsible"] == organisation.name
    assert request["expected_datetime"] is not None
    assert request["media_url"] == "https://example.org/photo.jpg"
    assert "[media_url]" not in request["description"]
    root = xml_root(await client.get(f"{V2}/requests/{number}.xml"), "service_requests")
    (element,) = root.findall("request")
    record = xml_record(element)
    assert record["service_request_id"] == number
    assert record["agency_responsible"] == organisation.name
    assert record["media_url"] == "https://example.org/photo.jpg"


@pytest.mark.parametrize("fmt", ["json", "xml"])
@pytest.mark.parametrize("number", ["RO-000101-0001", "nonsense", "x" * 300])
async def test_unknown_request_is_404(client: httpx.AsyncClient, fmt: str, number: str) -> None:
    assert_error(await client.get(f"{V2}/requests/{number}.{fmt}"), fmt, 404)


async def test_emergencies_are_not_shown(
    client: httpx.AsyncClient, db: async_sessionmaker[AsyncSession]
) -> None:
    number = await file(db)
    async with db() as session, session.begin():
        filed = await session.scalar(select(Ticket).where(Ticket.number == number))
        assert filed is not None
        filed.kind = "emergency"
    assert_json_error(await client.get(f"{V2}/requests/{number}.json"), 404)
    listed = json_list(
        await client.get(f"{V2}/requests.json", params={"service_request_id": number})
    )
    assert listed == []


async def test_status_mapping_through_the_lifecycle(
    client: httpx.AsyncClient, api_key: str, db: async_sessionmaker[AsyncSession]
) -> None:
    number = await filed_via_api(client, api_key)

    async def shown() -> dict[str, Any]:
        (request,) = json_list(await client.get(f"{V2}/requests/{number}.json"))
        return request

    assert (await shown())["status"] == "open"
    organisation = await make_org(db, categories=("repair",))
    steps: list[tuple[Callable[[AsyncSession, Organisation], Awaitable[Any]], str, str]] = [
        (lambda s, o: workflow.claim(s, number=number, organisation=o), "open", "Claimed"),
        (lambda s, o: workflow.start(s, number=number, organisation=o), "open", "In progress"),
        (lambda s, o: workflow.done(s, number=number, organisation=o), "closed", "Done"),
    ]
    for act, status, notes in steps:
        async with db() as session, session.begin():
            org = await session.get(Organisation, organisation.id)
            assert org is not None
            await act(session, org)
        request = await shown()
        assert (request["status"], request["status_notes"].split(":")[0]) == (status, notes)
        assert request["agency_responsible"] == organisation.name


# --- orders apikey add --------------------------------------------------------------------


def test_apikey_add_prints_the_key_last(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.setitem(Settings.model_config, "env_file", None)
    url = f"sqlite+aiosqlite:///{tmp_path / 'keys.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    runner = CliRunner()
    result = runner.invoke(cli, ["apikey", "add", "--name", "civic app"])
    assert result.exit_code == 0, result.output
    secret = result.output.strip().splitlines()[-1]
    assert len(secret) >= 40 and " " not in secret
    again = runner.invoke(cli, ["apikey", "add", "--name", "civic app"])
    assert again.exit_code == 2

    from services.db import make_engine, make_sessionmaker
    from tests.conftest_db import run_async

    async def check() -> bool:
        engine = make_engine(url)
        try:
            async with make_sessionmaker(engine)() as session:
                key = await api_key_by_secret(session, secret)
                return key is not None and key.name == "civic app"
        finally:
            await engine.dispose()

    assert run_async(check())
