"""Button load (no NLU on the path): organisations claim, start and finish tickets from
the cards the notifier sent them, residents rate from the rating request and check
/status; every press is a callback query through the fake Bot API and the real bot.

Latency of a press: from the update being available to the bot's answerCallbackQuery
(which the bot sends after the database work); of /status: to the reply message."""

# The waiting helpers take explicit timeouts by design.
# ruff: noqa: ASYNC109

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import select

from bench.common import summary
from bench.stack import BenchTelegram, Stack
from services import make_engine, make_sessionmaker
from services.models import Category, Community, Ticket
from services.parties import create_organisation, redeem_link_code
from services.payloads import Action, encode
from services.tickets import NewTicket, get_or_create_resident
from services.workflow import file_ticket
from tests.fakes.telegram import BotMessage, FakeUser

ORG_CHAT_BASE = 7_000_000
RESIDENT_BASE = 8_000_000


def _find(fake: BenchTelegram, chat_id: int, data: str) -> BotMessage | None:
    for message in reversed(fake._bot_messages.get(chat_id, [])):
        if data in [d for _, d in message.buttons()]:
            return message
    return None


async def _wait_cards(
    fake: BenchTelegram, wanted: dict[str, tuple[int, str]], timeout: float = 120.0
) -> dict[str, BotMessage]:
    """Wait until each number's message with its button (chat, data) has arrived."""
    deadline = time.monotonic() + timeout
    found: dict[str, BotMessage] = {}
    while True:
        for number, (chat, data) in wanted.items():
            if number not in found:
                message = _find(fake, chat, data)
                if message is not None:
                    found[number] = message
        if len(found) == len(wanted) or time.monotonic() > deadline:
            return found
        await asyncio.sleep(0.2)


async def _setup(stack: Stack, tickets: int) -> tuple[dict[str, int], dict[str, int]]:
    """One organisation per category (every community), linked to its own chat, and
    `tickets` published tickets of residents with Telegram chats; returns number →
    organisation chat and number → resident chat."""
    engine = make_engine(stack.settings.db_url)
    org_chat: dict[str, int] = {}
    resident_chat: dict[str, int] = {}
    try:
        sessions = make_sessionmaker(engine)
        async with sessions() as session, session.begin():
            categories = [
                c.code
                for c in await session.scalars(
                    select(Category).where(Category.needs_review.is_(False))
                )
            ]
            community = await session.scalar(select(Community).order_by(Community.id))
            chats: dict[str, int] = {}
            for i, code in enumerate(categories):
                _, credentials = await create_organisation(
                    session, name=f"bench-org-{code}", categories=[code], communities=None
                )
                chat = ORG_CHAT_BASE + i
                await redeem_link_code(
                    session, code=credentials.link_code, channel="telegram", chat_id=str(chat)
                )
                chats[code] = chat
        for i in range(tickets):
            code = categories[i % len(categories)]
            user_id = RESIDENT_BASE + i
            async with sessions() as session, session.begin():
                resident = await get_or_create_resident(
                    session, channel="telegram", external_id=str(user_id)
                )
                ticket = (
                    await file_ticket(
                        session,
                        resident=resident,
                        request=NewTicket(
                            category_code=code,
                            description=f"按钮压测 {i}",
                            address=f"{community.name_zh if community else ''} {i % 30 + 1}栋{i}室",
                            latitude=None,
                            longitude=None,
                            preferred_time_text=None,
                            preferred_time_at=None,
                            phone="+8613812345678",
                            photo_path=None,
                            language="zh",
                            idempotency_key=f"bench-button-{i}-{time.time_ns()}",
                        ),
                    )
                ).ticket
                assert ticket.status == "published", ticket.status
                org_chat[ticket.number] = chats[code]
                resident_chat[ticket.number] = user_id
    finally:
        await engine.dispose()
    return org_chat, resident_chat


