"""The web chat's restored conversation (`GET /chat/api/history`), in process, on SQLite
and PostgreSQL, against a stand-in engine that answers the tracker endpoint over HTTP
with events shaped as Rasa 3.6 serialises them (web/chat_history.py).

Covered: the resident's messages and the assistant's replies in order, payloads shown
as button titles, only the pending choice live, notices merged in, the rating prompt no
longer live once the ticket is rated, the retention cut-off, the size bound, identity
and CSRF, the engine down, and that nothing of the transcript is logged. The real
engine's tracker is read in tests/e2e/test_browser_chat.py.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from aiohttp import web as aioweb
from fastapi import FastAPI
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from config.settings import Settings
from desk.frontdesk import Reply
from i18n import t
from services import workflow
from services.models import OutboxMessage
from services.parties import create_organisation
from services.tickets import NewTicket, get_or_create_resident
from tests.web.conftest import ADDRESS, PHONE, unique
from web.app import create_app
from web.chat_history import HISTORY_LIMIT, Line, payload_words, pending, tracker_lines
from web.chat_identity import COOKIE, CSRF_HEADER, resident_in_cookie

Sessions = async_sessionmaker[AsyncSession]
PAGE_HEADERS = {CSRF_HEADER: "1"}
TTL_DAYS = 30

SKIP = [{"title": "跳过", "payload": "/skip_photo"}]
CATEGORIES = [
    {"title": "🔧 维修", "payload": '/choose_category{"category":"repair"}'},
    {"title": "⚖️ 法律援助", "payload": '/choose_category{"category":"legal_aid"}'},
]
LOCATION_KEYBOARD = [[{"text": "📍 发送我的位置", "request_location": True}]]


class TrackerEngine:
    """The engine's HTTP API as far as the web chat uses it: the REST webhook (answers
    one line) and `GET /conversations/{id}/tracker` (the events a test gave it)."""

    def __init__(self) -> None:
        self.events: dict[str, list[dict[str, Any]]] = {}
        self.asked: list[str] = []
        self.broken = False
        self.port = 0
        self._runner: aioweb.AppRunner | None = None

    async def start(self) -> None:
        app = aioweb.Application()
        app.router.add_post("/webhooks/orders/webhook", self._webhook)
        app.router.add_get("/conversations/{conversation}/tracker", self._tracker)
        self._runner = aioweb.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = aioweb.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = int(self._runner.addresses[0][1])

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _webhook(self, request: aioweb.Request) -> aioweb.Response:
        return aioweb.json_response([{"recipient_id": "x", "text": "好的"}])

    async def _tracker(self, request: aioweb.Request) -> aioweb.Response:
        conversation = request.match_info["conversation"]
        self.asked.append(conversation)
        if self.broken:
            return aioweb.json_response({"status": "failure"}, status=500)
        assert request.query.get("include_events") == "AFTER_RESTART"
        events = self.events.get(conversation, [])
        return aioweb.json_response(
            {"sender_id": conversation, "slots": {"phone": PHONE}, "events": events}
        )


def user(text: str, at: float) -> dict[str, Any]:
    return {
        "event": "user",
        "timestamp": at,
        "metadata": {"language": "zh", "channel": "web"},
        "text": text,
        "parse_data": {"intent": {"name": "x", "confidence": 1.0}, "entities": [], "text": text},
        "input_channel": "orders",
        "message_id": unique("m"),
    }


def bot(
    text: str | None,
    at: float,
    buttons: list[dict[str, str]] | None = None,
    custom: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "event": "bot",
        "timestamp": at,
        "metadata": {"utter_action": "utter_x"},
        "text": text,
        "data": {
            "elements": None,
            "quick_replies": None,
            "buttons": buttons,
            "attachment": None,
            "image": None,
            "custom": custom,
        },
    }


def housekeeping(at: float) -> list[dict[str, Any]]:
    """Events that are no message: they never show."""
    return [
        {"event": "action", "timestamp": at, "name": "action_session_start"},
        {"event": "session_started", "timestamp": at},
        {"event": "slot", "timestamp": at, "name": "phone", "value": PHONE},
        {"event": "active_loop", "timestamp": at, "name": "service_request_form"},
    ]


def photo_step(start: float) -> list[dict[str, Any]]:
    """A form at its photo step: need, category (pressed), address, time, phone."""
    return [
        *housekeeping(start),
        user("我家厨房水管漏水了", start + 1),
        bot("您需要哪一类服务？", start + 2, buttons=CATEGORIES),
        user('/choose_category{"category":"repair"}', start + 3),
        bot(
            None,
            start + 4,
            custom={"text": "请告诉我服务地址", "reply_keyboard": LOCATION_KEYBOARD},
        ),
        user('/share_location{"latitude": 31.205, "longitude": 121.435}', start + 5),
        bot("您希望什么时间上门？", start + 6),
        user("明天下午三点", start + 7),
        bot("请留一个联系电话", start + 8),
        user("13812345678", start + 9),
        bot("如果方便，可以发一张照片；没有的话点“跳过”。", start + 10, buttons=SKIP),
    ]


@pytest.fixture(scope="session")
async def engine() -> AsyncIterator[TrackerEngine]:
    fake = TrackerEngine()
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture(scope="session")
def history_settings(
    db_url: str, engine: TrackerEngine, tmp_path_factory: pytest.TempPathFactory
) -> Settings:
    return Settings(  # type: ignore[call-arg]
        _env_file=None,
        data_dir=tmp_path_factory.mktemp("webchat-history"),
        database_url=db_url,
        redis_url=None,
        rasa_port=engine.port,
        engine_wait_s=0,
        conversation_ttl_days=TTL_DAYS,
    )


@pytest.fixture(scope="session")
async def history_app(history_settings: Settings) -> AsyncIterator[FastAPI]:
    app = create_app(history_settings)
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def browser(history_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """One browser: its own cookie jar, sending the chat page's header."""
    transport = httpx.ASGITransport(app=history_app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://web.test", headers=PAGE_HEADERS
    ) as http:
        yield http


