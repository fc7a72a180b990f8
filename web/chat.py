"""The resident web chat: a mobile page at `/chat` and the JSON endpoints its script calls.

It is one more front on `desk.frontdesk.FrontDesk` (channel "web"), exactly like the
Telegram bot and the terminal: free text goes to the Rasa engine, buttons that need
no understanding go to the services (`desk.workdesk` for r:/o:/s: presses), and the
resident's outbox rows for channel "web" are shown when the page polls for them. A
page loaded again draws the recent conversation from /chat/api/history
(web/chat_history.py). A resident is a random id in a signed cookie
(web/chat_identity.py); see docs/webchat.md.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from pydantic import BaseModel, ConfigDict, Field
from starlette.datastructures import UploadFile
from starlette.types import Scope

from desk.frontdesk import MAX_MESSAGE_CHARS, FrontDesk, Reply, Sender
from desk.notices import render as render_notice
from desk.render import category_name, local_time
from desk.workdesk import WorkDesk, handles
from i18n import LANGUAGES, t, ticket_status_name
from services.categories import list_categories
from services.lifecycle import OPEN
from services.outbox import lease_due, mark_sent
from services.parsing import resolve_language
from services.payloads import Action, encode
from services.tickets import find_resident, get_or_create_resident, list_resident_tickets
from web.chat_history import recent_conversation
from web.chat_identity import (
    CSRF_HEADER,
    accept_language,
    resident_of,
    same_site_request,
    set_resident_cookie,
)
from web.chat_replies import line_json, reply_json
from web.errors import ApiError
from web.limits import larger_body
from web.state import WebState, app_state, request_state

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/chat", tags=["web chat"], include_in_schema=False)

CHANNEL = "web"
PHOTO_PATH = "/chat/api/photo"
# Room for the multipart envelope around the photo itself.
MULTIPART_OVERHEAD = 64 * 1024
CHUNK = 64 * 1024
# Slash commands a resident may type, as in Telegram and the terminal.
COMMANDS = frozenset({"start", "help", "new", "status", "cancel", "lang"})
TEMPLATES = Path(__file__).with_name("templates")
# The page's own words, in both languages, handed to its script.
PAGE_KEYS = (
    "web_title",
    "web_welcome",
    "web_placeholder",
    "web_send",
    "web_photo",
    "web_share_location",
    "web_send_phone",
    "web_phone_placeholder",
    "web_my_tickets",
    "web_new_request",
    "web_other_language",
    "web_cancel_ticket",
    "web_confirm_cancel",
    "btn_stars",
    "btn_not_fixed",
    "web_location_failed",
    "web_network_error",
    "web_uploading",
    "web_comment",
    "web_comment_placeholder",
    "web_close",
    "no_tickets",
    "status_header",
)
# Image files by their first bytes, and the suffix they are stored with.
_IMAGE_MAGIC: tuple[tuple[bytes, int, str], ...] = (
    (b"\xff\xd8\xff", 0, ".jpg"),
    (b"\x89PNG\r\n\x1a\n", 0, ".png"),
    (b"GIF8", 0, ".gif"),
    (b"WEBP", 8, ".webp"),
    (b"ftypheic", 4, ".heic"),
    (b"ftypheix", 4, ".heic"),
    (b"ftypmif1", 4, ".heic"),
)

_templates = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(("html",), default=True),
    auto_reload=False,
)


def _photo_body_limit(scope: Scope) -> int:
    settings = app_state(scope["app"]).settings
    return settings.max_photo_bytes + MULTIPART_OVERHEAD


larger_body(PHOTO_PATH, _photo_body_limit)


# --- request bodies -----------------------------------------------------------------------


class MessageBody(BaseModel):
    """What the resident typed; `reply_to` names the notice it answers (a rating comment)."""

    model_config = ConfigDict(extra="ignore")

    # FrontDesk keeps the first MAX_MESSAGE_CHARS; the body limit caps the rest.
    text: Annotated[str, Field(max_length=4 * MAX_MESSAGE_CHARS)]
    reply_to: Annotated[str | None, Field(max_length=32)] = None


class PressBody(BaseModel):
    """The payload of a button the resident pressed."""

    model_config = ConfigDict(extra="ignore")

    payload: Annotated[str, Field(min_length=1, max_length=512)]


class LocationBody(BaseModel):
    """A position from the browser's geolocation."""

    model_config = ConfigDict(extra="ignore")

    latitude: Annotated[float, Field(ge=-90, le=90, allow_inf_nan=False)]
    longitude: Annotated[float, Field(ge=-180, le=180, allow_inf_nan=False)]


