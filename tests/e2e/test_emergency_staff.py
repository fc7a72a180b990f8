"""Staff act on an emergency end to end (issue 12): the real bot (with its notifier),
engine, actions and database; the resident and a staff member in the fake Bot API.

A resident reports an emergency; staff get the alert with their own steps; nobody
acknowledges, so the sweep (run here with a moved clock) alerts staff again once per
interval; staff acknowledge from the card, it leaves the top of the queue and the
re-alerts stop; staff resolve it and the resident is told."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from i18n import t
from services import workflow
from services.parties import Role, create_staff
from services.queue import QueueQuery, search_queue
from tests.e2e.test_alerts import tickets_of
from tests.e2e.test_filing import one
from tests.e2e.test_lifecycle import expect, expect_button, link, ticket
from tests.fakes.telegram import FakeTelegram

Sessions = async_sessionmaker[AsyncSession]
MINUTE = timedelta(minutes=1)


async def sweep_at(db: Sessions, moment: timedelta, created: datetime, number: str) -> bool:
    """One sweep `moment` after the ticket was filed; True if it re-alerted this ticket."""
    async with db() as session, session.begin():
        result = await workflow.sweep(session, now=created + moment)
    return number in result.realerted


async def queue_position(db: Sessions, number: str) -> tuple[int, bool]:
    """Where the ticket is in the admin's default queue, and whether it is marked."""
    async with db() as session:
        page = await search_queue(session, QueueQuery(per_page=200))
    numbers = [row.ticket.number for row in page.rows]
    row = page.rows[numbers.index(number)]
    first_plain = next((i for i, r in enumerate(page.rows) if not r.unacknowledged), len(page.rows))
    return numbers.index(number) - first_plain, row.unacknowledged


async def test_staff_acknowledge_and_resolve_an_emergency(
    telegram: FakeTelegram, db: Sessions
) -> None:
    async with db() as session, session.begin():
        _, credentials = await create_staff(
            session, name="值班员小周", role=Role.ADMIN, password="secret-password", language="zh"
        )
    duty = telegram.user(78001, first_name="小周", language_code="zh")
    await link(duty, credentials.link_code, "值班员小周")

    resident = telegram.user(78010, first_name="王阿姨", language_code="zh")
    await resident.send_text("家里好大一股煤气味，怎么办")
    advice = (await one(resident)).text or ""
    assert "119" in advice
    [filed] = await tickets_of(db, "78010")
    number = filed.number
    assert (filed.kind, filed.status, filed.acknowledged_at) == ("emergency", "submitted", None)

    # The alert carries staff's own steps, never approve / dispatch.
    card = await expect_button(duty, f"s:ack:{number}")
    datas = [d for _, d in card.buttons()]
    assert f"s:res:{number}" in datas and f"s:hand:{number}" in datas
    assert not any(d.startswith(("s:ok:", "s:close:")) for d in datas)
    # Unacknowledged: among the first rows of the queue, marked.
    position, marked = await queue_position(db, number)
    assert position < 0 and marked

    # Nobody acknowledges: the sweep alerts staff again, once per 5 minutes.
    created = filed.created_at
    assert not await sweep_at(db, 5 * MINUTE - timedelta(seconds=1), created, number)
    assert await sweep_at(db, 5 * MINUTE, created, number)
    assert not await sweep_at(db, 5 * MINUTE, created, number)  # another replica's sweep
    again = await expect(duty, "仍无人确认", number)
    assert f"s:ack:{number}" in [d for _, d in again.buttons()]
    assert not await sweep_at(db, 9 * MINUTE, created, number)
    assert await sweep_at(db, 10 * MINUTE, created, number)
    await expect(duty, "仍无人确认", number, "已等 10 分钟")

    # Staff acknowledge from the re-alert: the resident hears someone is on it.
    await duty.press(again, f"s:ack:{number}")
    answer = await expect(duty, number, "由您跟进")
    assert f"s:res:{number}" in [d for _, d in answer.buttons()]
    await expect(resident, "社区值班人员已收到您的紧急求助", number)
    stored = await ticket(db, number)
    assert stored.acknowledged_at is not None and stored.status == "submitted"
    position, marked = await queue_position(db, number)
    assert position >= 0 and not marked  # it left the top
    assert not await sweep_at(db, 60 * MINUTE, created, number)  # no more re-alerts

    await resident.send_text("/status")
    status = (await expect(resident, number)).text or ""
    assert "待审核" not in status and t("status_alert_acknowledged", "zh") in status

    # Resolved: closed, and the resident is told.
    await duty.press(answer, f"s:res:{number}")
    await expect(duty, f"已办结 {number}")
    await expect(resident, number, "标记为已处理")
    closed = await ticket(db, number)
    assert closed.status == "closed" and closed.closed_at is not None
