"""Throttling of failed sign-ins on /login (staff) and /org/login (organisations),
against the real app on SQLite and PostgreSQL: per account name and per client IP,
in fixed windows moved by an injected clock; a success clears the account; with
Redis two web apps count together, and a Redis that goes away falls back to each
process's counters without stopping anyone from signing in."""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from config.settings import Settings
from i18n import t
from tests.clock import ManualClock
from tests.faults.servers import OwnRedis
from tests.servers import redis_server
from tests.web.conftest import make_org
from tests.web.dashboard.helpers import PASSWORD, WebStaff, new_staff
from web.app import create_app
from web.login_throttle import ACCOUNT_PREFIX, account_key

Sessions = async_sessionmaker[AsyncSession]
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
WINDOW_S = 15 * 60
# The clock starts at the beginning of a window, so a refusal says "15 minutes".
START = 1_800_000_000.0 - (1_800_000_000 % WINDOW_S)


def random_ip() -> str:
    """A client address no other test uses (the shared Redis keeps counts for 30 min)."""
    return f"10.{secrets.randbelow(256)}.{secrets.randbelow(256)}.{1 + secrets.randbelow(254)}"


def settings_for(db_url: str, redis_url: str | None = None, **values: Any) -> Settings:
    return Settings(  # type: ignore[call-arg]
        _env_file=None, database_url=db_url, redis_url=redis_url, **values
    )


@asynccontextmanager
async def running(settings: Settings, clock: Callable[[], float]) -> AsyncIterator[FastAPI]:
    """A web app of the test's own (its own in-process counters), lifespan running."""
    app = create_app(settings, clock=clock)
    async with app.router.lifespan_context(app):
        yield app


@asynccontextmanager
async def browser(app: FastAPI, ip: str, language: str = "zh") -> AsyncIterator[httpx.AsyncClient]:
    """A browser at this IP address asking for pages in `language`."""
    transport = httpx.ASGITransport(app=app, client=(ip, 50_000))
    async with httpx.AsyncClient(
        transport=transport,
        base_url="http://web.test",
        headers={"Accept-Language": language},
    ) as client:
        yield client


async def staff_login(client: httpx.AsyncClient, name: str, password: str) -> httpx.Response:
    form = await client.get("/login")
    token = CSRF.search(form.text)
    assert token, form.text
    return await client.post(
        "/login", data={"name": name, "password": password, "csrf_token": token.group(1)}
    )


async def org_login(client: httpx.AsyncClient, **fields: str) -> httpx.Response:
    form = await client.get("/org/login")
    token = CSRF.search(form.text)
    assert token, form.text
    return await client.post("/org/login", data={"csrf_token": token.group(1), **fields})


def refused_for(response: httpx.Response, minutes: int, language: str = "zh") -> bool:
    """A 429 with Retry-After and the sentence in the viewer's language."""
    sentence = t("account_login_throttled", language, minutes=minutes)
    return (
        response.status_code == 429
        and int(response.headers["Retry-After"]) > (minutes - 1) * 60
        and sentence in response.text
    )


async def fail(client: httpx.AsyncClient, name: str, times: int) -> None:
    for _ in range(times):
        answer = await staff_login(client, name, "wrong password")
        assert answer.status_code == 400, answer.text


# --- one web process ------------------------------------------------------------------------


