"""No log line of the web process carries a query's secrets or search text: the real
`orders web` process (uvicorn's access log and our loggers on the root handler, as
`orders up` runs it), its output read back; and the filter itself on a record of our
own with a traceback."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import httpx

from services import prepare_database
from tests.servers import free_port, process
from web.logredact import REDACTED, RedactQueries, redact_text

API_KEY = "ro-key-5f3c9a1e77"
TOKEN = "tok-8d2e4b61"
PHONE = "13966667777"
FLAT = "幸福小区3栋501室"


async def test_the_web_process_logs_no_keys_tokens_or_searches(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'log.db'}"
    await prepare_database(url)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "web.log"
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "WEB_HOST")},
        "DATABASE_URL": url,
        "DATA_DIR": str(tmp_path),
        "WEB_HOST": "127.0.0.1",
        "WEB_PORT": str(port),
    }
    command = [sys.executable, "-m", "app.cli", "web"]
    with process(command, env, log, f"{base}/healthz", timeout=60):
        async with httpx.AsyncClient(base_url=base, follow_redirects=True) as client:
            filed = await client.post(
                f"/open311/v2/requests.json?api_key={API_KEY}", data={"service_code": "repair"}
            )
            assert filed.status_code == 403  # an unknown key, but the line is logged
            await client.get("/dashboard", params={"q": PHONE})  # → /login?next=…q=phone
            await client.get(
                "/open311/v2/requests.json", params={"service_code": "repair", "token": TOKEN}
            )
            await client.get("/dashboard/rows", params={"search": FLAT, "status": "active"})
            await client.get("/open311/v2/requests.json", params={"description": f"电话{PHONE}"})
    written = log.read_text(encoding="utf-8")
    assert "/open311/v2/requests.json?api_key=" in written  # the access log is there
    for secret in (API_KEY, TOKEN, PHONE, FLAT, "3%E6%A0%8B501", "501%E5%AE%A4"):
        assert secret not in written, secret
    assert f"api_key={REDACTED}" in written
    assert f"q={REDACTED}" in written
    assert f"next={REDACTED}" in written
    assert f"token={REDACTED}" in written
    assert "service_code=repair" in written  # what says nothing about anyone stays
    assert "status=active" in written


def test_our_own_records_and_their_tracebacks_are_redacted() -> None:
    try:
        raise ValueError(f"bad request /api/x?password=hunter2&phone={PHONE}")
    except ValueError as exc:
        record = logging.LogRecord(
            "web.api",
            logging.ERROR,
            __file__,
            1,
            "failed %s",
            ("/dashboard?q=x",),
            (type(exc), exc, exc.__traceback__),
        )
    assert RedactQueries().filter(record)
    formatted = logging.Formatter("%(message)s").format(record)
    assert "hunter2" not in formatted and PHONE not in formatted and "q=x" not in formatted
    assert formatted.startswith(f"failed /dashboard?q={REDACTED}")
    assert redact_text(
        "GET /open311/v2/requests/RO-261122-0007.json?service_request_id=RO-261122-0007"
    ) == ("GET /open311/v2/requests/RO-261122-0007.json?service_request_id=RO-261122-0007")
