"""A resident's message with control characters (NUL among them) is accepted with
them dropped: they never reach the engine, so never the actions and the store
(PostgreSQL refuses NUL in text). Telegram, the terminal and the web chat all type
through FrontDesk.text."""

from __future__ import annotations

from pathlib import Path

from adapters.engine_client import EngineClient
from adapters.ratelimit import RateLimiter
from desk.frontdesk import FrontDesk, Sender, without_controls
from i18n import t
from services import make_engine, make_sessionmaker, prepare_database
from tests.e2e.conftest import make_settings
from tests.faults.servers import FakeEngine


def test_without_controls_keeps_tabs_newlines_and_words() -> None:
    assert without_controls("漏水\x00了\x07\t\r\n 3栋\x1b") == "漏水了\t\r\n 3栋"
    assert without_controls("a\ud800b") == "ab"


async def test_a_message_with_nul_reaches_the_engine_without_it(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    await prepare_database(settings.db_url)
    database = make_engine(settings.db_url)
    engine = FakeEngine()
    await engine.start()
    client = EngineClient(f"http://127.0.0.1:{engine.port}")
    desk = FrontDesk(client, make_sessionmaker(database), settings, limiter=RateLimiter(0))
    sender = Sender("telegram", "7001")
    try:
        replies = await desk.text(sender, "我家水管\x00漏水了\x00")
        empty = await desk.text(sender, "\x00\x00")
    finally:
        await client.close()
        await engine.stop()
        await database.dispose()
    assert engine.from_("telegram:7001") == ["我家水管漏水了"]
    assert [r.text for r in replies] == ["echo 1"]
    assert [r.text for r in empty] == [t("empty_message", "zh")]
