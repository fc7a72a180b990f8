"""The lifecycle after filing, end to end: the real bot (with its notifier), engine,
actions and database; organisations, staff and residents in the fake Bot API."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services import Ticket, TicketEvent, workflow
from services.models import utcnow
from services.parties import Credentials, Role, create_organisation, create_staff
from tests.e2e.test_filing import file_request
from tests.fakes.telegram import BotMessage, FakeTelegram, FakeUser

ANSWERS = ["幸福小区3栋2单元501", "明天上午", "13812345678"]


async def expect(user: FakeUser, *needles: str, seconds: float = 30) -> BotMessage:
    """The next message to this user whose text contains every needle (skipping
    others, e.g. offers of tickets other tests filed)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    seen: list[str] = []
    while True:
        remaining = deadline - loop.time()
        if remaining <= 0:
            raise AssertionError(f"user {user.user_id}: no message with {needles}; saw {seen}")
        try:
            [message] = await user.wait_for_messages(1, timeout=remaining)
        except AssertionError:
            raise AssertionError(
                f"user {user.user_id}: no message with {needles}; saw {seen}"
            ) from None
        text = message.text or ""
        if all(needle in text for needle in needles):
            return message
        seen.append(text)


async def expect_button(user: FakeUser, data: str, seconds: float = 30) -> BotMessage:
    """The next message to this user carrying a button with this callback data."""
    for _ in range(20):
        [message] = await user.wait_for_messages(1, timeout=seconds)
        if data in [d for _, d in message.buttons()]:
            return message
    raise AssertionError(f"no message with a {data} button")


async def org(
    db: async_sessionmaker[AsyncSession], name: str, categories: list[str], language: str = "zh"
) -> Credentials:
    async with db() as session, session.begin():
        _, credentials = await create_organisation(
            session, name=name, categories=categories, communities=None, language=language
        )
    return credentials


async def staff_member(db: async_sessionmaker[AsyncSession], name: str) -> Credentials:
    async with db() as session, session.begin():
        _, credentials = await create_staff(
            session, name=name, role=Role.ADMIN, password="secret-password", language="en"
        )
    return credentials


async def link(user: FakeUser, code: str, needle: str) -> None:
    await user.send_text(f"/link {code}")
    await expect(user, needle)


async def claimed_events(db: async_sessionmaker[AsyncSession], number: str) -> int:
    async with db() as session:
        ticket = await session.scalar(select(Ticket).where(Ticket.number == number))
        assert ticket is not None
        count = await session.scalar(
            select(func.count())
            .select_from(TicketEvent)
            .where(TicketEvent.ticket_id == ticket.id, TicketEvent.to_status == "claimed")
        )
        return int(count or 0)


async def ticket(db: async_sessionmaker[AsyncSession], number: str) -> Ticket:
    async with db() as session:
        found = await session.scalar(select(Ticket).where(Ticket.number == number))
        assert found is not None
        return found