async def test_the_sixth_attempt_is_refused_even_with_the_right_password(
    db_url: str, db: Sessions, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    clock = ManualClock(START)
    victim = await new_staff(db)
    bystander = await new_staff(db)
    async with running(settings_for(db_url), clock) as app:
        async with browser(app, random_ip()) as attacker:
            await fail(attacker, victim.name, 5)
            refused = await staff_login(attacker, victim.name, PASSWORD)
            assert refused_for(refused, 15), refused.text
            assert refused.headers["Retry-After"] == str(WINDOW_S)
            assert "ro_session" not in attacker.cookies
            # The name is counted as typed, case-folded: changing case does not help.
            shouted = await staff_login(attacker, f"  {victim.name.upper()} ", PASSWORD)
            assert shouted.status_code == 429
        async with browser(app, random_ip()) as elsewhere:
            # Another name from another IP is unaffected …
            assert (await staff_login(elsewhere, bystander.name, PASSWORD)).status_code == 303
            elsewhere.cookies.clear()
            # … but the throttled name is throttled from every IP.
            assert (await staff_login(elsewhere, victim.name, PASSWORD)).status_code == 429
        clock.now += WINDOW_S / 2
        async with browser(app, random_ip()) as later:
            half = await staff_login(later, victim.name, PASSWORD)
            assert refused_for(half, 8), half.text  # 450 s left: "8 minutes"
            clock.now += WINDOW_S / 2  # the window has passed
            assert (await staff_login(later, victim.name, PASSWORD)).status_code == 303

    # Refusals are logged with the account's hash only: no name, no password.
    throttled = [r.getMessage() for r in caplog.records if "login.throttled" in r.getMessage()]
    hashed = account_key("staff", victim.name)
    assert hashed is not None
    assert throttled and all(hashed in m for m in throttled)
    for record in caplog.records:
        text = record.getMessage()
        assert victim.name not in text and victim.name.upper() not in text
        assert PASSWORD not in text and "wrong password" not in text


async def test_a_success_clears_the_accounts_failures(db_url: str, db: Sessions) -> None:
    staff = await new_staff(db)
    async with (
        running(settings_for(db_url), ManualClock(START)) as app,
        browser(app, random_ip()) as client,
    ):
        await fail(client, staff.name, 4)
        assert (await staff_login(client, staff.name, PASSWORD)).status_code == 303
        client.cookies.clear()
        await fail(client, staff.name, 5)  # five more are allowed again
        assert (await staff_login(client, staff.name, PASSWORD)).status_code == 429


async def test_the_per_ip_limit_covers_every_name_and_both_sign_in_pages(
    db_url: str, db: Sessions
) -> None:
    staff = await new_staff(db)
    organisation = await make_org(db)
    settings = settings_for(db_url, login_max_failures_per_ip=8)
    async with running(settings, ManualClock(START)) as app:
        ip = random_ip()
        async with browser(app, ip, "en") as sprayer:
            for i in range(8):  # one guess per name: no account reaches its limit
                await fail(sprayer, f"guess-{i}-{staff.name}", 1)
            refused = await staff_login(sprayer, staff.name, PASSWORD)
            assert refused_for(refused, 15, "en"), refused.text
            assert "Too many failed sign-ins. Please try again in 15 minutes." in refused.text
            by_token = await org_login(sprayer, token=organisation.token)
            assert refused_for(by_token, 15, "en"), by_token.text
        async with browser(app, random_ip()) as neighbour:
            assert (await staff_login(neighbour, staff.name, PASSWORD)).status_code == 303
        # Successful sign-ins from one IP (an office behind NAT) never add up.
        async with browser(app, random_ip()) as office:
            for _ in range(10):
                office.cookies.clear()
                assert (await staff_login(office, staff.name, PASSWORD)).status_code == 303


async def test_organisation_password_sign_in_is_throttled_per_name(
    db_url: str, db: Sessions
) -> None:
    organisation = await make_org(db)
    async with running(settings_for(db_url), ManualClock(START)) as app:
        async with browser(app, random_ip()) as owner:
            signed_in = await org_login(owner, token=organisation.token)
            assert signed_in.status_code == 303
            page = await owner.get("/org/password")
            token = CSRF.search(page.text)
            assert token
            saved = await owner.post(
                "/org/password",
                data={
                    "csrf_token": token.group(1),
                    "new_password": "a long organisation password",
                    "confirm": "a long organisation password",
                },
            )
            assert saved.status_code == 303
        async with browser(app, random_ip(), "zh") as guesser:
            for _ in range(5):
                wrong = await org_login(guesser, name=organisation.name, password="guess guess")
                assert wrong.status_code == 400
            right = await org_login(
                guesser, name=organisation.name, password="a long organisation password"
            )
            assert refused_for(right, 15, "zh"), right.text
            assert "登录失败次数过多，请 15 分钟后再试。" in right.text
        async with browser(app, random_ip()) as with_token:
            # The token needs no name: only the IP is counted, and this one is clean.
            assert (await org_login(with_token, token=organisation.token)).status_code == 303


# --- several web processes: Redis -----------------------------------------------------------


@pytest.fixture(scope="module")
def shared_redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with redis_server(tmp_path_factory.mktemp("login-redis")) as url:
        yield url


async def test_two_web_apps_count_failures_together_through_redis(
    db_url: str, db: Sessions, shared_redis_url: str
) -> None:
    staff = await new_staff(db)
    clock = ManualClock(START)
    settings = settings_for(db_url, shared_redis_url)
    async with running(settings, clock) as one, running(settings, clock) as two:
        async with browser(one, random_ip()) as via_one, browser(two, random_ip()) as via_two:
            await fail(via_one, staff.name, 3)
            await fail(via_two, staff.name, 2)
            # Each app saw fewer than five failures; together they are five.
            assert (await staff_login(via_one, staff.name, PASSWORD)).status_code == 429
            assert (await staff_login(via_two, staff.name, PASSWORD)).status_code == 429
    redis = Redis.from_url(shared_redis_url)
    try:
        window = int(START // WINDOW_S)
        key = f"{ACCOUNT_PREFIX}{account_key('staff', staff.name)}:{window}"
        assert int(await redis.get(key) or 0) >= 5
        assert 0 < await redis.ttl(key) <= 2 * WINDOW_S
    finally:
        await redis.aclose()


async def test_redis_going_away_falls_back_to_the_process_and_never_locks_anyone_out(
    db_url: str, db: Sessions, own_redis: OwnRedis, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    victim, colleague = await new_staff(db), await new_staff(db)
    settings = settings_for(db_url, own_redis.url)
    async with running(settings, ManualClock(START)) as app, browser(app, random_ip()) as client:
        await fail(client, victim.name, 2)  # counted in Redis
        own_redis.stop()
        # Staff still sign in while Redis is down.
        assert (await staff_login(client, colleague.name, PASSWORD)).status_code == 303
        client.cookies.clear()
        # The process's own counters take over: five failures, then refused.
        await fail(client, victim.name, 5)
        assert (await staff_login(client, victim.name, PASSWORD)).status_code == 429
    assert any("redis_unavailable" in r.getMessage() for r in caplog.records)


async def test_defaults_are_five_per_account_and_thirty_per_ip_in_fifteen_minutes() -> None:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert (
        settings.login_max_failures,
        settings.login_max_failures_per_ip,
        settings.login_window_minutes,
    ) == (5, 30, 15)


async def test_a_wait_of_one_minute_reads_naturally(db_url: str, db: Sessions) -> None:
    staff: WebStaff = await new_staff(db)
    clock = ManualClock(START)
    async with running(settings_for(db_url), clock) as app:
        async with browser(app, random_ip(), "en") as client:
            await fail(client, staff.name, 5)
            clock.now += WINDOW_S - 30
            refused = await staff_login(client, staff.name, PASSWORD)
            assert refused.status_code == 429 and refused.headers["Retry-After"] == "30"
            assert t("account_login_throttled_one", "en") in refused.text
