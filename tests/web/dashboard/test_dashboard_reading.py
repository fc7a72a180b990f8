"""What staff read on the dashboard (issue 12): absolute preferred times, a timeline in
words, a reject form with no reason chosen for them, and the queue's waiting time,
deadline and phone."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from i18n import t
from services.alerts import AlertKind, record_alert
from services.reports import Durations
from services.tickets import NewTicket, get_or_create_resident
from services.workflow import file_ticket
from tests.web.conftest import unique
from tests.web.dashboard.conftest import SignIn
from tests.web.dashboard.helpers import csrf_from
from web.dashboard.reports import duration_unit

PHONE = "+8613812345678"
# 06:00 UTC on Saturday 5 December 2026 is 14:00 in Shanghai.
SATURDAY_AFTERNOON = datetime(2026, 12, 5, 6, 0, tzinfo=UTC)
# A code shown as it is stored: the whole text of a timeline element.
RAW_CODE = re.compile(r">\s*(?:auto-published|emergency|handoff|service|reason_\w+)\s*<")
SELECTED = re.compile(r"<option[^>]*\bselected\b[^>]*>", re.IGNORECASE)


async def file(
    db: async_sessionmaker[AsyncSession], *, category: str, at: datetime | None = None
) -> str:
    async with db() as session, session.begin():
        resident = await get_or_create_resident(
            session, channel="cli", external_id=unique("resident"), display_name="王阿姨"
        )
        ticket = (
            await file_ticket(
                session,
                resident=resident,
                request=NewTicket(
                    category_code=category,
                    description=unique("厨房水管漏水"),
                    address="幸福小区3栋2单元501",
                    latitude=None,
                    longitude=None,
                    preferred_time_text="明天下午",
                    preferred_time_at=at,
                    phone=PHONE,
                    photo_path=None,
                    language="zh",
                    idempotency_key=None,
                ),
            )
        ).ticket
        return ticket.number


def reject_form(page: str) -> str:
    start = page.index('data-testid="reject-form"')
    return page[start : page.index("</form>", start)]


@pytest.mark.parametrize(
    ("language", "shown"), [("zh", "12月5日(周六) 14:00"), ("en", "Sat 5 Dec 14:00")]
)
async def test_the_ticket_page_shows_the_absolute_time_beside_the_words(
    client: httpx.AsyncClient,
    signed_in: SignIn,
    db: async_sessionmaker[AsyncSession],
    language: str,
    shown: str,
) -> None:
    number = await file(db, category="counselling", at=SATURDAY_AFTERNOON)
    await signed_in(language=language)
    page = html.unescape((await client.get(f"/dashboard/tickets/{number}")).text)
    when = page[page.index('data-testid="preferred-time"') :]
    when = when[: when.index("</dd>")]
    assert shown in when and "明天下午" in when


async def test_the_reject_form_stands_apart_with_no_reason_chosen(
    client: httpx.AsyncClient, signed_in: SignIn, db: async_sessionmaker[AsyncSession]
) -> None:
    number = await file(db, category="counselling")  # needs review
    await signed_in(language="zh")
    page = (await client.get(f"/dashboard/tickets/{number}")).text
    form = reject_form(page)
    [chosen] = SELECTED.findall(form)
    assert 'value=""' in chosen  # only the "choose a reason" placeholder
    assert 'class="apart" data-testid="reject-form"' in page
    # Sent without a reason (nothing chosen, nothing typed) it is refused, not rejected.
    refused = await client.post(
        f"/dashboard/tickets/{number}/reject",
        data={"csrf_token": csrf_from(page), "reason": "", "reason_text": ""},
    )
    assert "error=" in refused.headers["location"]
    again = (await client.get(f"/dashboard/tickets/{number}")).text
    assert 'data-testid="reject-form"' in again  # still awaiting review


@pytest.mark.parametrize("language", ["zh", "en"])
async def test_the_timeline_shows_words_never_codes(
    client: httpx.AsyncClient,
    signed_in: SignIn,
    db: async_sessionmaker[AsyncSession],
    language: str,
) -> None:
    published = await file(db, category="repair")  # published without review
    async with db() as session, session.begin():
        resident = await get_or_create_resident(
            session, channel="cli", external_id=unique("resident")
        )
        alert = await record_alert(
            session,
            resident=resident,
            kind=AlertKind.EMERGENCY,
            description="家里着火了",
            language="en",
            idempotency_key=None,
        )
    await signed_in(language=language)
    for number in (published, alert.number):
        page = (await client.get(f"/dashboard/tickets/{number}")).text
        start = page.index('data-testid="timeline"')
        timeline = page[start : page.index("</ol>", start)]
        assert "auto-published" not in timeline and "reason_" not in timeline
        assert not RAW_CODE.search(timeline), (number, RAW_CODE.search(timeline))
    page = (await client.get(f"/dashboard/tickets/{published}")).text
    assert t("dash_note_auto_published", language) in html.unescape(page)


async def test_the_queue_shows_waiting_time_deadline_and_phone(
    client: httpx.AsyncClient, signed_in: SignIn, db: async_sessionmaker[AsyncSession]
) -> None:
    number = await file(db, category="repair")
    await signed_in(language="en")
    page = html.unescape((await client.get("/dashboard?q=" + number)).text)
    head = page[page.index("<thead>") : page.index("</thead>")]
    for column in ("dash_col_waited", "dash_col_deadline", "dash_field_phone"):
        assert t(column, "en") in head
    row = page[page.index(f'data-number="{number}"') :]
    row = row[: row.index("</tr>")]
    assert PHONE in row
    assert re.search(r'data-testid="waited">\d+ min<', row)
    assert re.search(r'data-testid="deadline">\d\d-\d\d \d\d:\d\d<', row)
    assert 'class="number"' in row  # the number never wraps (app.css)
    css = (await client.get("/static/app.css")).text
    assert re.search(r"\.number\b[^{]*\{[^}]*white-space:\s*nowrap", css)


def test_the_hand_off_has_one_name_everywhere() -> None:
    for language in ("zh", "en"):
        assert t("dash_kind_handoff", language) == t("kind_handoff", language)
        assert t("label_alert_handoff", language).lower() == t("kind_handoff", language).lower()
    assert "转人工" not in t("status_alert_handoff", "zh")


def test_median_times_of_minutes_read_in_minutes() -> None:
    quick = Durations(
        to_claim={"repair": 0.25},
        to_done={"repair": 0.5},
        overall_to_claim=0.25,
        overall_to_done=0.5,
    )
    assert duration_unit(quick) == ("minutes", 60.0)
    slow = Durations(
        to_claim={"repair": 0.25},
        to_done={"repair": 5.0},
        overall_to_claim=0.25,
        overall_to_done=5.0,
    )
    assert duration_unit(slow) == ("hours", 1.0)
    assert duration_unit(Durations({}, {}, None, None)) == ("hours", 1.0)


async def test_the_charts_page_names_the_unit_of_its_times(
    client: httpx.AsyncClient, signed_in: SignIn, db: async_sessionmaker[AsyncSession]
) -> None:
    await signed_in(language="en")
    page = html.unescape((await client.get("/dashboard/charts")).text)
    title = re.search(r'data-testid="durations-title">([^<]+)<', page)
    overall = re.search(r'data-testid="durations-overall">([^<]+)<', page)
    assert title and overall
    minutes = title.group(1) == t("dash_chart_durations_minutes", "en")
    assert minutes or title.group(1) == t("dash_chart_durations", "en")
    assert (" min " in overall.group(1)) == minutes
