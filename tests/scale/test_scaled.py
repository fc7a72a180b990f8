"""The scaled-out stack (2 Rasa, 2 action servers, 2 webhook bot workers, 2 web workers,
nginx, PostgreSQL, Redis): a conversation hops between replicas and still files one
complete ticket; the claim race holds across bot workers; the webhook secret is checked;
an update Telegram re-sends is handled once, whichever worker the copies reach."""

from __future__ import annotations

import asyncio
import itertools
import re
import secrets
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services import Resident, Ticket, TicketEvent, make_engine, make_sessionmaker
from tests.e2e.test_filing import file_request
from tests.e2e.test_lifecycle import claimed_events, expect, link, org
from tests.fakes.telegram import FakeUser
from tests.scale.conftest import Scaled

pytestmark = pytest.mark.timeout(300)

UPDATE_LINE = re.compile(r"^\S*\s*(bot[12])\S*\s*\|.*bot\.update id=(\d+) chat=(-?\d+)", re.M)


def user_id() -> int:
    """A fresh Telegram user id: Redis (Rasa's trackers) outlives test runs."""
    return 5_000_000_000 + secrets.randbelow(1_000_000_000)


def handled_by(scaled: Scaled, chat: int) -> list[tuple[int, str]]:
    """(update id, bot worker) of every update of this chat, in update order."""
    found = {
        int(update): worker
        for worker, update, chat_id in UPDATE_LINE.findall(scaled.output())
        if int(chat_id) == chat
    }
    return sorted(found.items())


def upstreams(scaled: Scaled) -> set[str]:
    return set(re.findall(r"upstream=(\S+)", scaled.access_log()))


@pytest.fixture(scope="session")
async def db(scaled: Scaled) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = make_engine(scaled.database_url)
    yield make_sessionmaker(engine)
    await engine.dispose()


async def test_conversation_hopping_between_replicas_files_one_complete_ticket(
    scaled: Scaled, db: async_sessionmaker[AsyncSession]
) -> None:
    uid = user_id()
    user = scaled.fake.user(uid, first_name="王阿姨", language_code="zh")
    number = await file_request(
        user, "我家厨房水管漏水了", ["幸福小区3栋2单元501", "明天下午三点", "13812345678"]
    )

    async with db() as session:
        resident = await session.scalar(
            select(Resident).where(Resident.channel == "telegram", Resident.external_id == str(uid))
        )
        assert resident is not None
        found = await session.scalars(select(Ticket).where(Ticket.resident_id == resident.id))
        tickets = list(found)
        events = list(
            await session.scalars(
                select(TicketEvent.to_status).where(TicketEvent.ticket_id == tickets[0].id)
            )
        )
    assert len(tickets) == 1, "filed exactly once"
    [ticket] = tickets
    assert ticket.number == number
    assert ticket.category_code == "repair"
    assert (ticket.status, ticket.channel) == ("published", "telegram")
    assert ticket.description == "我家厨房水管漏水了"
    assert ticket.address == "幸福小区3栋2单元501"
    assert ticket.preferred_time_text == "明天下午三点" and ticket.preferred_time_at is not None
    assert ticket.phone == "+8613812345678"
    assert events.count("submitted") == 1

    # Consecutive updates of this one chat went to both bot workers, alternately...
    handled = handled_by(scaled, uid)
    assert len(handled) >= 6, handled
    workers = [worker for _, worker in handled]
    assert set(workers) == {"bot1", "bot2"}, handled
    assert any(a != b for a, b in itertools.pairwise(workers)), handled
    stats = await scaled.worker_stats()
    assert all(s["handled"] > 0 for s in stats), stats
    # ... and, through nginx, to both Rasa replicas and both action servers.
    if scaled.plan["nginx"]:
        used = upstreams(scaled)
        for group in ("rasa", "actions", "bots"):
            for url in scaled.plan[group]:
                assert url.removeprefix("http://") in used, (group, url, used)


