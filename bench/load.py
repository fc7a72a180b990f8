"""Resident load: simulated residents each file a whole request (need, address, time,
phone, skip the photo, submit) through the fake Bot API → bot → Rasa → actions →
PostgreSQL; and the same conversations through Rasa's REST channel alone ("bare
Rasa": same engine, model and action server), so the ratio of the two throughputs is
what the bot, the Telegram path and the bot's own database work cost."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from adapters.engine_client import WEBHOOK
from bench.common import Pacer, summary
from bench.stack import BenchTelegram, Stack, next_message

NUMBER = re.compile(r"RO-\d{6}-\d{4,}")

# (language code, need, [address, time, phone]): needs without details in them, so
# every conversation asks the same three questions.
SCRIPTS: list[tuple[str, str, list[str]]] = [
    ("zh", "我家厨房水管漏水了", ["幸福小区3栋2单元501", "明天下午三点", "13812345678"]),
    ("zh", "楼道灯不亮好几天了", ["和平花园7栋1单元", "今天晚上", "13912345678"]),
    ("zh", "我妈妈一个人在家，想找人上门陪她聊聊天", ["幸福小区5栋301", "周六上午", "13712345678"]),
    ("zh", "老板拖欠工资三个月了，想咨询一下", ["阳光苑2栋402", "明天上午", "13612345678"]),
    ("zh", "想请人上门打扫卫生", ["幸福小区8栋1201", "后天下午", "13512345678"]),
    (
        "en",
        "my 80-year-old mother needs someone to check on her",
        [
            "Flat 501, Building 3, Xingfu Estate, 88 Xingfu Road",
            "tomorrow afternoon",
            "138 1234 5678",
        ],
    ),
    (
        "en",
        "the kitchen sink is leaking",
        ["Room 1202, Building 7, Heping Garden", "tomorrow morning", "139 1234 5678"],
    ),
]
MESSAGES_PER_CONVERSATION = 6  # need, 3 answers, skip photo, submit


@dataclass
class Outcome:
    """What a set of conversations produced."""

    latencies: list[float] = field(default_factory=list)
    filed: int = 0
    errors: list[str] = field(default_factory=list)


# --- through Telegram ---------------------------------------------------------------------


async def telegram_conversation(
    fake: BenchTelegram, user_id: int, script_index: int, pacer: Pacer | None, out: Outcome
) -> None:
    """One resident filing one request through the bot; latency per message."""
    language, need, answers = SCRIPTS[script_index % len(SCRIPTS)]
    user = fake.user(user_id, first_name=f"R{user_id}", language_code=language)

    async def step(send: Callable[[], Awaitable[Any]]) -> Any:
        if pacer is not None:
            await pacer.slot()
        sent = time.perf_counter()
        await send()
        arrived, message = await next_message(fake, user.chat_id)
        out.latencies.append(arrived - sent)
        return message

    try:
        await step(lambda: user.send_text(need))
        last = None
        for answer in answers:
            last = await step(lambda a=answer: user.send_text(a))  # type: ignore[misc]
        assert last is not None and last.buttons(), f"no photo buttons: {last and last.text}"
        summary_message = await step(lambda: user.press(last, last.buttons()[0][1]))
        assert summary_message.buttons(), f"no summary buttons: {summary_message.text}"
        filed = await step(lambda: user.press(summary_message, summary_message.buttons()[0][1]))
        if NUMBER.search(filed.text or ""):
            out.filed += 1
        else:
            out.errors.append(f"not filed: {filed.text!r}")
    except (TimeoutError, AssertionError) as exc:
        out.errors.append(f"user {user_id}: {type(exc).__name__} {exc}")


async def run_telegram(
    stack: Stack,
    *,
    residents: int,
    first_id: int,
    rate: float | None,
    concurrency: int,
) -> dict[str, Any]:
    """`residents` conversations; paced at `rate` messages/s (None: as fast as the
    replies come) with at most `concurrency` residents in the middle of one."""
    out = Outcome()
    pacer = Pacer(rate) if rate else None
    gate = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        async with gate:
            await telegram_conversation(stack.fake, first_id + i, i, pacer, out)

    measured = await _measure(stack, one, residents)
    return _result(out, measured, residents=residents, rate=rate, concurrency=concurrency)


async def _measure(
    stack: Stack, one: Callable[[int], Awaitable[None]], residents: int
) -> tuple[float, dict[str, Any]]:
    """Run `one` for every resident at once; the wall time and the CPU the stack used."""
    meter = stack.cpu_meter()
    meter.start()
    started = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(residents)))
    elapsed = time.perf_counter() - started
    return elapsed, meter.stop()


def _result(
    out: Outcome,
    measured: tuple[float, dict[str, Any]],
    *,
    residents: int,
    rate: float | None,
    concurrency: int,
) -> dict[str, Any]:
    elapsed, cpu = measured
    result = summary(out.latencies, elapsed)
    result.update(
        residents=residents,
        offered_rate_per_s=rate,
        concurrency=concurrency,
        tickets_filed=out.filed,
        errors=len(out.errors),
        error_samples=out.errors[:5],
        cpu=cpu,
    )
    return result


# --- bare Rasa (REST channel) -------------------------------------------------------------


async def rest_conversation(
    client: httpx.AsyncClient, sender: str, script_index: int, pacer: Pacer | None, out: Outcome
) -> None:
    """The same conversation straight to the engine's REST channel."""
    language, need, answers = SCRIPTS[script_index % len(SCRIPTS)]
    metadata = {"language": language, "channel": "telegram", "display_name": sender}

    async def step(message: str) -> list[dict[str, Any]]:
        if pacer is not None:
            await pacer.slot()
        sent = time.perf_counter()
        response = await client.post(
            WEBHOOK, json={"sender": sender, "message": message, "metadata": metadata}
        )
        response.raise_for_status()
        replies: list[dict[str, Any]] = response.json()
        out.latencies.append(time.perf_counter() - sent)
        return replies

    def first_button(replies: list[dict[str, Any]]) -> str:
        for reply in replies:
            for button in reply.get("buttons") or []:
                return str(button["payload"])
        raise AssertionError(f"no buttons in {replies}")

    try:
        await step(need)
        last: list[dict[str, Any]] = []
        for answer in answers:
            last = await step(answer)
        summary_replies = await step(first_button(last))
        filed = await step(first_button(summary_replies))
        if any(NUMBER.search(str(r.get("text") or "")) for r in filed):
            out.filed += 1
        else:
            out.errors.append(f"not filed: {filed!r}"[:300])
    except (httpx.HTTPError, AssertionError) as exc:
        out.errors.append(f"{sender}: {type(exc).__name__} {exc}"[:300])


async def run_rest(
    stack: Stack,
    *,
    residents: int,
    first_id: int,
    rate: float | None,
    concurrency: int,
) -> dict[str, Any]:
    out = Outcome()
    pacer = Pacer(rate) if rate else None
    gate = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(
        base_url=stack.settings.rasa_url, timeout=60.0, limits=limits
    ) as client:

        async def one(i: int) -> None:
            async with gate:
                await rest_conversation(client, f"telegram:{first_id + i}", i, pacer, out)

        measured = await _measure(stack, one, residents)
    return _result(out, measured, residents=residents, rate=rate, concurrency=concurrency)