# --- who is asking ------------------------------------------------------------------------


@dataclass(frozen=True)
class Chat:
    """One request of the chat: the shared state, the resident and their front desks."""

    state: WebState
    sender: Sender
    new_cookie: bool
    desk: FrontDesk
    workdesk: WorkDesk

    async def replies(self, replies: Sequence[Reply]) -> dict[str, Any]:
        """The replies as the page draws them, with the resident's language."""
        return {
            "replies": [reply_json(reply) for reply in replies],
            "language": await self.desk.language_of(self.sender),
        }


async def chat_of(request: Request) -> Chat:
    """The chat of this request; refuses requests that are not the page's own."""
    if not same_site_request(request):
        raise ApiError(
            403,
            "forbidden",
            f"Web chat requests must come from the chat page (header {CSRF_HEADER}).",
        )
    state = request_state(request)
    resident_id, new = resident_of(request, state.settings)
    sender = Sender(
        channel=CHANNEL,
        external_id=resident_id,
        client_language=accept_language(request.headers.get("accept-language")),
    )
    return Chat(
        state=state,
        sender=sender,
        new_cookie=new,
        desk=state.frontdesk,
        workdesk=state.workdesk,
    )


ChatDep = Annotated[Chat, Depends(chat_of)]


def _respond(request: Request, chat: Chat, body: dict[str, Any], status: int = 200) -> Response:
    response = JSONResponse(body, status_code=status, headers={"Cache-Control": "no-store"})
    if chat.new_cookie:
        set_resident_cookie(response, request, chat.state.settings, chat.sender.external_id)
    return response


# --- the page -----------------------------------------------------------------------------


async def _page_language(request: Request, state: WebState) -> str:
    """The resident's language if known, else the browser's, else Chinese (no row is made)."""
    resident_id, new = resident_of(request, state.settings)
    resident = None
    if not new:
        async with state.sessionmaker() as session:
            resident = await find_resident(session, channel=CHANNEL, external_id=resident_id)
    return resolve_language(
        choice=resident.language_choice if resident else None,
        text=None,
        previous=resident.language if resident else None,
        client_code=accept_language(request.headers.get("accept-language")),
    )


def page_strings(limit_mb: int) -> dict[str, dict[str, str]]:
    """Every sentence the page's script shows by itself, in both languages."""
    strings = {language: {key: t(key, language) for key in PAGE_KEYS} for language in LANGUAGES}
    for language in LANGUAGES:
        strings[language]["photo_too_large"] = t("photo_too_large", language, limit_mb=limit_mb)
        strings[language]["photo_failed"] = t("photo_failed", language)
    return strings


@router.get("", response_class=HTMLResponse)
async def page(request: Request) -> Response:
    """The chat page (works without a cookie; the first call of its script sets one)."""
    state = request_state(request)
    language = await _page_language(request, state)
    limit_mb = state.settings.max_photo_bytes // (1024 * 1024)
    html = _templates.get_template("chat/index.html").render(
        language=language,
        title=t("web_title", language),
        welcome=t("web_welcome", language),
        strings=json.dumps(page_strings(limit_mb), ensure_ascii=False),
        max_photo_bytes=state.settings.max_photo_bytes,
        csrf_header=CSRF_HEADER,
    )
    response = HTMLResponse(
        html,
        headers={
            "Cache-Control": "no-store",
            "Content-Security-Policy": (
                "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; "
                "script-src 'self'; connect-src 'self'; frame-ancestors 'none'; "
                "base-uri 'none'; form-action 'self'"
            ),
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "same-origin",
        },
    )
    return response