async def _phase(
    name: str,
    items: list[Any],
    concurrency: int,
    press: Callable[[Any], Awaitable[float]],
) -> tuple[dict[str, Any], list[float]]:
    gate = asyncio.Semaphore(concurrency)
    latencies: list[float] = []
    errors: list[str] = []

    async def one(item: Any) -> None:
        async with gate:
            try:
                latencies.append(await press(item))
            except (TimeoutError, AssertionError) as exc:
                errors.append(f"{type(exc).__name__} {exc}"[:200])

    started = time.perf_counter()
    await asyncio.gather(*(one(item) for item in items))
    elapsed = time.perf_counter() - started
    result = summary(latencies, elapsed)
    result.update(operation=name, errors=len(errors), error_samples=errors[:3])
    return result, latencies


async def run_buttons(stack: Stack, *, tickets: int, concurrency: int) -> dict[str, Any]:
    fake = stack.fake
    users: dict[int, FakeUser] = {}

    def user(chat: int) -> FakeUser:
        if chat not in users:
            users[chat] = fake.user(chat, first_name=f"U{chat}", language_code="zh")
        return users[chat]

    # The chats exist before the notifier writes to them ("chat not found" otherwise).
    for chat in [*range(ORG_CHAT_BASE, ORG_CHAT_BASE + 20)]:
        user(chat)
    for i in range(tickets):
        user(RESIDENT_BASE + i)
    org_chat, resident_chat = await _setup(stack, tickets)

    async def press(chat: int, message: BotMessage, data: str) -> float:
        sent = time.perf_counter()
        query_id = fake.push_callback(user(chat), message, data)
        future = fake.expect_answer(query_id)  # before any await: the answer comes later
        answered = await asyncio.wait_for(future, 60)
        return answered - sent

    numbers = list(org_chat)
    cards = await _wait_cards(fake, {n: (org_chat[n], encode(Action.CLAIM, n)) for n in numbers})
    numbers = [n for n in numbers if n in cards]
    phases: list[dict[str, Any]] = []
    everything: list[float] = []
    total_time = 0.0

    async def run(name: str, items: list[Any], fn: Callable[[Any], Awaitable[float]]) -> None:
        nonlocal total_time
        result, latencies = await _phase(name, items, concurrency, fn)
        phases.append(result)
        everything.extend(latencies)
        total_time += result["elapsed_s"]

    meter = stack.cpu_meter()
    meter.start()
    await run("claim", numbers, lambda n: press(org_chat[n], cards[n], encode(Action.CLAIM, n)))
    started = await _wait_cards(fake, {n: (org_chat[n], encode(Action.START, n)) for n in numbers})
    await run(
        "start",
        list(started),
        lambda n: press(org_chat[n], started[n], encode(Action.START, n)),
    )
    working = await _wait_cards(fake, {n: (org_chat[n], encode(Action.DONE, n)) for n in numbers})
    await run(
        "done", list(working), lambda n: press(org_chat[n], working[n], encode(Action.DONE, n))
    )
    rating = await _wait_cards(
        fake, {n: (resident_chat[n], encode(Action.RATE, n, 5)) for n in numbers}
    )
    await run(
        "rate",
        list(rating),
        lambda n: press(resident_chat[n], rating[n], encode(Action.RATE, n, 5)),
    )

    async def status(n: str) -> float:
        chat = resident_chat[n]
        inbox = fake.inboxes[chat]
        while not inbox.empty():
            inbox.get_nowait()
        sent = time.perf_counter()
        await user(chat).send_text("/status")
        arrived, message = await asyncio.wait_for(inbox.get(), 60)
        while n not in (message.text or ""):
            arrived, message = await asyncio.wait_for(inbox.get(), 60)
        return arrived - sent

    await run("status", numbers, status)
    cpu = meter.stop()
    engine = make_engine(stack.settings.db_url)
    try:
        async with make_sessionmaker(engine)() as session:
            closed = len(
                list(
                    await session.scalars(
                        select(Ticket.id).where(
                            Ticket.number.in_(numbers), Ticket.rating.is_not(None)
                        )
                    )
                )
            )
    finally:
        await engine.dispose()
    overall = summary(everything, total_time)
    return {
        "ops_per_s": overall["throughput_per_s"],
        "tickets": len(numbers),
        "rated_in_db": closed,
        "concurrency": concurrency,
        "overall": overall,
        "phases": phases,
        "cpu": cpu,
    }
