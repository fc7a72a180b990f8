"""The Rasa engine killed mid-conversation, and Redis stopped, under the real bot.

- Engine killed (kill -9) and restarted: the resident's message is held (they are told
  once that it is on its way, never asked to send it again) and answered when the engine
  is back; they carry on where they were (the tracker lives in Redis) and file exactly
  one ticket. Held longer than ENGINE_WAIT_S, a message is answered "send it again".
- Redis stopped: Rasa keeps its conversations and locks there, so the engine cannot
  answer; the resident gets the same clear "send again in a moment" (no crash, no
  silence). Everything that does not need the engine keeps working: tickets filed
  through the services (web, Open311, API) are stored and their notifications are
  sent (the notifier polls; Redis only wakes it). When Redis is back the
  conversation continues where it was and nothing was lost.

Phones and addresses typed in these conversations never show up in the logs of
the engine, the action server or Redis.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import select

from i18n import t
from services import Ticket, workflow
from services.parties import create_organisation, redeem_link_code
from services.tickets import NewTicket, get_or_create_resident
from tests.e2e.test_filing import NUMBER
from tests.faults.stack import Stack, one, running_stack

PHONE = "13812345678"
ADDRESS = "幸福小区2栋302"
RETRY = t("engine_unavailable", "zh")
HOLD = t("engine_hold", "zh")


async def _finish(stack: Stack, user_id: int) -> str:
    """After the address: time, phone, skip the photo, submit; the ticket number."""
    user = stack.telegram.user(user_id)
    before = await stack.tickets()
    await user.send_text("明天下午三点")
    assert "电话" in ((await one(user)).text or "")
    await user.send_text(PHONE)
    ask_photo = await one(user)
    await user.press(ask_photo, ask_photo.buttons()[0][1])  # skip the photo
    summary = await one(user)
    assert ADDRESS in (summary.text or "")
    submit = summary.button("提交")[1]
    await user.press(summary, submit)
    filed = await one(user)
    found = NUMBER.search(filed.text or "")
    assert found, filed.text
    # A second press of the same button (a double tap, a redelivered update) files nothing.
    await user.press(summary, submit, stale=True)
    await asyncio.sleep(2)
    assert await stack.tickets() == before + 1
    return found.group()


async def test_engine_killed_mid_conversation_then_restarted(tmp_path: Path) -> None:
    # Long enough for the engine to load its model again on a busy machine.
    async with running_stack(tmp_path, engine_wait_s=300, engine_hold_notice_s=2) as stack:
        user = stack.telegram.user(93001, first_name="王阿姨", language_code="zh")
        await user.send_text("我家厨房水管漏水了")
        assert "地址" in ((await one(user)).text or "")

        stack.kill_engine()
        await user.send_text(ADDRESS)
        assert (await one(user, wait=30)).text == HOLD  # on its way: no need to resend

        await stack.start_engine()
        # The held message reaches the engine once it is back, without being sent again.
        assert "时间" in ((await one(user, wait=120)).text or "")  # the form goes on
        number = await _finish(stack, 93001)

        async with stack.db() as session:
            tickets = list(await session.scalars(select(Ticket)))
        assert [ticket.number for ticket in tickets] == [number]  # exactly one ticket
        assert tickets[0].address == ADDRESS and tickets[0].phone == "+86" + PHONE
        logs = stack.logs()
        assert PHONE not in logs and ADDRESS not in logs


async def test_engine_down_longer_than_the_wait(tmp_path: Path) -> None:
    async with running_stack(tmp_path, engine_wait_s=3) as stack:
        user = stack.telegram.user(93101, first_name="赵大爷", language_code="zh")
        await user.send_text("我家厨房水管漏水了")
        assert "地址" in ((await one(user)).text or "")

        stack.kill_engine()
        await user.send_text(ADDRESS)
        # After the bound (3 s here) the resident is asked to send it again, not left waiting.
        assert (await one(user, wait=30)).text == RETRY

        await stack.start_engine()
        await user.send_text(ADDRESS)  # the resident sends it again
        assert "时间" in ((await one(user)).text or "")  # where they were: the form goes on


async def test_redis_stopped_then_back(tmp_path: Path) -> None:
    async with running_stack(tmp_path) as stack:
        user = stack.telegram.user(94001, first_name="李叔", language_code="zh")
        org_chat = stack.telegram.user(94100, first_name="维修队", language_code="zh")
        async with stack.db() as session, session.begin():
            organisation, credentials = await create_organisation(
                session, name="安心维修队", categories=["repair"], communities=None
            )
            await redeem_link_code(
                session, code=credentials.link_code, channel="telegram", chat_id="94100"
            )
        await user.send_text("我家马桶堵了")
        assert "地址" in ((await one(user)).text or "")

        stack.redis.stop()
        await user.send_text(ADDRESS)
        assert (await one(user)).text == RETRY  # a clear message, not silence or a crash

        # What needs no engine still works: a ticket filed through the services (as the
        # web chat's API, Open311 and the dashboard do) is stored, and its card is sent.
        async with stack.db() as session, session.begin():
            resident = await get_or_create_resident(session, channel="web", external_id="w1")
            filed = (
                await workflow.file_ticket(
                    session,
                    resident=resident,
                    request=NewTicket(
                        category_code="repair",
                        description="楼道水管漏水",
                        address="和平新村5号楼",
                        latitude=None,
                        longitude=None,
                        preferred_time_text=None,
                        preferred_time_at=None,
                        phone=None,
                        photo_path=None,
                        language="zh",
                        idempotency_key=None,
                    ),
                )
            ).ticket
        card = await one(org_chat, wait=30)  # the notifier polls: Redis is only a wake-up
        assert filed.number in (card.text or "")
        assert organisation.id

        stack.redis.start()
        await user.send_text(ADDRESS)
        assert "时间" in ((await one(user)).text or "")  # the conversation kept its place
        number = await _finish(stack, 94001)

        async with stack.db() as session:
            numbers = set(await session.scalars(select(Ticket.number)))
        assert numbers == {filed.number, number}
        for _ in range(200):  # the last sends are marked just after the chats show them
            if set(await stack.outbox_states()) == {"sent"}:
                break
            await asyncio.sleep(0.05)
        assert set(await stack.outbox_states()) == {"sent"}, "nothing lost, nothing stuck"