# --- the JSON endpoints -------------------------------------------------------------------


async def _command_or_text(chat: Chat, text: str) -> list[Reply]:
    stripped = text.strip()
    word = stripped.split(maxsplit=1)[0] if stripped else ""
    if word.startswith("/") and word[1:] in COMMANDS:
        return await chat.desk.command(chat.sender, word[1:])
    return await chat.desk.text(chat.sender, text)


@router.post("/api/message")
async def message(request: Request, body: MessageBody, chat: ChatDep) -> Response:
    """Text the resident typed (or a comment answering a notice)."""
    if body.reply_to:
        replies = await chat.workdesk.reply_to_notice(chat.sender, body.reply_to, body.text)
        if replies is not None:
            return _respond(request, chat, await chat.replies(replies))
    replies = await _command_or_text(chat, body.text)
    return _respond(request, chat, await chat.replies(replies))


@router.post("/api/press")
async def press(request: Request, body: PressBody, chat: ChatDep) -> Response:
    """A button: r:/o:/s: go to the services (WorkDesk), the rest to the front desk."""
    if handles(body.payload):
        result = await chat.workdesk.press(chat.sender, body.payload)
        replies = result.replies or ([Reply(result.toast)] if result.toast else [])
    else:
        replies = await chat.desk.press(chat.sender, body.payload)
    return _respond(request, chat, await chat.replies(replies))


@router.post("/api/location")
async def location(request: Request, body: LocationBody, chat: ChatDep) -> Response:
    """The browser's position, passed to the dialogue as a location pin."""
    replies = await chat.desk.share(
        chat.sender, "share_location", latitude=body.latitude, longitude=body.longitude
    )
    return _respond(request, chat, await chat.replies(replies))


def _suffix(head: bytes) -> str | None:
    for magic, offset, suffix in _IMAGE_MAGIC:
        if head[offset : offset + len(magic)] == magic:
            return suffix
    return None


def _save(upload: UploadFile, photos_dir: Path, limit: int) -> str:
    """Copy the upload into the photos folder; its stored name, or the catalogue key of
    the problem (photo_too_large, web_photo_not_image)."""
    source = upload.file
    source.seek(0)
    head = source.read(16)
    suffix = _suffix(head)
    if suffix is None:
        return "web_photo_not_image"
    source.seek(0, 2)
    if source.tell() > limit:
        return "photo_too_large"
    source.seek(0)
    photos_dir.mkdir(parents=True, exist_ok=True)
    name = f"{uuid.uuid4().hex}{suffix}"
    partial = photos_dir / f".{name}.part"
    with partial.open("wb") as target:
        while chunk := source.read(CHUNK):
            target.write(chunk)
    partial.rename(photos_dir / name)
    return name


@router.post(PHOTO_PATH.removeprefix("/chat"))
async def photo(request: Request, chat: ChatDep) -> Response:
    """A photo (multipart field `photo`, at most MAX_PHOTO_BYTES), stored under the
    photos folder and passed to the dialogue by its stored name."""
    settings = chat.state.settings
    limit_mb = settings.max_photo_bytes // (1024 * 1024)
    form = await request.form(max_files=1, max_fields=4)
    try:
        upload = form.get("photo")
        if not isinstance(upload, UploadFile):
            replies = await chat.desk.notice(chat.sender, "photo_failed")
            return _respond(request, chat, await chat.replies(replies), status=400)
        try:
            stored = await asyncio.to_thread(
                _save, upload, settings.photos_dir, settings.max_photo_bytes
            )
        except OSError:
            logger.exception("photo.store_failed channel=web")
            stored = "photo_failed"
    finally:
        await form.close()
    if stored == "photo_too_large":
        replies = await chat.desk.notice(chat.sender, stored, limit_mb=limit_mb)
        return _respond(request, chat, await chat.replies(replies), status=413)
    if stored in ("photo_failed", "web_photo_not_image"):
        replies = await chat.desk.notice(chat.sender, stored)
        return _respond(request, chat, await chat.replies(replies), status=400)
    replies = await chat.desk.share(chat.sender, "share_photo", photo_ref=stored)
    return _respond(request, chat, await chat.replies(replies))