async def test_claim_race_across_bot_workers(
    scaled: Scaled, db: async_sessionmaker[AsyncSession]
) -> None:
    fake = scaled.fake
    first = fake.user(user_id(), first_name="A", language_code="zh")
    second = fake.user(user_id(), first_name="B", language_code="zh")
    await link(first, (await org(db, "甲家政(扩容)", ["housekeeping"])).link_code, "甲家政")
    await link(second, (await org(db, "乙家政(扩容)", ["housekeeping"])).link_code, "乙家政")

    resident = fake.user(user_id(), first_name="李奶奶", language_code="zh")
    answers = ["幸福小区3栋2单元501", "明天上午", "13812345678"]
    number = await file_request(resident, "想请人上门帮忙打扫卫生，擦擦窗户", answers)
    card_a = await expect(first, number, "接单后")
    card_b = await expect(second, number, "接单后")
    assert "13812345678" not in (card_a.text or "") + (card_b.text or "")

    # Both press claim at the same moment; the two updates reach different workers.
    query_a, query_b = await asyncio.gather(
        first.press(card_a, f"o:claim:{number}"), second.press(card_b, f"o:claim:{number}")
    )
    told = await expect(resident, number, "接单")
    winner, loser = (first, second) if "甲家政" in (told.text or "") else (second, first)
    winner_card = await expect(winner, "您已接单", number)
    assert "+8613812345678" in (winner_card.text or "")
    await expect(loser, number, "已由")
    assert await claimed_events(db, number) == 1
    async with db() as session:
        claimed = await session.scalar(select(Ticket).where(Ticket.number == number))
        assert claimed is not None and claimed.status == "claimed"

    claims = [fake_update for fake_update in fake.webhook_deliveries if fake_update.status == 200]
    assert claims, "the fake delivered by webhook"
    workers = {
        worker
        for chat in (first.chat_id, second.chat_id)
        for _, worker in handled_by(scaled, chat)[-1:]
    }
    assert workers == {"bot1", "bot2"}, (query_a, query_b, workers)


def start_update(user: FakeUser, update_id: int) -> dict[str, Any]:
    """A Telegram update carrying `/start` from this fake user, to post to a webhook."""
    return {
        "update_id": update_id,
        "message": {
            "message_id": 1,
            "from": user.as_user(),
            "chat": user.as_chat(),
            "date": 1_760_000_000,
            "text": "/start",
            "entities": [{"offset": 0, "length": 6, "type": "bot_command"}],
        },
    }


def webhook_targets(scaled: Scaled) -> list[str]:
    """Every bot worker's webhook URL, and the load balancer's when there is one."""
    path = "/" + scaled.plan["webhook_url"].split("/", 3)[3]
    targets = [f"{bot}{path}" for bot in scaled.plan["bots"]]
    if scaled.plan["nginx"]:
        targets.append(scaled.plan["webhook_url"])
    return targets


async def test_webhook_refuses_requests_without_the_secret(scaled: Scaled) -> None:
    uid = user_id()
    user = scaled.fake.user(uid, first_name="Mallory", language_code="en")
    update = start_update(user, 990_000_001)
    targets = webhook_targets(scaled)
    before = await scaled.worker_stats()
    header = "X-Telegram-Bot-Api-Secret-Token"
    async with httpx.AsyncClient(timeout=10) as client:
        for url in targets:
            for headers in ({}, {header: "wrong-" + scaled.secret}, {header: ""}):
                response = await client.post(url, json=update, headers=headers)
                assert response.status_code == 403, (url, headers, response.text)
    after = await scaled.worker_stats()
    assert [s["handled"] for s in after] == [s["handled"] for s in before]
    assert sum(s["rejected"] for s in after) - sum(s["rejected"] for s in before) == 3 * len(
        targets
    )
    await user.assert_no_messages(within=1.0)
    assert uid not in {chat for *_, chat in UPDATE_LINE.findall(scaled.output())}

    # The same update with the secret is handled (the check is not refusing everything).
    async with httpx.AsyncClient(timeout=30) as client:
        response = await client.post(targets[0], json=update, headers={header: scaled.secret})
    assert response.status_code == 200
    await user.wait_for_messages(1, timeout=30)


async def test_a_redelivered_update_is_handled_once_across_workers(scaled: Scaled) -> None:
    uid = user_id()
    user = scaled.fake.user(uid, first_name="Rosa", language_code="en")
    update = start_update(user, 900_000_000 + secrets.randbelow(10**8))
    targets = webhook_targets(scaled)
    headers = {"X-Telegram-Bot-Api-Secret-Token": scaled.secret}
    before = await scaled.worker_stats()
    async with httpx.AsyncClient(timeout=30) as client:
        first = await client.post(targets[0], json=update, headers=headers)
        assert first.status_code == 200
        # Answered once handled: the replies are out.
        replies = len(user.inbox())
        assert replies >= 1
        await user.wait_for_messages(replies)
        # Telegram's re-sends, to every worker (and through the balancer), each twice.
        for url in targets * 2:
            response = await client.post(url, json=update, headers=headers)
            assert response.status_code == 200, (url, response.text)
    await user.assert_no_messages(within=1.5)
    after = await scaled.worker_stats()

    def delta(name: str) -> int:
        return sum(int(s[name]) for s in after) - sum(int(s[name]) for s in before)

    assert (delta("handled"), delta("duplicates")) == (1, 2 * len(targets)), (before, after)
    assert all(s["duplicates"] > 0 for s in after), after
    assert f"bot.update_duplicate id={update['update_id']}" in scaled.output()