async def test_file_claim_race_start_done_rate(
    telegram: FakeTelegram, db: async_sessionmaker[AsyncSession]
) -> None:
    # Two organisations for housekeeping (no other test files housekeeping requests).
    first = telegram.user(73001, first_name="A", language_code="zh")
    second = telegram.user(73002, first_name="B", language_code="zh")
    await link(first, (await org(db, "甲家政", ["housekeeping"])).link_code, "甲家政")
    await link(second, (await org(db, "乙家政", ["housekeeping"])).link_code, "乙家政")

    resident = telegram.user(73010, first_name="李奶奶", language_code="zh")
    number = await file_request(resident, "想请人上门帮忙打扫卫生，擦擦窗户", ANSWERS)

    # Both organisations get the card, without the resident's phone or address.
    card_a = await expect(first, number, "接单后")
    card_b = await expect(second, number, "接单后")
    for card in (card_a, card_b):
        assert "13812345678" not in (card.text or "")
        assert "501" not in (card.text or "")
    # Both press claim at once: exactly one wins.
    await asyncio.gather(
        first.press(card_a, f"o:claim:{number}"), second.press(card_b, f"o:claim:{number}")
    )
    told = await expect(resident, number, "接单")
    winner, loser = (first, second) if "甲家政" in (told.text or "") else (second, first)
    winner_card = await expect(winner, "您已接单", number)
    assert "+8613812345678" in (winner_card.text or "")
    assert "幸福小区3栋2单元501" in (winner_card.text or "")
    await expect(loser, number, "已由")
    assert await claimed_events(db, number) == 1

    # The loser pressing again (stale card) is told who has it, nothing changes.
    await loser.press(card_a if loser is first else card_b, f"o:claim:{number}", stale=True)
    await expect(loser, number, "接走")
    assert await claimed_events(db, number) == 1

    await winner.press(winner_card, f"o:start:{number}")
    started = await expect(winner, "已开始服务", number)
    await expect(resident, "开始处理", number)
    await winner.press(started, f"o:done:{number}")
    await expect(winner, "已标记完成", number)
    done = await expect(resident, "已完成", number)
    assert [data for _, data in done.buttons()][:5] == [
        f"r:rate:{number}:{stars}" for stars in range(1, 6)
    ]
    await resident.press(done, f"r:rate:{number}:5")
    await expect(resident, "谢谢您的评价")
    await expect(winner, "评分 5 星", number)
    # A double press of the stars changes nothing.
    await resident.press(done, f"r:rate:{number}:1", stale=True)
    await resident.send_raw({"text": "师傅很细心，谢谢！", "reply_to_message": done.raw})
    await expect(resident, "留言已收到")
    closed = await ticket(db, number)
    assert (closed.status, closed.rating, closed.rating_comment) == (
        "closed",
        5,
        "师傅很细心，谢谢！",
    )


async def test_release_reopen_cancel_and_escalation(
    telegram: FakeTelegram, db: async_sessionmaker[AsyncSession]
) -> None:
    # Counselling needs staff review (services/reference/categories.yml).
    helper = telegram.user(74001, first_name="C", language_code="en")
    other = telegram.user(74002, first_name="D", language_code="en")
    boss = telegram.user(74003, first_name="E", language_code="en")
    await link(helper, (await org(db, "Calm Minds", ["counselling"], "en")).link_code, "Calm")
    await link(other, (await org(db, "Open Door", ["counselling"], "en")).link_code, "Open Door")
    await link(boss, (await staff_member(db, "Ms Zhou")).link_code, "Ms Zhou")

    resident = telegram.user(74010, first_name="Tom", language_code="en")
    number = await file_request(
        resident,
        "My teenage son is very depressed and won't talk to us, we need a counsellor",
        ["12 Xingfu Road, building 3 room 501", "tomorrow morning", "13812345678"],
    )
    review = await expect(boss, number, "awaits review")
    await boss.press(review, f"s:ok:{number}")
    await expect(boss, "Approved", number)
    card = await expect(helper, number, "claim it")
    await expect(other, number, "claim it")

    # Release: the reason is asked, the ticket is offered to the other organisation only.
    await helper.press(card, f"o:claim:{number}")
    claimed = await expect(helper, "You claimed", number)
    await helper.press(claimed, f"o:rel:{number}")
    reasons = await expect(helper, "Why are you releasing", number)
    await helper.press(reasons, f"o:rel:{number}:reason_far")
    await expect(helper, "Released", number)
    await expect(boss, number, "too far away")
    await expect(resident, number, "another one")
    again = await expect(other, number, "claim it")
    await helper.assert_no_messages(within=0.5)

    # Done, then "not fixed": back to the same organisation, which takes it again.
    await other.press(again, f"o:claim:{number}")
    claimed = await expect(other, "You claimed", number)
    await other.press(claimed, f"o:start:{number}")
    started = await expect(other, "Started", number)
    await other.press(started, f"o:done:{number}")
    done = await expect(resident, "reports ticket", number)
    await resident.press(done, f"r:nf:{number}")
    await expect(resident, "Open Door", "handled again")
    reopened = await expect(other, "not fixed", number)
    assert (await ticket(db, number)).status == "reopened"
    await other.press(reopened, f"o:claim:{number}")
    await expect(other, "You claimed", number)
    assert (await ticket(db, number)).status == "claimed"

    # The resident cancels: the organisation holding it is told.
    await resident.send_text("/cancel")
    offer = await expect_button(resident, f"t:cancel:{number}")
    await resident.press(offer, f"t:cancel:{number}")
    await expect(resident, "cancelled")
    await expect(other, number, "withdrawn")

    # Escalation with a controllable clock: a published ticket left unclaimed past
    # its SLA is announced in the staff chat (吹哨), once.
    second = await file_request(
        resident,
        "I feel anxious all the time since I lost my job, can someone talk to me",
        ["12 Xingfu Road, building 3 room 501", "any time", "13812345678"],
    )
    review = await expect(boss, second, "awaits review")
    await boss.press(review, f"s:ok:{second}")
    await expect(helper, second, "claim it")
    async with db() as session, session.begin():
        later = utcnow() + timedelta(days=30)
        first_sweep = await workflow.sweep(session, now=later)
        second_sweep = await workflow.sweep(session, now=later)
    assert second in first_sweep.escalated
    assert second not in second_sweep.escalated
    # The sweep does not wake the bot's notifier: its poll delivers the message.
    await expect(boss, second, "Escalated")
    await boss.assert_no_messages(within=0.5)

    # Staff see every organisation's standing; residents may not.
    await boss.send_text("/orgs")
    table = (await expect(boss, "Organisations", "Calm Minds")).text or ""
    [calm] = [line for line in table.splitlines() if line.startswith("Calm Minds")]
    assert "1 released" in calm and "no ratings yet" in calm
    await resident.send_text("/orgs")
    await expect(resident, "linked to a staff member")