@router.get("/api/tickets")
async def tickets(request: Request, chat: ChatDep) -> Response:
    """The resident's latest tickets, newest first, with a cancel payload where allowed."""
    language = await chat.desk.language_of(chat.sender)
    timezone = chat.state.settings.timezone
    async with chat.state.sessionmaker() as session, session.begin():
        resident = await get_or_create_resident(
            session, channel=CHANNEL, external_id=chat.sender.external_id
        )
        rows = await list_resident_tickets(session, resident, limit=20)
        categories = await list_categories(session)
        listed = [
            {
                "number": ticket.number,
                "status": ticket.status,
                "status_name": ticket_status_name(
                    ticket.status,
                    language,
                    kind=ticket.kind,
                    acknowledged=ticket.acknowledged_at is not None,
                ),
                "category": (
                    category_name(categories, ticket.category_code, language)
                    if ticket.category_code
                    else t(f"kind_{ticket.kind}", language)
                ),
                "description": ticket.description,
                "created": local_time(ticket.created_at, timezone),
                "cancel": encode(Action.CANCEL, ticket.number) if ticket.status in OPEN else None,
                # A done ticket is rated or sent back from the list too (the prompt
                # may be long gone): the same payloads as the "done" notice's buttons.
                "rate": (
                    [
                        {"stars": stars, "payload": encode(Action.RATE, ticket.number, stars)}
                        for stars in range(1, 6)
                    ]
                    if ticket.status == "done"
                    else []
                ),
                "not_fixed": encode(Action.NOT_FIXED, ticket.number)
                if ticket.status == "done"
                else None,
            }
            for ticket in rows
        ]
    return _respond(request, chat, {"tickets": listed, "language": language})


@router.get("/api/history")
async def history(request: Request, chat: ChatDep) -> Response:
    """The resident's recent conversation, for a page loaded again (web/chat_history.py);
    nobody new is made by asking, and without the engine only the notices come back."""
    state = chat.state
    if chat.new_cookie:
        return _respond(request, chat, {"history": [], "language": None})
    async with state.sessionmaker() as session:
        known = await find_resident(session, channel=CHANNEL, external_id=chat.sender.external_id)
    if known is None:  # never wrote: no conversation to ask the engine for
        return _respond(request, chat, {"history": [], "language": None})
    language = await _page_language(request, state)
    lines = await recent_conversation(
        state.engine_client,
        state.sessionmaker,
        chat.sender,
        language=language,
        ttl_days=state.settings.conversation_ttl_days,
    )
    return _respond(
        request, chat, {"history": [line_json(line) for line in lines], "language": language}
    )


@router.get("/api/notices")
async def notices(request: Request, chat: ChatDep) -> Response:
    """The resident's new notifications (claimed, started, done: rate it …), each shown
    once: taken from the outbox and marked sent, as the terminal does for its channel."""
    resident_id = chat.sender.external_id
    async with chat.state.sessionmaker() as session, session.begin():
        due = await lease_due(session, channels=[CHANNEL], chat_id=resident_id)
        for row in due:
            # The row id names the shown message: a reply to it (a rating comment) finds it.
            await mark_sent(session, row.id, sent_message_id=str(row.id), now=None)
    shown = [
        reply_json(
            render_notice(row.message_key, row.params, row.buttons, row.language),
            notice_id=str(row.id),
            reply_kind=row.reply_kind,
        )
        for row in due
    ]
    if not shown:
        return _respond(request, chat, {"replies": [], "language": None})
    return _respond(
        request,
        chat,
        {"replies": shown, "language": await chat.desk.language_of(chat.sender)},
    )
