"""The resident web chat's web layer, in process, on SQLite and PostgreSQL.

The engine is down here (nothing listens on the settings' Rasa port), so the front
desk answers `engine_unavailable`: these tests cover what the web layer does with
replies, identity, CSRF, photos, tickets and notices. The dialogue itself runs in
tests/e2e/test_browser_chat.py against the real engine.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from config.settings import Settings
from i18n import t
from services import workflow
from services.models import OutboxMessage, Resident, Ticket
from services.parties import create_organisation
from services.tickets import NewTicket, get_or_create_resident, get_ticket
from tests.servers import free_port
from tests.web.conftest import ADDRESS, PHONE, unique
from web.app import create_app
from web.chat_identity import (
    COOKIE,
    CSRF_HEADER,
    _stored_secret,
    accept_language,
    resident_in_cookie,
    web_secret,
)

Sessions = async_sessionmaker[AsyncSession]
PAGE_HEADERS = {CSRF_HEADER: "1"}
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 200
MAX_PHOTO = 1024 * 1024


@pytest.fixture(scope="session")
def chat_settings(db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """The test database, a data folder of its own, 1 MB photos, and no engine."""
    return Settings(  # type: ignore[call-arg]
        _env_file=None,
        data_dir=tmp_path_factory.mktemp("webchat"),
        database_url=db_url,
        redis_url=None,
        rasa_port=free_port(),
        max_photo_bytes=MAX_PHOTO,
    )


@pytest.fixture(scope="session")
async def chat_app(chat_settings: Settings) -> AsyncIterator[FastAPI]:
    app = create_app(chat_settings)
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def browser(chat_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """One browser: its own cookie jar, sending the chat page's header."""
    transport = httpx.ASGITransport(app=chat_app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://web.test", headers=PAGE_HEADERS
    ) as http:
        yield http


def resident_id(client: httpx.AsyncClient, settings: Settings) -> str:
    found = resident_in_cookie(client.cookies.get(COOKIE), settings)
    assert found is not None
    return found


async def say(client: httpx.AsyncClient, text: str) -> httpx.Response:
    return await client.post("/chat/api/message", json={"text": text})


async def file_for(db: Sessions, external_id: str, description: str = "厨房水管漏水") -> str:
    """A ticket of the web resident `external_id`, filed as the dialogue files it."""
    async with db() as session, session.begin():
        resident = await get_or_create_resident(session, channel="web", external_id=external_id)
        ticket = (
            await workflow.file_ticket(
                session,
                resident=resident,
                request=NewTicket(
                    category_code="repair",
                    description=description,
                    address=ADDRESS,
                    latitude=None,
                    longitude=None,
                    preferred_time_text="明天下午三点",
                    preferred_time_at=None,
                    phone=PHONE,
                    photo_path=None,
                    language="zh",
                    idempotency_key=None,
                ),
            )
        ).ticket
        return ticket.number


# --- the page -----------------------------------------------------------------------------


async def test_page_is_chinese_by_default_and_english_for_an_english_browser(
    browser: httpx.AsyncClient,
) -> None:
    chinese = await browser.get("/chat")
    assert chinese.status_code == 200
    assert '<html lang="zh">' in chinese.text
    assert t("web_welcome", "zh").split("，")[0] in chinese.text
    assert "script-src 'self'" in chinese.headers["content-security-policy"]
    english = await browser.get("/chat", headers={"Accept-Language": "en-GB,en;q=0.9,zh;q=0.5"})
    assert '<html lang="en">' in english.text
    assert "Community services" in english.text
    # Viewing the page creates nobody: the first call of the script does.
    assert COOKIE not in browser.cookies


def test_accept_language_takes_the_highest_quality() -> None:
    assert accept_language("zh;q=0.4, en-US;q=0.9, fr") == "fr"
    assert accept_language("fr;q=0.1, en;q=0.8") == "en"
    assert accept_language("*, zh-CN") == "zh-CN"
    assert accept_language("en;q=0") is None
    assert accept_language(None) is None


