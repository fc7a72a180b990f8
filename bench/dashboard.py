"""The staff queue page and the Open311 request list at a million tickets, served by a
real web process (`orders web`, uvicorn) from PostgreSQL.

The tickets are generated in SQL (INSERT … SELECT generate_series), spread over a year,
every category, 20 communities, 40 organisations and every status as a year of real
work leaves them (old tickets mostly closed; the open working set is recent), about
70 % with Chinese descriptions. The database is kept between runs (`ro_bench_1m_…`,
with a marker row) unless --fresh-data; it is migrated to head on every run. Ids follow
filing time, as in a real table (rows are appended as tickets are filed).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from alembic import command
from sqlalchemy import text
from sqlalchemy.engine import Connection

from bench.common import (
    CpuMeter,
    database_exists,
    database_url,
    drop_database,
    percentile,
    postgres_pids,
)
from config import PROJECT_ROOT
from services import make_engine, make_sessionmaker, prepare_database
from services.db import alembic_config
from services.parties import Role, create_staff
from tests.servers import free_port
from web.sessions import SESSION_COOKIE, start_session

DATA_VERSION = 2  # bump when the generator below changes
PRE_INDEX_REVISION = "0005_beneficiary"

DESCRIPTIONS_ZH = [
    "厨房水管漏水了",
    "卫生间下水道堵了",
    "楼道灯不亮好几天了",
    "电梯又坏了，老人上下楼很困难",
    "家里插座冒火花，不敢用电",
    "我妈妈一个人在家，想找人上门陪她聊聊天",
    "老人需要助浴服务",
    "想请人陪老人去医院复查",
    "老板拖欠工资三个月了，想咨询一下",
    "租房合同纠纷，房东不退押金",
    "楼上邻居晚上太吵，沟通过没有用",
    "想给老人量量血压",
    "孩子最近情绪低落，不愿意上学",
    "放学后没人照看孩子",
    "家里有残疾人，需要轮椅",
    "想请人上门打扫卫生",
    "小区垃圾堆了好几天没人清理",
    "想咨询一下高龄津贴怎么申请",
    "窗户关不上，风很大",
    "门锁坏了，打不开门",
    "暖气片漏水",
    "想找人上门理发",
]
DESCRIPTIONS_EN = [
    "the kitchen sink is leaking",
    "my 80-year-old mother needs someone to check on her",
    "the lift in our building is broken again",
    "stairwell lights have been out for a week",
    "my employer has not paid my wages for two months",
    "neighbour's music is too loud every night",
    "need a blood pressure check at home",
    "looking for after-school care for my son",
    "need help cleaning the flat before new year",
    "how do I apply for the elderly allowance",
]
CATEGORIES = [
    "repair",
    "property",
    "elder_care",
    "housekeeping",
    "medical",
    "policy",
    "legal_aid",
    "mediation",
    "childcare",
    "counselling",
    "disability",
]


def _sql_array(values: list[str]) -> str:
    return "ARRAY[" + ", ".join("'" + v.replace("'", "''") + "'" for v in values) + "]"


GENERATE = f"""
INSERT INTO tickets (
    id, number, resident_id, kind, urgent, category_code, community_id, organisation_id,
    status, description, address, phone, language, channel, created_at, updated_at,
    published_at, claimed_at, done_at, closed_at, escalated_at, rating
)
SELECT
    i,
    'RO-' || to_char(created_at AT TIME ZONE 'Asia/Shanghai', 'YYMMDD') || '-'
        || lpad(i::text, 7, '0'),
    1 + (i::bigint * 7919) % :residents,
    kind,
    kind <> 'service',
    CASE WHEN kind = 'service' THEN cat END,
    CASE WHEN r_comm < 0.08 THEN NULL
         ELSE comms[1 + floor(r_comm * 1000)::int % cardinality(comms)] END,
    CASE WHEN status IN ('claimed', 'in_progress', 'done', 'closed', 'reopened')
         THEN orgs[1 + (i * 31) % cardinality(orgs)] END,
    status,
    CASE WHEN lang = 'zh' THEN zh[1 + (i * 13) % cardinality(zh)] || '，' || (1 + i % 30) || '栋'
         ELSE en[1 + (i * 13) % cardinality(en)] || ', building ' || (1 + i % 30) END,
    '幸福小区' || (1 + i % 30) || '栋' || (1 + i % 6) || '单元' || (100 + i % 1800),
    '+86138' || lpad((i % 100000000)::text, 8, '0'),
    lang,
    CASE WHEN r_chan < 0.9 THEN 'telegram' WHEN r_chan < 0.97 THEN 'web' ELSE 'open311' END,
    created_at,
    greatest(created_at, published_at, claimed_at, done_at, closed_at),
    published_at, claimed_at, done_at, closed_at,
    CASE WHEN r_esc < 0.03 AND status IN ('submitted', 'published', 'claimed', 'in_progress',
                                          'reopened')
         THEN created_at + interval '30 hours' END,
    CASE WHEN status = 'closed' AND r_rate < 0.7 THEN 1 + floor(r_rate * 1000)::int % 5 END