@pytest.fixture(autouse=True)
def engine_answers(engine: TrackerEngine) -> None:
    engine.broken = False
    engine.asked.clear()


async def start(client: httpx.AsyncClient, settings: Settings) -> str:
    """The resident of this browser after a first message; their conversation id."""
    said = await client.post("/chat/api/message", json={"text": "你好"})
    assert said.status_code == 200
    found = resident_in_cookie(client.cookies.get(COOKIE), settings)
    assert found is not None
    return f"web:{found}"


async def history(client: httpx.AsyncClient) -> list[dict[str, Any]]:
    response = await client.get("/chat/api/history")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    lines: list[dict[str, Any]] = response.json()["history"]
    return lines


def shown(lines: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(line["from"], line["text"]) for line in lines]


async def done_ticket(db: Sessions, external_id: str) -> str:
    """A ticket of this web resident, claimed and reported done (its notices queued)."""
    async with db() as session, session.begin():
        resident = await get_or_create_resident(session, channel="web", external_id=external_id)
        ticket = (
            await workflow.file_ticket(
                session,
                resident=resident,
                request=NewTicket(
                    category_code="repair",
                    description="厨房水管漏水",
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
        organisation, _ = await create_organisation(
            session, name=unique("维修队"), categories=["repair"], communities=None
        )
        await workflow.claim(session, number=ticket.number, organisation=organisation)
        await workflow.done(session, number=ticket.number, organisation=organisation)
        return ticket.number


# --- the transcript -----------------------------------------------------------------------


async def test_a_reload_mid_form_shows_the_conversation_and_the_pending_skip_button(
    browser: httpx.AsyncClient, engine: TrackerEngine, history_settings: Settings
) -> None:
    conversation = await start(browser, history_settings)
    engine.events[conversation] = photo_step(time.time() - 600)
    lines = await history(browser)
    assert shown(lines) == [
        ("resident", "我家厨房水管漏水了"),
        ("assistant", "您需要哪一类服务？"),
        ("resident", "🔧 维修"),  # the pressed button's title, not its payload
        ("assistant", "请告诉我服务地址"),
        ("resident", "📍 31.20500, 121.43500"),
        ("assistant", "您希望什么时间上门？"),
        ("resident", "明天下午三点"),
        ("assistant", "请留一个联系电话"),
        ("resident", "13812345678"),
        ("assistant", "如果方便，可以发一张照片；没有的话点“跳过”。"),
    ]
    assert engine.asked == [conversation]
    assistant = [line for line in lines if line["from"] == "assistant"]
    # Only the photo step's choice is live; the category buttons are there, disabled.
    assert [line["live"] for line in assistant] == [False, False, False, False, True]
    assert assistant[-1]["rows"] == [[{"title": "跳过", "payload": "/skip_photo"}]]
    assert [b["title"] for row in assistant[0]["rows"] for b in row] == ["🔧 维修", "⚖️ 法律援助"]
    # An answered address question does not bring its location keyboard back.
    assert assistant[1]["keyboard"] is None
    assert not any(line["text"].startswith("/") for line in lines)


async def test_a_pending_address_question_brings_its_keyboard_back(
    browser: httpx.AsyncClient, engine: TrackerEngine, history_settings: Settings
) -> None:
    conversation = await start(browser, history_settings)
    now = time.time()
    engine.events[conversation] = [
        user("我家厨房水管漏水了", now - 5),
        bot(
            None, now - 4, custom={"text": "请告诉我服务地址", "reply_keyboard": LOCATION_KEYBOARD}
        ),
    ]
    last = (await history(browser))[-1]
    assert last["live"] is True
    assert last["keyboard"] == [[{"text": "📍 发送我的位置", "kind": "location"}]]


async def test_nothing_is_live_once_the_resident_answered(
    browser: httpx.AsyncClient, engine: TrackerEngine, history_settings: Settings
) -> None:
    conversation = await start(browser, history_settings)
    now = time.time()
    engine.events[conversation] = [
        *photo_step(now - 100),
        user("/skip_photo", now - 50),  # the engine's answer is not in yet
    ]
    lines = await history(browser)
    assert lines[-1] == {"from": "resident", "text": "跳过"}
    assert not any(line.get("live") for line in lines)


async def test_commands_and_unknown_payloads_are_shown_in_words(
    browser: httpx.AsyncClient, engine: TrackerEngine, history_settings: Settings
) -> None:
    conversation = await start(browser, history_settings)
    now = time.time()
    engine.events[conversation] = [
        user("/greet", now - 6),
        user("/new_request", now - 5),
        user('/share_photo{"photo_ref": "a1b2.jpg"}', now - 4),
        user("/cancel_request", now - 3),
        user('/change_field{"field":"address"}', now - 2),
        user('/share_location{"latitude": "north"}', now - 1),
    ]
    assert [line["text"] for line in await history(browser)] == [
        t("web_history_start", "zh"),
        t("web_new_request", "zh"),
        t("web_photo", "zh"),
        t("web_history_cancel", "zh"),
        t("web_history_choice", "zh"),
        t("web_history_choice", "zh"),
    ]


async def test_hostile_and_huge_content_comes_back_as_text(
    browser: httpx.AsyncClient, engine: TrackerEngine, history_settings: Settings
) -> None:
    conversation = await start(browser, history_settings)
    now = time.time()
    script = '<img src=x onerror="alert(1)"><script>alert(2)</script>'
    huge = "漏" * 10_000
    engine.events[conversation] = [
        user(script, now - 3),
        bot(script, now - 2, buttons=[{"title": script, "payload": "/affirm"}]),
        user(huge, now - 1),
    ]
    lines = await history(browser)
    # Verbatim, for the page to put in with textContent (never parsed as HTML).
    assert [line["text"] for line in lines] == [script, script, huge]
    assert lines[1]["rows"] == [[{"title": script, "payload": "/affirm"}]]


async def test_only_the_newest_lines_of_the_retention_period_are_shown(
    browser: httpx.AsyncClient, engine: TrackerEngine, history_settings: Settings
) -> None:
    conversation = await start(browser, history_settings)
    now = time.time()
    expired = now - (TTL_DAYS + 1) * 86400
    old = [user("上个月的旧消息", expired), bot("旧回复", expired + 1)]
    engine.events[conversation] = [*old, user("今天的消息", now - 1)]
    assert [line["text"] for line in await history(browser)] == ["今天的消息"]
    many = [user(f"消息{n}", now - 1000 + n) for n in range(HISTORY_LIMIT + 20)]
    engine.events[conversation] = [*old, *many]
    texts = [line["text"] for line in await history(browser)]
    assert len(texts) == HISTORY_LIMIT
    assert texts[-1] == f"消息{HISTORY_LIMIT + 19}" and texts[0] == "消息20"


# --- notices ------------------------------------------------------------------------------


async def test_a_delivered_rating_prompt_is_restored_live_until_it_is_answered(
    browser: httpx.AsyncClient,
    engine: TrackerEngine,
    history_settings: Settings,
    db: Sessions,
) -> None:
    conversation = await start(browser, history_settings)
    engine.events[conversation] = photo_step(time.time() - 3600)
    number = await done_ticket(db, conversation.removeprefix("web:"))
    # Not shown yet: a notice is history once the page has shown it.
    assert not any(line.get("notice") for line in await history(browser))
    delivered = (await browser.get("/chat/api/notices")).json()["replies"]
    assert len(delivered) == 2

    lines = await history(browser)
    # After the form's lines (an hour ago), in the order they were shown.
    assert [line["text"] for line in lines[-2:]] == [reply["text"] for reply in delivered]
    assert lines[-3]["text"].startswith("如果方便")
    prompt = lines[-1]
    assert prompt["notice"] == delivered[1]["notice"]
    assert prompt["reply_kind"] == "rating_comment"
    assert prompt["rows"] == delivered[1]["rows"]
    assert prompt["live"] is True
    # The photo step's skip is no longer the newest choice.
    assert [line["live"] for line in lines if line["from"] == "assistant"].count(True) == 1

    rated = await browser.post("/chat/api/press", json={"payload": f"r:rate:{number}:5"})
    assert rated.json()["replies"][0]["text"] == t("ack_rated", "zh", stars=5)
    again = await history(browser)
    assert again[-1]["notice"] == prompt["notice"] and again[-1]["live"] is False
    # Answered outside the engine: the form's photo step is the pending choice again.
    assert [line["text"] for line in again if line.get("live")] == [lines[-3]["text"]]


async def test_notices_older_than_the_retention_are_not_shown(
    browser: httpx.AsyncClient, history_settings: Settings, db: Sessions
) -> None:
    conversation = await start(browser, history_settings)
    external_id = conversation.removeprefix("web:")
    await done_ticket(db, external_id)
    await browser.get("/chat/api/notices")
    assert len(await history(browser)) == 2
    long_ago = datetime.now(UTC) - timedelta(days=TTL_DAYS, hours=1)
    async with db() as session, session.begin():
        await session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.channel == "web", OutboxMessage.chat_id == external_id)
            .values(sent_at=long_ago)
        )
    assert await history(browser) == []


# --- who may read it ----------------------------------------------------------------------


async def test_only_this_cookie_reads_its_conversation(
    history_app: FastAPI,
    browser: httpx.AsyncClient,
    engine: TrackerEngine,
    history_settings: Settings,
    db: Sessions,
) -> None:
    conversation = await start(browser, history_settings)
    engine.events[conversation] = photo_step(time.time() - 60)
    await done_ticket(db, conversation.removeprefix("web:"))
    await browser.get("/chat/api/notices")
    assert len(await history(browser)) == 12
    engine.asked.clear()

    transport = httpx.ASGITransport(app=history_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://web.test") as other:
        # No page header, or another site: refused.
        assert (await other.get("/chat/api/history")).status_code == 403
        cross = await other.get(
            "/chat/api/history", headers={**PAGE_HEADERS, "Sec-Fetch-Site": "cross-site"}
        )
        assert cross.status_code == 403
        # A new browser: nothing, and the engine is not even asked.
        fresh = await other.get("/chat/api/history", headers=PAGE_HEADERS)
        assert fresh.json() == {"history": [], "language": None}
        assert COOKIE in fresh.headers["set-cookie"]
        # Known to the cookie but never wrote: still nothing to ask the engine for.
        assert (await other.get("/chat/api/history", headers=PAGE_HEADERS)).json()["history"] == []
        # A forged cookie is a new resident, never the first one.
        forged = browser.cookies[COOKIE][:-2] + "AA"
        other.cookies.clear()
        other.cookies.set(COOKIE, forged, domain="web.test", path="/chat")
        assert (await other.get("/chat/api/history", headers=PAGE_HEADERS)).json()["history"] == []
        # Once it writes, it reads its own conversation only.
        other.headers.update(PAGE_HEADERS)
        mine = await start(other, history_settings)
        assert await history(other) == []
    assert engine.asked == [mine] and mine != conversation


async def test_with_the_engine_down_the_page_loads_and_the_notices_remain(
    browser: httpx.AsyncClient,
    engine: TrackerEngine,
    history_settings: Settings,
    db: Sessions,
) -> None:
    conversation = await start(browser, history_settings)
    engine.events[conversation] = photo_step(time.time() - 60)
    await done_ticket(db, conversation.removeprefix("web:"))
    await browser.get("/chat/api/notices")
    engine.broken = True
    lines = await history(browser)
    assert len(lines) == 2 and all(line["notice"] for line in lines)
    assert lines[-1]["live"] is True
    page = await browser.get("/chat")
    assert page.status_code == 200 and t("web_welcome", "zh")[:5] in page.text


async def test_nothing_is_live_without_a_choice_and_nothing_of_it_is_logged(
    browser: httpx.AsyncClient,
    engine: TrackerEngine,
    history_settings: Settings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # As `orders web` logs (app/cli.py): INFO, httpx's request lines off.
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.WARNING, logger="httpx")
    conversation = await start(browser, history_settings)
    now = time.time()
    engine.events[conversation] = [
        user("我的电话是13912345678，住幸福小区3栋", now - 2),
        bot("您的工单 RO-202612-0001 已提交", now - 1),
    ]
    lines = await history(browser)
    assert [line.get("live") for line in lines] == [None, False]
    engine.broken = True
    await history(browser)
    logged = caplog.text + json.dumps([record.args for record in caplog.records], default=str)
    assert "13912345678" not in logged and "幸福小区3栋" not in logged
    assert "RO-202612-0001" not in logged and conversation.removeprefix("web:") not in logged


# --- the pieces ---------------------------------------------------------------------------


def test_payloads_are_the_title_of_the_latest_button_that_sent_them() -> None:
    titles = {"/skip_photo": "Skip"}
    assert payload_words("/skip_photo", titles, "en") == "Skip"
    assert payload_words("/help", titles, "en") == t("web_history_help", "en")
    assert payload_words("/whatever{}", titles, "en") == t("web_history_choice", "en")
    events = [
        bot("A", 1, buttons=[{"title": "Old", "payload": "/affirm"}]),
        bot("B", 2, buttons=[{"title": "New", "payload": "/affirm"}]),
        user("/affirm", 3),
        {"event": "user", "text": "no time"},
        user("   ", 4),
    ]
    lines = tracker_lines(events, "en", since=0)
    assert [(line.by_resident, line.reply.text) for line in lines] == [
        (False, "A"),
        (False, "B"),
        (True, "New"),
    ]


def test_the_pending_choices_are_the_questions_nothing_was_said_after() -> None:
    def said(by_resident: bool, *, asks: bool = False) -> Line:
        keyboard = [[{"text": "x", "request_location": True}]] if asks else None
        return Line(0, by_resident, Reply("x", keyboard=keyboard))

    assert pending([said(False, asks=True), said(False), said(False)]) == [0]
    assert pending([said(False, asks=True), said(True), said(False)]) == []
    assert pending([said(True), said(False, asks=True), said(False, asks=True)]) == [2, 1]
    assert pending([]) == []
    for key in ("web_history_start", "web_history_help", "web_history_cancel"):
        assert t(key, "zh") != t(key, "en")