async def test_a_neighbour_joins_the_broken_lift_ticket_and_hears_the_news(
    telegram: FakeTelegram, db: async_sessionmaker[AsyncSession]
) -> None:
    lifts = telegram.user(75001, first_name="F", language_code="zh")
    await link(lifts, (await org(db, "安达电梯维保", ["property"])).link_code, "安达电梯维保")
    first = telegram.user(75010, first_name="赵大爷", language_code="zh")
    number = await file_request(
        first, "我们楼的电梯坏了，困了好几天了", ["枫林苑3号楼1单元", "越快越好", "13812345678"]
    )
    neighbour = telegram.user(75011, first_name="钱阿姨", language_code="zh")
    await neighbour.send_text("枫林苑的电梯又坏了，物业一直不来修")
    for answer in ["枫林苑5号楼", "今天", "13900001111"]:
        await neighbour.wait_for_messages(1)
        await neighbour.send_text(answer)
    skip = (await neighbour.wait_for_messages(1))[0]
    await neighbour.press(skip, skip.buttons()[0][1])  # no photo
    summary = (await neighbour.wait_for_messages(1))[0]
    await neighbour.press(summary, summary.buttons()[0][1])  # submit
    offer = await expect(neighbour, number, "加入")
    join = f'/join_ticket{{"ticket_number": "{number}"}}'
    assert [data for _, data in offer.buttons()] == [join, "/confirm_submit"]
    await neighbour.press(offer, join)
    await expect(neighbour, "已加入工单", number)

    card = await expect(lifts, number, "接单后")
    await lifts.press(card, f"o:claim:{number}")
    await expect(first, number, "安达电梯维保")
    await expect(neighbour, number, "安达电梯维保")
    async with db() as session:
        filed = await session.scalar(
            select(func.count())
            .select_from(Ticket)
            .where(Ticket.description.like("%物业一直不来修%"))
        )
    assert filed == 0


async def test_an_organisation_works_from_its_group_chat(
    telegram: FakeTelegram, db: async_sessionmaker[AsyncSession]
) -> None:
    coordinator = telegram.group_member(-1007601, 76001, "Coordinator", title="阳光助残志愿队")
    volunteer = telegram.group_member(-1007601, 76002, "Volunteer", title="阳光助残志愿队")
    credentials = await org(db, "阳光助残志愿队", ["disability"])
    await coordinator.send_text(f"/link {credentials.link_code}")
    await expect(coordinator, "阳光助残志愿队", "绑定成功")
    # The code is spent: linking again with it is refused.
    await volunteer.send_text(f"/link {credentials.link_code}")
    await expect(volunteer, "绑定码不正确")

    resident = telegram.user(76010, first_name="孙先生", language_code="zh")
    number = await file_request(resident, "我儿子是残疾人，需要借一辆轮椅，再安排康复训练", ANSWERS)
    card = await expect(volunteer, number, "接单后")
    await volunteer.press(card, f"o:claim:{number}")  # anyone in the group may claim
    await expect(volunteer, "您已接单", number)
    assert (await ticket(db, number)).status == "claimed"