FROM (
    SELECT s.*,
        CASE WHEN status IN ('submitted', 'rejected') THEN NULL
             ELSE created_at + interval '5 minutes' END AS published_at,
        CASE WHEN status IN ('claimed', 'in_progress', 'done', 'closed', 'reopened')
             THEN created_at + (1 + r_esc * 30) * interval '1 hour' END AS claimed_at,
        CASE WHEN status IN ('done', 'closed')
             THEN created_at + (24 + r_esc * 72) * interval '1 hour' END AS done_at,
        CASE WHEN status IN ('closed', 'cancelled', 'rejected', 'merged')
             THEN created_at + (30 + r_esc * 100) * interval '1 hour' END AS closed_at
    FROM (
        SELECT b.*,
            CASE
              WHEN age_days > 30 THEN
                CASE WHEN r_stat < 0.84 THEN 'closed' WHEN r_stat < 0.92 THEN 'cancelled'
                     WHEN r_stat < 0.97 THEN 'rejected' ELSE 'merged' END
              WHEN age_days > 7 THEN
                CASE WHEN r_stat < 0.60 THEN 'closed' WHEN r_stat < 0.70 THEN 'done'
                     WHEN r_stat < 0.78 THEN 'in_progress' WHEN r_stat < 0.83 THEN 'claimed'
                     WHEN r_stat < 0.88 THEN 'published' WHEN r_stat < 0.95 THEN 'cancelled'
                     WHEN r_stat < 0.98 THEN 'rejected' ELSE 'reopened' END
              ELSE
                CASE WHEN r_stat < 0.25 THEN 'published' WHEN r_stat < 0.35 THEN 'submitted'
                     WHEN r_stat < 0.50 THEN 'claimed' WHEN r_stat < 0.65 THEN 'in_progress'
                     WHEN r_stat < 0.80 THEN 'done' WHEN r_stat < 0.90 THEN 'closed'
                     WHEN r_stat < 0.98 THEN 'cancelled' ELSE 'reopened' END
            END AS status,
            CASE WHEN r_kind < 0.01 THEN 'emergency' WHEN r_kind < 0.015 THEN 'handoff'
                 ELSE 'service' END AS kind,
            CASE WHEN r_lang < 0.7 THEN 'zh' ELSE 'en' END AS lang,
            (ARRAY{CATEGORIES!r})[1 + floor(power(r_cat, 1.6) * 11)::int] AS cat
        FROM (
            SELECT g AS i,
                now() - age_days * interval '1 day' AS created_at,
                age_days, r_stat, r_kind, r_lang, r_cat, r_comm, r_chan, r_esc, r_rate
            FROM (
                SELECT g, 365.0 * (:tickets - g) / :tickets + random() / 24 AS age_days,
                    random() AS r_stat, random() AS r_kind,
                    random() AS r_lang, random() AS r_cat, random() AS r_comm,
                    random() AS r_chan, random() AS r_esc, random() AS r_rate
                FROM generate_series(1, :tickets) AS g
            ) AS raw
        ) AS b
    ) AS s
) AS t,
(SELECT array_agg(id ORDER BY id) AS comms FROM communities) AS c,
(SELECT array_agg(id ORDER BY id) AS orgs FROM organisations) AS o,
(SELECT {_sql_array(DESCRIPTIONS_ZH)} AS zh, {_sql_array(DESCRIPTIONS_EN)} AS en) AS d
"""


def _name(tickets: int) -> str:
    return f"ro_bench_{tickets}_v{DATA_VERSION}"


async def _marker(url: str) -> bool:
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            found = await conn.scalar(
                text(
                    "SELECT count(*) FROM information_schema.tables WHERE table_name = "
                    "'bench_marker'"
                )
            )
            if not found:
                return False
            done = await conn.scalar(text("SELECT complete FROM bench_marker"))
            return bool(done)
    finally:
        await engine.dispose()


async def _generate(url: str, tickets: int, log: Callable[[str], None]) -> None:
    await prepare_database(url)
    engine = make_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO communities (name_zh, name_en, keywords, timezone) "
                    "SELECT '第' || g || '社区', 'Community ' || g, '[]', 'Asia/Shanghai' "
                    "FROM generate_series(5, 20) AS g"
                )
            )
            await conn.execute(
                text(
                    "INSERT INTO organisations (name, active, all_communities, language, "
                    "created_at) SELECT '社会组织' || g, true, true, 'zh', now() "
                    "FROM generate_series(1, 40) AS g"
                )
            )
            await conn.execute(
                text(
                    "INSERT INTO residents (channel, external_id, created_at) "
                    "SELECT 'telegram', g::text, now() FROM generate_series(1, 100000) AS g"
                )
            )
            started = time.monotonic()
            await conn.execute(text(GENERATE), {"tickets": tickets, "residents": 100_000})
            await conn.execute(
                text("SELECT setval(pg_get_serial_sequence('tickets', 'id'), :n)"),
                {"n": tickets},
            )
            log(f"  {tickets} tickets inserted in {time.monotonic() - started:.0f} s")
            await conn.execute(text("CREATE TABLE bench_marker (complete boolean)"))
            await conn.execute(text("INSERT INTO bench_marker VALUES (true)"))
        async with engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text("VACUUM ANALYZE"))
    finally:
        await engine.dispose()


async def _alembic(url: str, direction: str, revision: str) -> None:
    def run(connection: Connection) -> None:
        getattr(command, direction)(alembic_config(connection), revision)

    engine = make_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(run)
        async with engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text("ANALYZE tickets"))
    finally:
        await engine.dispose()


async def _staff_session(url: str) -> str:
    engine = make_engine(url)
    try:
        async with make_sessionmaker(engine)() as session, session.begin():
            staff, _ = await create_staff(
                session, name=f"bench-{os.getpid()}-{time.time_ns()}", role=Role.ADMIN
            )
            return await start_session(session, staff=staff, language="zh")
    finally:
        await engine.dispose()


async def _first_community(url: str) -> int:
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            value = await conn.scalar(text("SELECT min(id) FROM communities"))
    finally:
        await engine.dispose()
    return int(value)


def _start_web(url: str, port: int, workdir: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "WEB_HOST": "127.0.0.1",
        "WEB_PORT": str(port),
        "DATA_DIR": str(workdir),
        "WEB_SECRET": "bench-secret-bench-secret-bench-secret",
    }
    log = (workdir / "web.log").open("ab")
    return subprocess.Popen(
        [sys.executable, "-m", "app.cli", "web"],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


async def _wait_ready(base: str, proc: subprocess.Popen[bytes], workdir: Path) -> None:
    deadline = time.monotonic() + 60
    async with httpx.AsyncClient(base_url=base) as client:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError((workdir / "web.log").read_text()[-4000:])
            try:
                if (await client.get("/healthz")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.3)
    raise RuntimeError("the web process did not answer /healthz")


async def _measure(
    client: httpx.AsyncClient, path: str, requests: int, *, cookies: dict[str, str] | None = None
) -> dict[str, Any]:
    for _ in range(3):  # warm the caches and the connection pool
        response = await client.get(path, cookies=cookies)
        response.raise_for_status()
    latencies = []
    size = 0
    for _ in range(requests):
        started = time.perf_counter()
        response = await client.get(path, cookies=cookies)
        latencies.append(time.perf_counter() - started)
        response.raise_for_status()
        size = len(response.content)
    return {
        "path": path,
        "requests": requests,
        "p50_ms": round(percentile(latencies, 50) * 1000, 1),
        "p95_ms": round(percentile(latencies, 95) * 1000, 1),
        "max_ms": round(max(latencies) * 1000, 1),
        "bytes": size,
        "_latencies": latencies,
    }


async def _measure_views(
    base: str, cookie: str, community: int, requests: int, web: subprocess.Popen[bytes]
) -> dict[str, Any]:
    queue_views = [
        "/dashboard",  # the default: not ended, needs attention first, newest
        "/dashboard?status=published",
        f"/dashboard?category=repair&community={community}",
    ]
    extra_views = [
        "/dashboard?status=all&sort=newest",
        "/dashboard?attention=1",
        "/dashboard?status=all&q=%E6%BC%8F%E6%B0%B4",  # search 漏水 over every status
    ]
    open311_views = [
        "/open311/v2/requests.json",  # the spec's default: last 90 days, up to 1000
        "/open311/v2/requests.json?service_code=repair&status=open",
    ]
    open311_extra = ["/open311/v2/requests.json?page_size=50"]
    cookies = {SESSION_COOKIE: cookie}
    meter = CpuMeter()
    meter.add("web", web.pid)
    for pid in postgres_pids():
        meter.add("postgres_machine_wide", pid, children=False)
    out: dict[str, Any] = {}
    async with httpx.AsyncClient(base_url=base, timeout=60.0) as client:
        meter.start()
        queue = [await _measure(client, p, requests, cookies=cookies) for p in queue_views]
        extra = [await _measure(client, p, requests, cookies=cookies) for p in extra_views]
        o311 = [await _measure(client, p, requests) for p in open311_views]
        o311_extra = [await _measure(client, p, requests) for p in open311_extra]
        out["cpu"] = meter.stop()
    pooled_queue = [x for view in queue for x in view["_latencies"]]
    pooled_311 = [x for view in o311 for x in view["_latencies"]]
    for view in (*queue, *extra, *o311, *o311_extra):
        del view["_latencies"]
    out.update(
        queue_p50_ms=round(percentile(pooled_queue, 50) * 1000, 1),
        queue_p95_ms=round(percentile(pooled_queue, 95) * 1000, 1),
        open311_p50_ms=round(percentile(pooled_311, 50) * 1000, 1),
        open311_p95_ms=round(percentile(pooled_311, 95) * 1000, 1),
        queue_views=queue,
        queue_extra_views=extra,
        open311_views=o311,
        open311_extra_views=o311_extra,
    )
    return out


async def run_dashboard(
    admin_url: str,
    workdir: Path,
    *,
    tickets: int,
    requests: int,
    fresh: bool,
    before_indexes: bool,
    log: Callable[[str], None],
) -> dict[str, Any]:
    name = _name(tickets)
    url = database_url(admin_url, name)
    if fresh or not (await database_exists(admin_url, name) and await _marker(url)):
        from bench.common import create_database

        if await database_exists(admin_url, name):
            await drop_database(admin_url, url)
        log(f"generating {tickets} tickets in database {name} (kept for later runs)")
        await create_database(admin_url, name)
        await _generate(url, tickets, log)
    else:
        log(f"reusing {tickets} tickets in database {name}")
    result: dict[str, Any] = {"tickets": tickets, "database": name}
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                text("SELECT status, count(*) FROM tickets GROUP BY status ORDER BY 2 DESC")
            )
            result["by_status"] = {status: count for status, count in rows}
    finally:
        await engine.dispose()
    cookie = await _staff_session(url)
    community = await _first_community(url)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    if before_indexes:
        log(f"  without migration 0006 (downgrade to {PRE_INDEX_REVISION})")
        await _alembic(url, "downgrade", PRE_INDEX_REVISION)
        web = _start_web(url, port, workdir)
        try:
            await _wait_ready(base, web, workdir)
            before = await _measure_views(base, cookie, community, requests, web)
        finally:
            web.terminate()
            web.wait(timeout=20)
        result["before_indexes"] = before
        log(f"  queue p95 {before['queue_p95_ms']} ms, open311 p95 {before['open311_p95_ms']} ms")
    started = time.monotonic()
    await _alembic(url, "upgrade", "head")  # migration 0006's indexes
    result["migrate_to_head_s"] = round(time.monotonic() - started, 1)
    web = _start_web(url, port, workdir)
    try:
        await _wait_ready(base, web, workdir)
        log(f"  measuring with indexes ({requests} requests per view)")
        result.update(await _measure_views(base, cookie, community, requests, web))
    finally:
        web.terminate()
        web.wait(timeout=20)
    log(f"  queue p95 {result['queue_p95_ms']} ms, open311 p95 {result['open311_p95_ms']} ms")
    return result
