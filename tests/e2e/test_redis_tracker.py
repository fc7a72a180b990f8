"""With REDIS_URL set, the engine keeps conversations in a real Redis: a restarted
engine carries on where the resident was."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from adapters.engine_client import EngineClient
from config.settings import Settings
from nlu.tooling.engine import ensure_model
from tests.e2e.conftest import make_settings
from tests.servers import action_server, rasa_server, redis_server


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with redis_server(tmp_path_factory.mktemp("redis")) as url:
        yield url


def texts(replies: list[dict[str, object]]) -> str:
    parts = []
    for reply in replies:
        custom = reply.get("custom")
        custom_text = custom.get("text", "") if isinstance(custom, dict) else ""
        parts.append(str(reply.get("text") or custom_text))
    return "\n".join(parts)


async def test_conversation_survives_an_engine_restart(
    tmp_path: Path, stack: Settings, redis_url: str
) -> None:
    settings = make_settings(tmp_path, database_url=stack.db_url, redis_url=redis_url)
    model = ensure_model(settings)
    sender = f"telegram:redis-{uuid.uuid4().hex}"  # Redis outlives test runs
    metadata = {"language": "zh"}
    client = EngineClient(settings.rasa_url)
    try:
        with action_server(settings, tmp_path / "actions.log"):
            with rasa_server(settings, model, tmp_path / "rasa-1.log"):
                replies = await client.send(sender, "我家马桶堵了", metadata)
                assert "地址" in texts(replies)
            stored = redis.Redis.from_url(redis_url)
            try:
                found = stored.keys(f"*{sender}*")
                keys = [key.decode() if isinstance(key, bytes) else key for key in found]
                expiries = [stored.ttl(key) for key in keys]
            finally:
                stored.close()
            assert keys, "the tracker is not in Redis"
            # Forgotten CONVERSATION_TTL_DAYS (30) after the last message.
            ttl = settings.conversation_ttl_days * 86400
            assert all(ttl - 60 < expiry <= ttl for expiry in expiries), expiries
            with rasa_server(settings, model, tmp_path / "rasa-2.log"):
                replies = await client.send(sender, "幸福小区2栋302", metadata)
                assert "时间" in texts(replies)  # the form continued after the restart
    finally:
        await client.close()
