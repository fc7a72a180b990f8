"""Open311's privacy rule: no phone, name, e-mail or flat number in any output, in
JSON or XML; addresses coarsened to the estate and coordinates rounded."""

from __future__ import annotations

import re

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.open311 import coarse_address, scrub_text
from tests.web.conftest import PHONE, file
from tests.web.open311_support import FLAT_ADDRESS, V2, filed_via_api, json_list, xml_root


async def test_no_phone_name_or_flat_number_in_any_output(
    client: httpx.AsyncClient, api_key: str, db: async_sessionmaker[AsyncSession]
) -> None:
    chat_number = await file(db, address=FLAT_ADDRESS, phone=PHONE)
    api_number = await filed_via_api(
        client,
        api_key,
        address_string=FLAT_ADDRESS,
        phone="13812345678",
        first_name="Zhang",
        last_name="Sanfeng",
        email="zhang.sanfeng@mail.invalid",
        description="漏水了，我家在3栋2单元501室，电话13812345678",
    )
    numbers = f"{chat_number},{api_number}"
    bodies = []
    for fmt in ("json", "xml"):
        listed = await client.get(f"{V2}/requests.{fmt}", params={"service_request_id": numbers})
        one = await client.get(f"{V2}/requests/{api_number}.{fmt}")
        everything = await client.get(f"{V2}/requests.{fmt}")
        bodies += [listed.text, one.text, everything.text]
    for body in bodies:
        # Ticket numbers (RO-261122-0501 once a day has 501 tickets), coordinates
        # (31.501) and the fixtures' random names (结算-06b13501) may hold the digits of
        # a flat number by chance; nothing else may.
        body = re.sub(r"RO-\d{6}-\d{4,}|-?\d+\.\d+|-[0-9a-f]{8}\b", "", body)
        for secret in (
            "13812345678",
            "12345678",
            "Zhang",
            "Sanfeng",
            "mail.invalid",
            "501",
            "3栋",
            "2单元",
            FLAT_ADDRESS,
        ):
            assert secret not in body
    requests = json_list(
        await client.get(f"{V2}/requests.json", params={"service_request_id": numbers})
    )
    assert len(requests) == 2
    for request in requests:
        assert request["address"] == "幸福里社区 幸福小区"
        assert request["lat"] == 31.205
        assert round(request["long"], 3) == request["long"]
    root = xml_root(
        await client.get(f"{V2}/requests.xml", params={"service_request_id": numbers}),
        "service_requests",
    )
    for element in root.findall("request"):
        assert element.findtext("address") == "幸福里社区 幸福小区"
        assert element.findtext("lat") == "31.205"


@pytest.mark.parametrize(
    ("address", "coarse"),
    [
        (FLAT_ADDRESS, "幸福里社区 幸福小区"),
        ("上海市幸福路100号幸福小区3号楼501", "幸福里社区 上海市幸福路100号幸福小区"),
        ("幸福路88弄3-501", "幸福里社区 幸福路88弄"),
        ("Room 501, 12 Xingfu Road", "幸福里社区 Xingfu Road"),
        ("Flat 5B, Block 3, Heping Road", "幸福里社区 Heping Road"),
        ("幸福小区 13812345678", "幸福里社区 幸福小区"),
        (None, "幸福里社区"),
    ],
)
def test_coarse_address(address: str | None, coarse: str) -> None:
    assert coarse_address(address, "幸福里社区") == coarse


def test_coarse_address_without_community() -> None:
    assert coarse_address("幸福小区3栋2单元501室", None) == "幸福小区"
    assert coarse_address(None, None) is None


def test_scrub_text_keeps_the_words() -> None:
    scrubbed = scrub_text("the floor is wet in room 12, call +86 138 1234 5678 or 3栋501室")
    assert "the floor is wet" in scrubbed
    assert not re.search(r"\d", scrubbed)
