"""Open311's privacy rule: no phone, name, e-mail or flat number in any output, in
JSON or XML; addresses coarsened to the estate and coordinates rounded; descriptions
masked by services.privacy.mask_text with building numbers hidden (a public view)."""

from __future__ import annotations

import re

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.public_tickets import coarse_address, scrub_text
from tests.web.conftest import PHONE, file
from tests.web.open311_support import (
    FLAT_ADDRESS,
    V2,
    filed_via_api,
    filed_via_chat,
    json_list,
    shown,
    xml_root,
)


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
    assert scrubbed == "the floor is wet in room ***, call 138****5678 or ***栋***室"


# Issue 11 item 3: what the old scrubbing kept, in a description and in an address.
@pytest.mark.parametrize(
    ("written", "masked", "secrets"),
    [
        ("楼道灯坏了，门牌1103", "楼道灯坏了，门牌***", ("1103",)),
        ("501 is my flat, the lift is broken", "*** is my flat, the lift is broken", ("501",)),
        ("电话一三八一二三四五六七八", "电话138****5678", ("一二三四", "1234", "二三四五六七")),
        ("电话 138，1234，5678", "电话 138****5678", ("1234",)),
        ("幸福路88弄3号501室漏水", "幸福路88弄***号***室漏水", ("3号", "501")),
        (
            "卫生间水管漏水，我是独居老人李秀英，电话13966667777，家里钥匙在门口地垫下",
            "卫生间水管漏水，我是独居老人李**，电话139****7777，家里钥匙在门口地垫下",
            ("李秀英", "秀英", "6666"),
        ),
        ("my name is Li Xiuying, room 12B", "my name is Li ***, room ***", ("Xiuying", "12B")),
    ],
)
async def test_description_is_masked(
    client: httpx.AsyncClient, api_key: str, written: str, masked: str, secrets: tuple[str, ...]
) -> None:
    number = await filed_via_api(client, api_key, description=written)
    request = await shown(client, number)
    assert request["description"] == masked
    for secret in secrets:
        assert secret not in request["description"]


@pytest.mark.parametrize(
    ("address", "coarse"),
    [
        ("幸福路88弄3号501室", "幸福里社区 幸福路88弄"),
        ("幸福小区门牌1103", "幸福里社区 幸福小区"),
        ("幸福小区 138，1234，5678", "幸福里社区 幸福小区"),
        ("幸福小区42栋3单元701", "幸福里社区 幸福小区"),
    ],
)
async def test_address_is_coarse(
    client: httpx.AsyncClient, api_key: str, address: str, coarse: str
) -> None:
    number = await filed_via_api(client, api_key, address_string=address)
    assert (await shown(client, number))["address"] == coarse


async def test_chat_description_is_masked_in_open311(
    client: httpx.AsyncClient, db: async_sessionmaker[AsyncSession]
) -> None:
    number = await filed_via_chat(db, "我住3栋2单元501室，电话13812345678，我叫王芳")
    request = await shown(client, number)
    assert request["description"] == "我住***栋***单元***室，电话138****5678，我叫王**"
