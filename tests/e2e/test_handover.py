"""Staff hand a claimed ticket on in Telegram (issue 11, item 13), end to end: the real
bot and its notifier, the fake Bot API, the real database. The old holder's card with
the contact is edited into the masked one and it is told; the new holder gets the card
with the contact; the resident is told."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services import Ticket, TicketEvent, workflow
from services.models import utcnow
from services.tickets import NewTicket, get_or_create_resident
from tests.e2e.test_lifecycle import expect, link, org, staff_member, ticket
from tests.fakes.telegram import FakeTelegram

PHONE = "+8613812345678"
ADDRESS = "幸福小区3栋2单元501"
WORDS = "血压一直偏高，想请医生上门量一量，我家在3栋2单元501室"


async def test_staff_hand_a_claimed_ticket_to_another_organisation(
    telegram: FakeTelegram, db: async_sessionmaker[AsyncSession]
) -> None:
    # Medical is filed by no other end-to-end test.
    old = telegram.user(77001, first_name="G", language_code="zh")
    new = telegram.user(77002, first_name="H", language_code="zh")
    boss = telegram.user(77003, first_name="I", language_code="en")
    await link(old, (await org(db, "仁心义诊队", ["medical"])).link_code, "仁心义诊队")
    await link(new, (await org(db, "康宁社区医生", ["medical"])).link_code, "康宁社区医生")
    await link(boss, (await staff_member(db, "Mr Qian")).link_code, "Mr Qian")
    resident = telegram.user(77010, first_name="周阿姨", language_code="zh")
    async with db() as session, session.begin():
        who = await get_or_create_resident(
            session, channel="telegram", external_id=str(resident.user_id)
        )
        filed = (
            await workflow.file_ticket(
                session,
                resident=who,
                request=NewTicket(
                    category_code="medical",
                    description=WORDS,
                    address=ADDRESS,
                    latitude=None,
                    longitude=None,
                    preferred_time_text="明天上午",
                    preferred_time_at=None,
                    phone=PHONE,
                    photo_path=None,
                    language="zh",
                    idempotency_key=None,
                ),
            )
        ).ticket
        number = filed.number

    # The first organisation claims it and gets the contact.
    offer = await expect(old, number, "接单后")
    await old.press(offer, f"o:claim:{number}")
    card = await expect(old, "您已接单", number)
    assert PHONE in (card.text or "") and ADDRESS in (card.text or "")
    await expect(resident, number, "仁心义诊队")
    await expect(new, number, "已由")

    # Overdue: staff are alerted with Assign, which now offers the hand-over.
    async with db() as session, session.begin():
        swept = await workflow.sweep(session, now=utcnow() + timedelta(days=30))
    assert number in swept.escalated
    alert = await expect(boss, number, "Escalated")
    await boss.press(alert, f"s:asg:{number}")
    menu = await expect(boss, number, "is now with", "仁心义诊队")
    choices = dict(menu.buttons())
    assert "仁心义诊队" not in choices  # never the holder
    await boss.press(menu, choices["康宁社区医生"])
    await expect(boss, "Handed", number, "仁心义诊队", "康宁社区医生")

    # The new holder gets the card with the contact and Start / Release.
    handed = await expect(new, number, "转交给了您")
    assert PHONE in (handed.text or "") and ADDRESS in (handed.text or "")
    assert [data for _, data in handed.buttons()] == [f"o:start:{number}", f"o:rel:{number}"]
    # The old holder is told, and its card with the contact is masked in place.
    await expect(old, number, "不再由您负责")
    await old.wait_for_edit(card)
    for secret in (PHONE, ADDRESS, "501室"):
        assert secret not in (card.text or ""), secret
    assert card.buttons() == []
    # The resident is told who has it now.
    await expect(resident, number, "康宁社区医生")

    # The old holder's stale buttons do nothing; the new holder carries it on.
    await old.press(offer, f"o:claim:{number}", stale=True)
    await new.press(handed, f"o:start:{number}")
    await expect(new, "已开始服务", number)
    stored = await ticket(db, number)
    assert stored.status == "in_progress"
    async with db() as session:
        held = await session.scalar(select(Ticket).where(Ticket.number == number))
        assert held is not None
        notes = list(
            await session.scalars(
                select(TicketEvent.note).where(
                    TicketEvent.ticket_id == held.id, TicketEvent.action == "reassigned"
                )
            )
        )
    assert len(notes) == 1 and notes[0] is not None and notes[0].startswith("from org:")
