"""What organisations and staff read (issue 12): absolute times on every card, no empty
"（备注：-）", and a staff close of finished work that credits the organisation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from sqlalchemy.ext.asyncio import AsyncSession

from desk.notices import render
from services import workflow
from services.errors import UnknownCategory
from services.models import Resident, Ticket
from services.notify import absolute_time, preferred_time
from services.tickets import NewTicket
from services.workflow import file_ticket
from tests.services.helpers import (
    NOW,
    PHONE,
    XINGFULI,
    keys,
    make_org,
    make_staff,
    outbox,
    resident,
)

HOUR = timedelta(hours=1)
# 07:00 UTC on Wednesday 7 May 2031 is 15:00 in Shanghai (NOW is Tuesday 6 May, 10:00).
TOMORROW_AFTERNOON = datetime(2031, 5, 7, 7, 0, tzinfo=UTC)


async def _file(
    session: AsyncSession,
    who: Resident,
    *,
    words: str | None,
    at: datetime | None,
    category: str = "repair",
) -> Ticket:
    return (
        await file_ticket(
            session,
            resident=who,
            now=NOW,
            request=NewTicket(
                category_code=category,
                description="厨房水管漏水",
                address=XINGFULI,
                latitude=None,
                longitude=None,
                preferred_time_text=words,
                preferred_time_at=at,
                phone=PHONE,
                photo_path=None,
                language="zh",
                idempotency_key=None,
            ),
        )
    ).ticket


def test_absolute_time_in_both_languages_and_the_local_zone() -> None:
    assert absolute_time(TOMORROW_AFTERNOON, "Asia/Shanghai", "zh") == "5月7日(周三) 15:00"
    assert absolute_time(TOMORROW_AFTERNOON, "Asia/Shanghai", "en") == "Wed 7 May 15:00"
    # Late evening UTC is the next morning in Shanghai: the date moves with the zone.
    late = datetime(2031, 12, 31, 17, 30, tzinfo=UTC)
    assert absolute_time(late, "Asia/Shanghai", "zh") == "1月1日(周四) 01:30"
    assert absolute_time(late, "UTC", "en") == "Wed 31 Dec 17:30"


async def test_the_organisation_card_shows_the_date_with_the_residents_words(
    session: AsyncSession,
) -> None:
    org = await make_org(session)
    ticket = await _file(
        session, await resident(session), words="明天下午三点 打13800138000", at=TOMORROW_AFTERNOON
    )
    [offer] = await outbox(session, chat=org.chat, key="o_offer")
    zh = render(offer.message_key, offer.params, [], "zh").text
    en = render(offer.message_key, offer.params, [], "en").text
    assert "时间：5月7日(周三) 15:00（居民原话：明天下午三点" in zh
    assert "Time: Wed 7 May 15:00 (resident's words: 明天下午三点" in en
    # The offer is masked: the words' phone number is not on it, in either language.
    assert "13800138000" not in zh and "13800138000" not in en

    await workflow.claim(session, number=ticket.number, organisation=org.organisation)
    [claimed] = await outbox(session, chat=org.chat, key="o_claimed")
    held = render(claimed.message_key, claimed.params, [], "zh").text
    assert "5月7日(周三) 15:00（居民原话：明天下午三点 打13800138000）" in held


async def test_a_time_not_understood_shows_the_words_and_none_shows_a_dash(
    session: AsyncSession,
) -> None:
    owner = await resident(session)
    vague = await _file(session, owner, words="等我下班", at=None)
    assert preferred_time(vague) == "等我下班"
    nothing = await _file(session, owner, words=None, at=None)
    assert preferred_time(nothing) == "-"
    only_when = await _file(session, owner, words=None, at=TOMORROW_AFTERNOON)
    assert preferred_time(only_when) == {"zh": "5月7日(周三) 15:00", "en": "Wed 7 May 15:00"}


async def test_an_empty_organisation_note_is_left_out(session: AsyncSession) -> None:
    org = await make_org(session)
    owner = await resident(session)
    ticket = await _file(session, owner, words="明天下午", at=TOMORROW_AFTERNOON)
    await workflow.claim(session, number=ticket.number, organisation=org.organisation)
    await workflow.done(session, number=ticket.number, organisation=org.organisation, note="  ")
    [told] = await outbox(session, chat=owner.external_id, key="n_done", ticket=ticket)
    text = render(told.message_key, told.params, [], "zh").text
    assert "备注" not in text and "-）" not in text
    assert org.organisation.name in text

    noted = await _file(session, owner, words="明天下午", at=TOMORROW_AFTERNOON)
    await workflow.claim(session, number=noted.number, organisation=org.organisation)
    await workflow.done(
        session, number=noted.number, organisation=org.organisation, note="换了阀门"
    )
    [with_note] = await outbox(session, chat=owner.external_id, key="n_done", ticket=noted)
    assert "（备注：换了阀门）" in render("n_done", with_note.params, [], "zh").text


async def test_a_staff_close_of_finished_work_credits_the_organisation(
    session: AsyncSession,
) -> None:
    member = await make_staff(session)
    org = await make_org(session)
    owner = await resident(session)
    ticket = await _file(session, owner, words="明天下午", at=TOMORROW_AFTERNOON)
    await workflow.claim(session, number=ticket.number, organisation=org.organisation)
    await workflow.done(session, number=ticket.number, organisation=org.organisation)
    await workflow.close(
        session, number=ticket.number, staff=member.staff, reason="reason_handled", now=NOW + HOUR
    )
    assert (await keys(session, owner.external_id))[-1] == "n_closed_done"
    [told] = await outbox(session, chat=owner.external_id, key="n_closed_done")
    for language in ("zh", "en"):
        text = render(told.message_key, told.params, [], language).text
        assert org.organisation.name in text
        assert "社区已处理" not in text and "handled by the community" not in text

    # An open ticket staff close still gives the staff member's reason.
    other = await _file(session, owner, words="明天下午", at=TOMORROW_AFTERNOON)
    await workflow.close(session, number=other.number, staff=member.staff, reason="reason_handled")
    [closed] = await outbox(session, chat=owner.external_id, key="n_closed")
    assert "社区已处理" in render("n_closed", closed.params, [], "zh").text


async def test_an_unknown_category_error_lists_the_codes(session: AsyncSession) -> None:
    with pytest.raises(UnknownCategory) as raised:
        await _file(session, await resident(session), words=None, at=None, category="plumbing")
    message = str(raised.value)
    for code in ("repair", "elder_care", "policy", "housekeeping"):
        assert code in message
    with pytest.raises(UnknownCategory) as raised:
        await make_org(session, categories=["repair", "nope"])
    assert "'nope'" in str(raised.value) and "legal_aid" in str(raised.value)


def test_the_readme_lists_every_category_code() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    reference = Path(__file__).parents[2] / "services" / "reference" / "categories.yml"
    codes = [entry["code"] for entry in yaml.safe_load(reference.read_text(encoding="utf-8"))]
    assert len(codes) >= 11
    for code in codes:
        assert f"| `{code}` |" in readme, code
