"""Never a dead end, through the real bot, engine (the production model's fallback
threshold), actions and database: a vague message gets the likeliest categories as
buttons; after two misses, a person is offered and asking for one files a staff ticket.

The vague messages are ones the production model is unsure about (top probability below
the FallbackClassifier's 0.4); if a model change makes one of them confident, these
tests fail and a vaguer message is needed."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from i18n import t
from tests.e2e.test_alerts import tickets_of
from tests.e2e.test_filing import one
from tests.fakes.telegram import BotMessage, FakeTelegram, FakeUser

VAGUE = ("家里有点事", "我家那个东西", "嗯 那个事")


async def clarified(user: FakeUser, text: str) -> BotMessage:
    """Send a vague message; return the clarifying question, checked."""
    await user.send_text(text)
    question = await one(user)
    assert "哪一种" in (question.text or ""), question.text
    buttons = question.buttons()
    assert 2 <= len(buttons) <= 4, buttons
    assert buttons[-1] == (t("something_else", "zh"), "/other_need")
    assert all(data.startswith("/") for _, data in buttons[:-1]), buttons
    return question


async def test_a_vague_message_offers_categories_and_a_press_starts_the_form(
    telegram: FakeTelegram,
) -> None:
    user = telegram.user(74001, language_code="zh")
    question = await clarified(user, VAGUE[0])
    title, payload = question.buttons()[0]
    await user.press(question, payload)
    form = await one(user)
    assert "地址" in (form.text or ""), (title, form.text)


async def test_two_misses_then_a_person_is_offered_and_files_a_staff_ticket(
    telegram: FakeTelegram, db: async_sessionmaker[AsyncSession]
) -> None:
    user = telegram.user(74002, language_code="zh")
    for text in VAGUE[:2]:
        question = await clarified(user, text)
        await user.press(question, "/other_need")
        assert "具体说说" in ((await one(user)).text or "")
    await user.send_text(VAGUE[2])
    offer = await one(user)
    assert "工作人员" in (offer.text or ""), offer.text
    await user.press(offer, offer.button("工作人员")[1])
    assert "工作人员" in ((await one(user)).text or "")
    [ticket] = await tickets_of(db, "74002")
    assert (ticket.kind, ticket.category_code) == ("handoff", None)
    # The need is the last thing asked for; the whole conversation goes beside it.
    assert ticket.description == VAGUE[2]
    said = [line["text"] for line in ticket.transcript or [] if line["from"] == "resident"]
    assert all(text in said for text in VAGUE), said