# --- identity -----------------------------------------------------------------------------


async def test_cookie_identity_is_stable_across_requests(
    browser: httpx.AsyncClient, chat_settings: Settings, db: Sessions
) -> None:
    first = await say(browser, "你好")
    assert first.status_code == 200
    assert COOKIE in first.headers["set-cookie"]
    assert "httponly" in first.headers["set-cookie"].lower()
    me = resident_id(browser, chat_settings)
    second = await say(browser, "还在吗")
    assert "set-cookie" not in second.headers
    number = await file_for(db, me)
    listed = (await browser.get("/chat/api/tickets")).json()["tickets"]
    assert [ticket["number"] for ticket in listed] == [number]
    assert listed[0]["cancel"] == f"t:cancel:{number}"
    assert listed[0]["status_name"] == "待接单"
    async with db() as session:
        count = await session.scalar(
            select(func.count())
            .select_from(Resident)
            .where(Resident.channel == "web", Resident.external_id == me)
        )
    assert count == 1


async def test_a_tampered_cookie_is_a_new_resident(
    browser: httpx.AsyncClient, chat_settings: Settings, db: Sessions
) -> None:
    await say(browser, "你好")
    me = resident_id(browser, chat_settings)
    await file_for(db, me)
    cookie = browser.cookies[COOKIE]
    forged = cookie[:-2] + ("AA" if not cookie.endswith("AA") else "BB")
    browser.cookies.clear()
    browser.cookies.set(COOKIE, forged, domain="web.test", path="/chat")
    response = await browser.get("/chat/api/tickets")
    assert response.json()["tickets"] == []
    assert COOKIE in response.headers["set-cookie"]
    assert resident_id(browser, chat_settings) != me


def test_the_generated_secret_is_kept_under_the_data_folder(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, data_dir=tmp_path)  # type: ignore[call-arg]
    secret = web_secret(settings)
    assert (tmp_path / "web_secret").read_text().strip() == secret
    assert (tmp_path / "web_secret").stat().st_mode & 0o077 == 0
    _stored_secret.cache_clear()  # as a restarted process: read back from the file
    assert web_secret(Settings(_env_file=None, data_dir=tmp_path)) == secret  # type: ignore[call-arg]
    configured = Settings(_env_file=None, data_dir=tmp_path, web_secret="s" * 40)  # type: ignore[call-arg]
    assert web_secret(configured) == "s" * 40


# --- CSRF and limits ----------------------------------------------------------------------


