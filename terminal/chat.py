"""The terminal chat and the classifier: two fronts on the same engine."""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from adapters.engine_client import EngineClient
from adapters.readiness import check_readiness, wait_until_ready
from adapters.wakeup import Waker
from config.settings import Settings
from desk.frontdesk import Button, FrontDesk, Reply, Sender
from desk.notices import render as render_notice
from desk.workdesk import WorkDesk, handles
from i18n import t
from services import make_engine, make_sessionmaker
from services.outbox import lease_due, mark_sent

# How long the terminal waits for a stack that is still starting (a first training
# included) before it gives up.
READY_TIMEOUT_S = 900.0
COMMANDS = frozenset({"start", "help", "new", "status", "cancel", "lang"})


def render(replies: list[Reply], out: TextIO) -> list[Button]:
    """Print replies; buttons get numbers. Returns the buttons a number can pick."""
    numbered: list[Button] = []
    for reply in replies:
        out.write(f"bot> {reply.text}\n")
        for button in [*reply.buttons, *(b for row in reply.rows for b in row)]:
            numbered.append(button)
            out.write(f"     [{len(numbered)}] {button.title}\n")
    out.flush()
    return numbered


async def notices(sessionmaker: async_sessionmaker[AsyncSession], user: str) -> list[Reply]:
    """The outbox messages for this terminal resident (claimed, done, rate it …), taken
    and marked sent: the terminal is their channel."""
    async with sessionmaker() as session, session.begin():
        due = await lease_due(session, channels=["cli"], chat_id=user)
        for message in due:
            await mark_sent(session, message.id, sent_message_id=None, now=None)
    return [render_notice(m.message_key, m.params, m.buttons, m.language) for m in due]


def _both(key: str, **values: Any) -> str:
    """A catalogue sentence in both languages (before the resident's language is known)."""
    return t(key, "zh", **values) + " / " + t(key, "en", **values)


async def _until_ready(
    settings: Settings, database: AsyncEngine, out: TextIO, timeout_s: float
) -> bool:
    """Wait (saying so) until the database, the engine with its model and the action
    server all answer, so that the prompt never appears before a message can be
    answered; False, said, when they are not ready within `timeout_s`."""
    readiness = await check_readiness(settings, database)
    if readiness.ready:
        return True
    out.write(_both("chat_starting") + "\n")
    out.flush()
    readiness = await wait_until_ready(settings, database, timeout_s=timeout_s)
    if readiness.ready:
        return True
    log = settings.data_dir / "logs" / "stack.log"
    out.write(_both("chat_not_ready", minutes=max(1, round(timeout_s / 60)), log=log) + "\n")
    out.flush()
    return False


async def chat(
    settings: Settings,
    user: str,
    stdin: TextIO,
    out: TextIO,
    *,
    ready_timeout_s: float = READY_TIMEOUT_S,
) -> None:
    """A resident conversation in the terminal, one line in, replies out; the first
    prompt appears once every part a message needs is ready."""
    db = make_engine(settings.db_url)
    try:
        if await _until_ready(settings, db, out, ready_timeout_s):
            await _converse(settings, db, user, stdin, out)
    finally:
        await db.dispose()


async def _converse(
    settings: Settings, db: AsyncEngine, user: str, stdin: TextIO, out: TextIO
) -> None:
    engine = EngineClient(settings.rasa_url, timeout=settings.engine_timeout_s)
    sessionmaker = make_sessionmaker(db)
    desk = FrontDesk(engine, sessionmaker, settings)
    waker = Waker(settings.redis_url)
    workdesk = WorkDesk(sessionmaker, waker)
    sender = Sender(channel="cli", external_id=user, client_language=_locale_language())
    # Before the first message the language is not known yet: introduce in both.
    out.write(t("chat_intro", "zh", user=user) + "\n" + t("chat_intro", "en", user=user) + "\n")
    buttons: list[Button] = []
    try:
        while True:
            buttons = render(await notices(sessionmaker, user), out) or buttons
            out.write("you> ")
            out.flush()
            line = await asyncio.to_thread(stdin.readline)
            if not line:
                break
            line = line.rstrip("\n")
            if line.strip() in ("/quit", "/exit"):
                break
            replies = await _handle(desk, workdesk, sender, settings, line, buttons)
            buttons = render(replies, out) or buttons
        out.write(t("chat_bye", await _language(desk, sender)) + "\n")
    finally:
        await engine.close()
        await waker.close()


async def _language(desk: FrontDesk, sender: Sender) -> str:
    try:
        return await desk.language_of(sender)
    except Exception:  # the database may already be closed on exit
        return "zh"


async def _handle(
    desk: FrontDesk,
    workdesk: WorkDesk,
    sender: Sender,
    settings: Settings,
    line: str,
    buttons: list[Button],
) -> list[Reply]:
    stripped = line.strip()
    if stripped.isdigit() and buttons and 1 <= int(stripped) <= len(buttons):
        data = buttons[int(stripped) - 1].payload
        if handles(data):  # rate, not fixed: straight to the services
            result = await workdesk.press(sender, data)
            toast = [Reply(result.toast)] if result.toast and not result.replies else []
            return toast + result.replies
        return await desk.press(sender, data)
    word, _, rest = stripped.partition(" ")
    if word == "/location":
        try:
            latitude, longitude = (float(x) for x in rest.split()[:2])
        except ValueError:
            return await desk.notice(sender, "unsupported_media")
        return await desk.share(sender, "share_location", latitude=latitude, longitude=longitude)
    if word == "/photo":
        return await _photo(desk, sender, settings, rest.strip())
    if word.startswith("/") and word[1:] in COMMANDS:
        return await desk.command(sender, word[1:])
    return await desk.text(sender, line)


async def _photo(desk: FrontDesk, sender: Sender, settings: Settings, given: str) -> list[Reply]:
    stored = await asyncio.to_thread(_store_photo, settings, given)
    if stored == "photo_too_large":
        limit_mb = settings.max_photo_bytes // (1024 * 1024)
        return await desk.notice(sender, stored, limit_mb=limit_mb)
    if stored == "photo_failed":
        return await desk.notice(sender, stored)
    return await desk.share(sender, "share_photo", photo_ref=stored)


def _store_photo(settings: Settings, given: str) -> str:
    """Copy a photo into the data folder; its stored name, or the catalogue key of the error."""
    path = Path(given).expanduser()
    if not path.is_file():
        return "photo_failed"
    if path.stat().st_size > settings.max_photo_bytes:
        return "photo_too_large"
    settings.photos_dir.mkdir(parents=True, exist_ok=True)
    name = f"{uuid.uuid4().hex}{path.suffix.lower() or '.jpg'}"
    shutil.copyfile(path, settings.photos_dir / name)
    return name


def _locale_language() -> str | None:
    for variable in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = os.environ.get(variable)
        if value and value not in ("C", "C.UTF-8", "POSIX"):
            return value.split(".")[0]
    return None
