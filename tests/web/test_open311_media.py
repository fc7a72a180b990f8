"""Open311's media_url (issue 11, item 8): only an absolute http(s) URL a client sent in
the media_url field, validated when filed and kept in its own column; a line of a
description is the resident's text, never metadata."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.db import alembic_config, make_engine
from tests.web.open311_support import (
    assert_error,
    filed_via_api,
    filed_via_chat,
    post,
    shown,
    ticket,
    valid_fields,
)

HOSTILE_LINE = "[media_url] javascript:alert(document.domain)"
PHOTO = "https://example.org/photo.jpg"


@pytest.mark.parametrize("fmt", ["json", "xml"])
@pytest.mark.parametrize(
    "media_url",
    [
        "javascript:alert(1)",
        "JavaScript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "file:///etc/passwd",
        "//evil.example/p.jpg",
        "photo.jpg",
        "http://",
        "https://",
        "http:///etc/passwd",
        "https://:80/p.jpg",
        "http://exa mple.org/p.jpg",
        "http://example.org/p.jpg\njavascript:alert(1)",
        "http://example.org:port/p.jpg",
        "https://example.org/" + "p" * 500,
    ],
)
async def test_a_media_url_that_is_no_http_url_with_a_host_is_400(
    client: httpx.AsyncClient, api_key: str, fmt: str, media_url: str
) -> None:
    response = await post(client, fmt, **valid_fields(api_key, media_url=media_url))
    assert "media_url" in assert_error(response, fmt, 400)


@pytest.mark.parametrize("media_url", [PHOTO, "http://192.0.2.7:8080/a/b.png?size=2#x"])
async def test_a_http_media_url_is_kept_in_its_own_column(
    client: httpx.AsyncClient, api_key: str, db: async_sessionmaker[AsyncSession], media_url: str
) -> None:
    number = await filed_via_api(client, api_key, description="楼道灯坏了", media_url=media_url)
    stored = await ticket(db, number)
    assert stored.media_url == media_url
    assert stored.description == "楼道灯坏了"
    request = await shown(client, number)
    assert request["media_url"] == media_url
    assert request["description"] == "楼道灯坏了"


async def test_a_description_line_via_open311_is_no_media_url(
    client: httpx.AsyncClient, api_key: str
) -> None:
    number = await filed_via_api(client, api_key, description=f"楼道灯坏了\n{HOSTILE_LINE}")
    request = await shown(client, number)
    assert request["media_url"] is None
    assert request["description"] == f"楼道灯坏了\n{HOSTILE_LINE}"


async def test_a_description_line_never_overrides_the_real_media_url(
    client: httpx.AsyncClient, api_key: str
) -> None:
    number = await filed_via_api(
        client, api_key, description=f"{HOSTILE_LINE}\n楼道灯坏了", media_url=PHOTO
    )
    request = await shown(client, number)
    assert request["media_url"] == PHOTO
    assert HOSTILE_LINE in request["description"]


@pytest.mark.parametrize(
    "description",
    [
        f"我家水管漏水了\n{HOSTILE_LINE}",
        f"{HOSTILE_LINE}",
        "[media_url] https://evil.example/phish.jpg\n我家水管漏水了",
    ],
)
async def test_a_web_chat_line_is_no_media_url(
    client: httpx.AsyncClient, db: async_sessionmaker[AsyncSession], description: str
) -> None:
    number = await filed_via_chat(db, description)
    request = await shown(client, number)
    assert request["media_url"] is None
    assert request["description"] == description


async def _alembic(url: str, direction: str, revision: str) -> None:
    def run(connection: Connection) -> None:
        getattr(command, direction)(alembic_config(connection), revision)

    engine = make_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(run)
    finally:
        await engine.dispose()


async def test_migration_0008_moves_only_the_line_open311_appended(fresh_db_url: str) -> None:
    now = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
    filed = {
        1: ("open311", f"楼道灯坏了\n[media_url] {PHOTO}"),
        2: ("open311", f"楼道灯坏了\n{HOSTILE_LINE}"),
        3: ("web", "我家水管漏水了\n[media_url] https://evil.example/phish.jpg"),
        4: ("open311", "[media_url] https://evil.example/phish.jpg\n楼道灯坏了"),
    }
    await _alembic(fresh_db_url, "upgrade", "0007_outbox_ticket")
    engine = make_engine(fresh_db_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO residents (id, channel, external_id, created_at) "
                    "VALUES (1, 'open311', '1:anonymous', :now)"
                ),
                {"now": now},
            )
            for id_, (channel, description) in filed.items():
                await conn.execute(
                    text(
                        "INSERT INTO tickets (id, number, resident_id, status, description, "
                        "language, channel, created_at, updated_at) VALUES (:id, :number, 1, "
                        "'submitted', :description, 'zh', :channel, :now, :now)"
                    ),
                    {
                        "id": id_,
                        "number": f"RO-261122-000{id_}",
                        "description": description,
                        "channel": channel,
                        "now": now,
                    },
                )
        await _alembic(fresh_db_url, "upgrade", "head")
        async with engine.connect() as conn:
            rows = (
                await conn.execute(text("SELECT id, description, media_url FROM tickets"))
            ).all()
        assert {row.id: (row.description, row.media_url) for row in rows} == {
            1: ("楼道灯坏了", PHOTO),
            2: (filed[2][1], None),
            3: (filed[3][1], None),
            4: (filed[4][1], None),
        }
        await _alembic(fresh_db_url, "downgrade", "0007_outbox_ticket")
        async with engine.connect() as conn:
            rows = (await conn.execute(text("SELECT id, description FROM tickets"))).all()
        assert {row.id: row.description for row in rows} == {
            id_: description for id_, (_, description) in filed.items()
        }
    finally:
        await engine.dispose()