async def test_requests_without_the_page_header_or_from_another_site_are_refused(
    chat_app: FastAPI,
) -> None:
    transport = httpx.ASGITransport(app=chat_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://web.test") as plain:
        # A cross-site form post: no custom header.
        form = await plain.post("/chat/api/message", data={"text": "hi"})
        assert form.status_code == 403
        assert (await plain.get("/chat/api/notices")).status_code == 403
        other_site = await plain.post(
            "/chat/api/message",
            json={"text": "hi"},
            headers={**PAGE_HEADERS, "Origin": "https://evil.example"},
        )
        assert other_site.status_code == 403
        fetch_site = await plain.post(
            "/chat/api/press",
            json={"payload": "lang:en"},
            headers={**PAGE_HEADERS, "Sec-Fetch-Site": "cross-site"},
        )
        assert fetch_site.status_code == 403
        same_origin = await plain.post(
            "/chat/api/press",
            json={"payload": "lang:en"},
            headers={**PAGE_HEADERS, "Origin": "http://web.test", "Sec-Fetch-Site": "same-origin"},
        )
        assert same_origin.status_code == 200


async def test_bodies_are_limited_and_coordinates_checked(browser: httpx.AsyncClient) -> None:
    huge = await browser.post("/chat/api/message", json={"text": "漏" * 40_000})
    assert huge.status_code == 413
    wrong = await browser.post("/chat/api/location", json={"latitude": 200, "longitude": 0})
    assert wrong.status_code == 422


# --- replies with the engine down ---------------------------------------------------------


async def test_engine_down_is_said_in_the_language_of_the_message(
    browser: httpx.AsyncClient,
) -> None:
    english = await say(browser, "my kitchen pipe is leaking")
    body = english.json()
    assert body["language"] == "en"
    assert body["replies"] == [
        {
            "text": t("engine_unavailable", "en"),
            "rows": [],
            "keyboard": None,
            "notice": None,
            "reply_kind": None,
        }
    ]
    chinese = await say(browser, "厨房水管漏水")
    assert chinese.json()["replies"][0]["text"] == t("engine_unavailable", "zh")


async def test_language_button_and_commands(browser: httpx.AsyncClient) -> None:
    menu = (await say(browser, "/lang")).json()["replies"][0]
    assert [b["payload"] for row in menu["rows"] for b in row] == ["lang:zh", "lang:en"]
    chosen = (await browser.post("/chat/api/press", json={"payload": "lang:en"})).json()
    assert chosen["language"] == "en"
    assert chosen["replies"][0]["text"] == t("language_set", "en")
    # The choice beats the script of the message.
    assert (await say(browser, "你好")).json()["replies"][0]["text"] == t(
        "engine_unavailable", "en"
    )
    status = (await say(browser, "/status")).json()["replies"][0]["text"]
    assert status == t("no_tickets", "en")
    expired = (await browser.post("/chat/api/press", json={"payload": "nonsense"})).json()
    assert expired["replies"][0]["text"] == t("button_expired", "en")


async def test_cancel_button_cancels_the_residents_ticket(
    browser: httpx.AsyncClient, chat_settings: Settings, db: Sessions
) -> None:
    await say(browser, "你好")
    number = await file_for(db, resident_id(browser, chat_settings))
    pressed = await browser.post("/chat/api/press", json={"payload": f"t:cancel:{number}"})
    assert pressed.json()["replies"][0]["text"] == t("ticket_cancelled", "zh", number=number)
    async with db() as session:
        assert (await get_ticket(session, number)).status == "cancelled"


# --- photos -------------------------------------------------------------------------------


async def test_a_photo_is_stored_under_the_photos_folder(
    browser: httpx.AsyncClient, chat_settings: Settings
) -> None:
    before = set(chat_settings.photos_dir.glob("*")) if chat_settings.photos_dir.exists() else set()
    response = await browser.post(
        "/chat/api/photo", files={"photo": ("leak.png", PNG, "image/png")}
    )
    assert response.status_code == 200
    # The engine is down: the photo is kept, the dialogue could not be told.
    assert response.json()["replies"][0]["text"] == t("engine_unavailable", "zh")
    [stored] = set(chat_settings.photos_dir.glob("*")) - before
    assert stored.suffix == ".png" and stored.read_bytes() == PNG


async def test_an_oversized_photo_is_refused_with_a_clear_message(
    browser: httpx.AsyncClient,
) -> None:
    just_over = b"\xff\xd8\xff\xe0" + b"\x00" * MAX_PHOTO
    response = await browser.post(
        "/chat/api/photo", files={"photo": ("big.jpg", just_over, "image/jpeg")}
    )
    assert response.status_code == 413
    assert response.json()["replies"][0]["text"] == t("photo_too_large", "zh", limit_mb=1)
    far_over = b"\xff\xd8\xff\xe0" + b"\x00" * (3 * MAX_PHOTO)
    refused = await browser.post(
        "/chat/api/photo", files={"photo": ("huge.jpg", far_over, "image/jpeg")}
    )
    assert refused.status_code == 413
    assert refused.json()["error"] == "body_too_large"


async def test_a_file_that_is_not_an_image_is_refused(browser: httpx.AsyncClient) -> None:
    response = await browser.post(
        "/chat/api/photo", files={"photo": ("x.html", b"<script>alert(1)</script>", "image/png")}
    )
    assert response.status_code == 400
    assert response.json()["replies"][0]["text"] == t("web_photo_not_image", "zh")
    missing = await browser.post("/chat/api/photo", files={"other": ("a.png", PNG, "image/png")})
    assert missing.status_code == 400


# --- notices ------------------------------------------------------------------------------


async def test_notices_are_shown_once_and_their_buttons_work(
    browser: httpx.AsyncClient, chat_settings: Settings, db: Sessions
) -> None:
    await say(browser, "你好")
    me = resident_id(browser, chat_settings)
    number = await file_for(db, me, description="<b>水管</b>漏水")
    async with db() as session, session.begin():
        organisation, _ = await create_organisation(
            session, name=unique("维修队"), categories=["repair"], communities=None
        )
        await workflow.claim(session, number=number, organisation=organisation)
        await workflow.done(session, number=number, organisation=organisation, note="换了阀门")

    shown = (await browser.get("/chat/api/notices")).json()
    keys = [reply["text"] for reply in shown["replies"]]
    assert len(keys) == 2
    assert organisation.name in keys[0] and number in keys[0]
    done = shown["replies"][1]
    assert "换了阀门" in done["text"]
    assert done["reply_kind"] == "rating_comment" and done["notice"]
    payloads = [b["payload"] for row in done["rows"] for b in row]
    assert f"r:rate:{number}:5" in payloads and f"r:nf:{number}" in payloads
    assert (await browser.get("/chat/api/notices")).json()["replies"] == []
    async with db() as session:
        states = await session.scalars(
            select(OutboxMessage.state).where(
                OutboxMessage.channel == "web", OutboxMessage.chat_id == me
            )
        )
        assert set(states) == {"sent"}

    rated = (await browser.post("/chat/api/press", json={"payload": f"r:rate:{number}:5"})).json()
    assert rated["replies"][0]["text"] == t("ack_rated", "zh", stars=5)
    comment = await browser.post(
        "/chat/api/message", json={"text": "师傅很细心", "reply_to": done["notice"]}
    )
    assert comment.json()["replies"][0]["text"] == t("ack_comment", "zh")
    async with db() as session:
        ticket = await session.scalar(select(Ticket).where(Ticket.number == number))
        assert ticket is not None
        assert (ticket.status, ticket.rating, ticket.rating_comment) == ("closed", 5, "师傅很细心")


async def test_after_the_stars_the_next_text_is_the_comment(
    browser: httpx.AsyncClient, chat_settings: Settings, db: Sessions
) -> None:
    """No reply-to needed: the next text after a rating is its comment, once."""
    await say(browser, "你好")
    me = resident_id(browser, chat_settings)
    number = await file_for(db, me)
    async with db() as session, session.begin():
        organisation, _ = await create_organisation(
            session, name=unique("维修队"), categories=["repair"], communities=None
        )
        await workflow.claim(session, number=number, organisation=organisation)
        await workflow.done(session, number=number, organisation=organisation)
    # Before the stars a text is no comment (it goes to the engine, which is down here).
    before = (await say(browser, "修得不错")).json()
    assert before["replies"][0]["text"] == t("engine_unavailable", "zh")

    rated = (await browser.post("/chat/api/press", json={"payload": f"r:rate:{number}:4"})).json()
    assert rated["replies"][0]["text"] == t("ack_rated", "zh", stars=4)
    thanked = (await say(browser, "师傅准时，很专业 👍")).json()
    assert thanked["replies"][0]["text"] == t("ack_comment", "zh")
    after = (await say(browser, "再说一句")).json()
    assert after["replies"][0]["text"] == t("engine_unavailable", "zh")
    async with db() as session:
        ticket = await get_ticket(session, number)
        assert (ticket.status, ticket.rating, ticket.rating_comment) == (
            "closed",
            4,
            "师傅准时，很专业 👍",
        )


async def test_my_tickets_offers_rate_and_not_fixed_on_a_done_ticket(
    browser: httpx.AsyncClient, chat_settings: Settings, db: Sessions
) -> None:
    await say(browser, "你好")
    me = resident_id(browser, chat_settings)
    number = await file_for(db, me)
    [listed] = (await browser.get("/chat/api/tickets")).json()["tickets"]
    assert (listed["rate"], listed["not_fixed"]) == ([], None)
    async with db() as session, session.begin():
        organisation, _ = await create_organisation(
            session, name=unique("维修队"), categories=["repair"], communities=None
        )
        await workflow.claim(session, number=number, organisation=organisation)
        await workflow.done(session, number=number, organisation=organisation)
    [listed] = (await browser.get("/chat/api/tickets")).json()["tickets"]
    assert [choice["payload"] for choice in listed["rate"]] == [
        f"r:rate:{number}:{stars}" for stars in range(1, 6)
    ]
    assert listed["not_fixed"] == f"r:nf:{number}"
    assert listed["cancel"] is None
    reopened = (await browser.post("/chat/api/press", json={"payload": listed["not_fixed"]})).json()
    assert number in reopened["replies"][0]["text"]
    async with db() as session:
        assert (await get_ticket(session, number)).status == "reopened"
    [listed] = (await browser.get("/chat/api/tickets")).json()["tickets"]
    assert listed["rate"] == [] and listed["not_fixed"] is None


async def test_keep_under_a_cancel_question_changes_nothing(
    browser: httpx.AsyncClient, chat_settings: Settings, db: Sessions
) -> None:
    await say(browser, "你好")
    number = await file_for(db, resident_id(browser, chat_settings))
    kept = (await browser.post("/chat/api/press", json={"payload": f"t:keep:{number}"})).json()
    assert kept["replies"][0]["text"] == t("cancel_kept", "zh", number=number)
    forged = (await browser.post("/chat/api/press", json={"payload": "t:keep:<b>x</b>"})).json()
    assert forged["replies"][0]["text"] == t("button_expired", "zh")
    async with db() as session:
        assert (await get_ticket(session, number)).status == "published"


async def test_an_old_rating_does_not_take_the_next_text(
    browser: httpx.AsyncClient, chat_settings: Settings, db: Sessions
) -> None:
    await say(browser, "你好")
    me = resident_id(browser, chat_settings)
    number = await file_for(db, me)
    long_ago = datetime.now(UTC) - timedelta(hours=2)
    async with db() as session, session.begin():
        organisation, _ = await create_organisation(
            session, name=unique("维修队"), categories=["repair"], communities=None
        )
        await workflow.claim(session, number=number, organisation=organisation, now=long_ago)
        await workflow.done(session, number=number, organisation=organisation, now=long_ago)
        resident = await get_or_create_resident(session, channel="web", external_id=me)
        await workflow.rate(session, number=number, resident=resident, stars=5, now=long_ago)
    later = (await say(browser, "马桶又堵了")).json()
    assert later["replies"][0]["text"] == t("engine_unavailable", "zh")
    async with db() as session:
        assert (await get_ticket(session, number)).rating_comment is None


async def test_another_residents_notices_and_tickets_stay_theirs(
    chat_app: FastAPI, browser: httpx.AsyncClient, chat_settings: Settings, db: Sessions
) -> None:
    await say(browser, "你好")
    number = await file_for(db, resident_id(browser, chat_settings))
    transport = httpx.ASGITransport(app=chat_app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://web.test", headers=PAGE_HEADERS
    ) as other:
        assert (await other.get("/chat/api/tickets")).json()["tickets"] == []
        pressed = await other.post("/chat/api/press", json={"payload": f"t:cancel:{number}"})
        assert pressed.json()["replies"][0]["text"] == t("ticket_not_found", "zh", number=number)
        rate = await other.post("/chat/api/press", json={"payload": f"r:rate:{number}:1"})
        assert rate.json()["replies"][0]["text"] == t("not_yours", "zh", number=number)
    async with db() as session:
        assert (await get_ticket(session, number)).status == "published"
