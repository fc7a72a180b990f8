"""A fake Telegram Bot API server for tests, plus a driver acting as Telegram users.

The server is a real HTTP server (aiohttp, 127.0.0.1, random port) that answers a real
python-telegram-bot ``Application`` with real Bot API JSON::

    fake = FakeTelegram()
    await fake.start()
    app = (
        ApplicationBuilder()
        .token(fake.token)
        .base_url(f"{fake.base_url}/bot")
        .base_file_url(f"{fake.base_url}/file/bot")
        .build()
    )
    ...  # start the app with long polling
    user = fake.user(1001)
    await user.send_text("/start")
    [reply] = await user.wait_for_messages()
    await user.press(reply, reply.button("Yes")[1])
    ...
    # stop the PTB application first, then the fake
    await fake.stop()

Behaviour follows the Bot API: the ``{"ok": true, "result": ...}`` / ``{"ok": false,
"error_code": ..., "description": ...}`` envelopes, dates in seconds, ``getUpdates`` offset
confirmation and long polling, 404 "Not Found" for methods that are not implemented
(recorded in ``unknown_calls``), and the usual 400 errors ("chat not found", "message is
not modified", "message to edit not found", "can't parse entities", ...).
"""

# The test-side waiting helpers take explicit ``timeout`` arguments by design.
# ruff: noqa: ASYNC109

from __future__ import annotations

import asyncio
import copy
import html
import itertools
import json
import random
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

__all__ = ["BotMessage", "FakeTelegram", "FakeUser", "UploadedFile", "WebhookDelivery"]

WEBHOOK_SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"

JSONDict = dict[str, Any]

# Parameters that are plain strings in the Bot API: never JSON-decoded from form posts
# (PTB sends str values as-is and everything else JSON-encoded).
_TEXT_PARAMS = frozenset(
    {
        "text",
        "caption",
        "parse_mode",
        "callback_query_id",
        "file_id",
        "url",
        "language_code",
        "action",
        "inline_message_id",
        "secret_token",
        "ip_address",
        "photo",
        "document",
        "voice",
        "audio",
        "video",
        "sticker",
        "animation",
        "thumbnail",
        "title",
        "description",
        "short_description",
        "name",
        "emoji",
        "query",
        "phone_number",
        "first_name",
        "last_name",
        "address",
        "business_connection_id",
        "message_effect_id",
        "switch_inline_query",
        "filename",
    }
)

_HTML_TAGS = frozenset(
    {
        "b",
        "strong",
        "i",
        "em",
        "u",
        "ins",
        "s",
        "strike",
        "del",
        "span",
        "tg-spoiler",
        "a",
        "code",
        "pre",
        "blockquote",
        "tg-emoji",
    }
)
_HTML_ENTITY = re.compile(r"&(#\d+|#x[0-9a-fA-F]+|lt|gt|amp|quot);")
_MDV2_RESERVED = frozenset("_*[]()~`>#+-=|{}.!")
_MDV2_NAMES = {
    "*": "Bold",
    "_": "Italic",
    "__": "Underline",
    "~": "Strikethrough",
    "||": "Spoiler",
    "[": "TextUrl",
}
_COMMAND_RE = re.compile(r"^[a-z0-9_]{1,32}$")
_NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup "
    "are exactly the same as a content and reply markup of the current message"
)


class _ApiError(Exception):
    def __init__(self, status: int, description: str, parameters: JSONDict | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = parameters

    def envelope(self) -> JSONDict:
        body: JSONDict = {
            "ok": False,
            "error_code": self.status,
            "description": self.description,
        }
        if self.parameters:
            body["parameters"] = self.parameters
        return body


def _bad(description: str) -> _ApiError:
    return _ApiError(400, f"Bad Request: {description}")


@dataclass
class UploadedFile:
    """A file the bot uploaded in a multipart request (as it appears in ``calls``)."""

    filename: str | None
    content: bytes
    content_type: str | None


@dataclass
class WebhookDelivery:
    """One attempt to POST an update to the webhook (status 0: no HTTP answer)."""

    update_id: int
    url: str
    status: int


@dataclass
class _Failure:
    status: int
    description: str
    retry_after: int | None
    remaining: int


@dataclass
class BotMessage:
    """A message the bot sent to a user's private chat (sendMessage/sendPhoto/sendDocument).

    ``text`` is the text as the user sees it (HTML tags / MarkdownV2 markup removed), or
    None for media messages (see ``caption``). ``reply_markup`` is the markup the bot sent
    (inline keyboard, reply keyboard or remove_keyboard) while ``raw`` is the Bot API
    Message object returned to the bot (it carries only inline keyboards, like Telegram).
    Edits update ``text``/``caption``/``reply_markup``/``raw`` in place and are appended to
    ``edits`` as ``{"method", "params", "before", "after"}``.
    """

    message_id: int
    chat_id: int
    text: str | None
    reply_markup: dict[str, Any] | None
    raw: dict[str, Any]
    caption: str | None = None
    kind: str = "text"  # "text" | "photo" | "document"
    params: dict[str, Any] = field(default_factory=dict)
    edits: list[dict[str, Any]] = field(default_factory=list)
    deleted: bool = False

    def buttons(self) -> list[tuple[str, str]]:
        """Inline keyboard buttons as (text, callback_data), row by row; url buttons etc.
        appear with callback_data ""."""
        rows = (self.reply_markup or {}).get("inline_keyboard") or []
        return [
            (str(b.get("text", "")), str(b.get("callback_data", ""))) for row in rows for b in row
        ]

    def button(self, text_contains: str) -> tuple[str, str]:
        for text, data in self.buttons():
            if text_contains in text:
                return text, data
        raise AssertionError(
            f"no inline button containing {text_contains!r} on message {self.message_id} "
            f"({self.text or self.caption!r}); buttons: {self.buttons()}"
        )

    def reply_keyboard(self) -> list[dict[str, Any]] | None:
        rows = (self.reply_markup or {}).get("keyboard")
        if rows is None:
            return None
        return [b if isinstance(b, dict) else {"text": str(b)} for row in rows for b in row]

    def _state(self) -> JSONDict:
        return {
            "text": self.text,
            "caption": self.caption,
            "reply_markup": copy.deepcopy(self.reply_markup),
        }


def _now() -> int:
    return int(time.time())


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _image_size(content: bytes) -> tuple[int, int]:
    if content.startswith(b"\x89PNG\r\n\x1a\n") and len(content) >= 24:
        return int.from_bytes(content[16:20], "big"), int.from_bytes(content[20:24], "big")
    if content.startswith(b"\xff\xd8"):
        i = 2
        while i + 9 < len(content) and content[i] == 0xFF:
            marker = content[i + 1]
            seg_len = int.from_bytes(content[i + 2 : i + 4], "big")
            if marker in (0xC0, 0xC1, 0xC2):
                h = int.from_bytes(content[i + 5 : i + 7], "big")
                w = int.from_bytes(content[i + 7 : i + 9], "big")
                return w, h
            i += 2 + seg_len
    return 1280, 960


def _render_html(text: str) -> str:
    out: list[str] = []
    stack: list[str] = []
    pos = 0

    def fail(what: str) -> _ApiError:
        return _bad(f"can't parse entities: {what}")

    while pos < len(text):
        ch = text[pos]
        if ch == "<":
            offset = len(text[:pos].encode())
            end = text.find(">", pos)
            if end == -1:
                raise fail(f"Unclosed start tag at byte offset {offset}")
            inner = text[pos + 1 : end].strip()
            if inner.startswith("/"):
                name = inner[1:].strip().lower()
                if not stack:
                    raise fail(f"Unexpected end tag at byte offset {offset}")
                if stack[-1] != name:
                    raise fail(
                        f'Unmatched end tag at byte offset {offset}, expected "</{stack[-1]}>", '
                        f'found "</{name}>"'
                    )
                stack.pop()
            else:
                name = re.split(r"[\s/]", inner, maxsplit=1)[0].lower()
                if name not in _HTML_TAGS:
                    raise fail(f'Unsupported start tag "{name}" at byte offset {offset}')
                if not inner.endswith("/"):
                    stack.append(name)
            pos = end + 1
        elif ch == "&" and (m := _HTML_ENTITY.match(text, pos)):
            out.append(html.unescape(m.group(0)))
            pos = m.end()
        else:
            out.append(ch)
            pos += 1
    if stack:
        raise fail(f'Can\'t find end tag corresponding to start tag "{stack[-1]}"')
    return "".join(out)


def _render_markdown_v2(text: str) -> str:
    out: list[str] = []
    stack: list[tuple[str, int]] = []
    i, n = 0, len(text)

    def fail(what: str) -> _ApiError:
        return _bad(f"can't parse entities: {what}")

    def offset(idx: int) -> int:
        return len(text[:idx].encode())

    def find_unescaped(sub: str, start: int) -> int:
        j = start
        while j < n:
            if text[j] == "\\":
                j += 2
                continue
            if text.startswith(sub, j):
                return j
            j += 1
        return -1

    def unescape(s: str) -> str:
        return re.sub(r"\\(.)", r"\1", s, flags=re.S)

    while i < n:
        c = text[i]
        if c == "\\":
            if i + 1 >= n:
                raise fail(f"Unexpected end of text at byte offset {offset(i)}")
            out.append(text[i + 1])
            i += 2
        elif text.startswith("```", i):
            end = find_unescaped("```", i + 3)
            if end == -1:
                raise fail(f"Can't find end of PreCode entity at byte offset {offset(i)}")
            block = text[i + 3 : end]
            first, nl, rest = block.partition("\n")
            if nl and first and " " not in first:
                block = rest
            out.append(unescape(block))
            i = end + 3
        elif c == "`":
            end = find_unescaped("`", i + 1)
            if end == -1:
                raise fail(f"Can't find end of Code entity at byte offset {offset(i)}")
            out.append(unescape(text[i + 1 : end]))
            i = end + 1
        elif text.startswith("||", i) or text.startswith("__", i) or c in "*_~":
            marker = text[i : i + 2] if text[i : i + 2] in ("||", "__") else c
            if stack and stack[-1][0] == marker:
                stack.pop()
            else:
                stack.append((marker, i))
            i += len(marker)
        elif c == "[":
            stack.append(("[", i))
            i += 1
        elif c == "]" and stack and stack[-1][0] == "[":
            stack.pop()
            if not text.startswith("(", i + 1):
                raise fail(f"Can't find end of TextUrl entity at byte offset {offset(i)}")
            end = find_unescaped(")", i + 2)
            if end == -1:
                raise fail(f"Can't find end of TextUrl entity at byte offset {offset(i)}")
            i = end + 1
        elif c == ">" and (i == 0 or text[i - 1] == "\n"):
            i += 1
        elif c in _MDV2_RESERVED:
            raise fail(f"Character '{c}' is reserved and must be escaped with the preceding '\\'")
        else:
            out.append(c)
            i += 1
    if stack:
        marker, at = stack[-1]
        raise fail(f"Can't find end of {_MDV2_NAMES[marker]} entity at byte offset {offset(at)}")
    return "".join(out)


def _render_markdown(text: str) -> str:
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c in "*_`":
            end = text.find(c, i + 1)
            if end == -1:
                raise _bad(
                    "can't parse entities: Can't find end of the entity starting at byte "
                    f"offset {len(text[:i].encode())}"
                )
            out.append(text[i + 1 : end])
            i = end + 1
        elif c == "[" and (m := re.compile(r"\[([^\]]*)\]\(([^)]*)\)").match(text, i)):
            out.append(m.group(1))
            i = m.end()
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _render(text: str, parse_mode: Any) -> str:
    mode = str(parse_mode or "").lower()
    if mode == "html":
        return _render_html(text)
    if mode == "markdownv2":
        return _render_markdown_v2(text)
    if mode == "markdown":
        return _render_markdown(text)
    if mode:
        raise _bad(f"unsupported parse_mode {parse_mode}")
    return text


def _check_markup(markup: Any) -> JSONDict | None:
    if markup is None or markup == "":
        return None
    if not isinstance(markup, dict):
        raise _bad("can't parse reply keyboard markup JSON object")
    if "inline_keyboard" in markup:
        rows = markup["inline_keyboard"]
        if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
            raise _bad(
                'field "inline_keyboard" of the InlineKeyboardMarkup should be an Array of Arrays'
            )
        for row in rows:
            for button in row:
                if not isinstance(button, dict):
                    raise _bad("can't parse inline keyboard button: object expected")
                actions = set(button) - {"text", "style", "icon_custom_emoji_id"}
                if not button.get("text") or not actions:
                    raise _bad(
                        "can't parse inline keyboard button: Text buttons are unallowed in the "
                        "inline keyboard"
                    )
                data = button.get("callback_data")
                if data is not None and not 1 <= len(str(data).encode()) <= 64:
                    raise _bad("BUTTON_DATA_INVALID")
        return markup
    if "keyboard" in markup:
        rows = markup["keyboard"]
        if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
            raise _bad('field "keyboard" of the ReplyKeyboardMarkup should be an Array of Arrays')
        return markup
    if markup.get("remove_keyboard") or "force_reply" in markup:
        return markup
    raise _bad("can't parse reply keyboard markup JSON object")


def _int(params: JSONDict, key: str, default: int | None = None) -> int:
    value = params.get(key, default)
    if value is None or value == "":
        if default is None:
            raise _bad(f"{key} is empty" if key in params else f'parameter "{key}" is required')
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise _bad(f"invalid {key} specified") from None


class FakeUser:
    """A Telegram user talking to the bot in a private chat (chat id == user id)."""

    def __init__(
        self,
        fake: FakeTelegram,
        user_id: int,
        first_name: str,
        language_code: str | None,
        username: str | None,
    ) -> None:
        self._fake = fake
        self.user_id = user_id
        self.chat_id = user_id
        self.first_name = first_name
        self.language_code = language_code
        self.username = username
        self.blocked = False  # True: every bot send to this chat fails with 403 "bot was blocked"
        self.keyboard: JSONDict | None = None  # the reply keyboard currently shown, if any

    def as_user(self) -> JSONDict:
        user: JSONDict = {"id": self.user_id, "is_bot": False, "first_name": self.first_name}
        if self.username:
            user["username"] = self.username
        if self.language_code:
            user["language_code"] = self.language_code
        return user

    def as_chat(self) -> JSONDict:
        chat: JSONDict = {"id": self.chat_id, "type": "private", "first_name": self.first_name}
        if self.username:
            chat["username"] = self.username
        return chat

    # --- sending ---------------------------------------------------------------------------

    async def send_raw(self, message_fields: dict[str, Any]) -> int:
        """Send a message with any content fields (merged over message_id/from/chat/date)."""
        message = self._fake._new_message(self, self.as_user())
        message.update(copy.deepcopy(message_fields))
        self._fake._user_messages[(self.chat_id, message["message_id"])] = message
        self._fake._push_update({"message": message})
        return int(message["message_id"])

    async def send_text(self, text: str) -> int:
        fields: JSONDict = {"text": text}
        if text.startswith("/"):
            command = text.split(maxsplit=1)[0] if text.strip() else text
            fields["entities"] = [
                {"offset": 0, "length": _utf16_len(command), "type": "bot_command"}
            ]
        return await self.send_raw(fields)

    async def send_location(self, latitude: float, longitude: float) -> int:
        return await self.send_raw({"location": {"latitude": latitude, "longitude": longitude}})

    async def send_contact(
        self, phone_number: str, *, own: bool = True, first_name: str | None = None
    ) -> int:
        contact: JSONDict = {
            "phone_number": phone_number,
            "first_name": first_name or (self.first_name if own else "Contact"),
        }
        if own:
            contact["user_id"] = self.user_id
        return await self.send_raw({"contact": contact})

    async def send_photo(self, content: bytes, caption: str | None = None) -> int:
        fields: JSONDict = {"photo": self._fake._photo_sizes(content)}
        if caption is not None:
            fields["caption"] = caption
        return await self.send_raw(fields)

    async def send_sticker(self) -> int:
        meta = self._fake._register_file(b"RIFF\x00\x00\x00\x00WEBPVP8 ", "stickers", "webp")
        sticker = {
            **meta,
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
            "emoji": "\U0001f44d",
        }
        return await self.send_raw({"sticker": sticker})

    async def send_voice(self, content: bytes = b"OggS...") -> int:
        meta = self._fake._register_file(content, "voice", "oga")
        return await self.send_raw({"voice": {**meta, "duration": 1, "mime_type": "audio/ogg"}})

    async def press(self, message: BotMessage, callback_data: str, *, stale: bool = False) -> str:
        """Press an inline button of a bot message; returns the callback query id.

        ``stale=True`` presses a button the bot has already removed, as a second quick
        tap does in real Telegram when it lands before the edit.
        """
        if message.chat_id != self.chat_id:
            raise AssertionError(
                f"message {message.message_id} is in chat {message.chat_id}, not {self.chat_id}"
            )
        if message.deleted:
            raise AssertionError(f"message {message.message_id} was deleted by the bot")
        if not stale and callback_data not in [data for _, data in message.buttons() if data]:
            raise AssertionError(
                f"message {message.message_id} ({message.text or message.caption!r}) has no "
                f"button with callback_data {callback_data!r}; buttons: {message.buttons()}"
            )
        query_id = str(next(self._fake._query_ids))
        self._fake._queries[query_id] = self.user_id
        self._fake._push_update(
            {
                "callback_query": {
                    "id": query_id,
                    "from": self.as_user(),
                    "chat_instance": str(-(7_000_000_000_000_000_000 + self.chat_id)),
                    "message": copy.deepcopy(message.raw),
                    "data": callback_data,
                }
            }
        )
        return query_id

    # --- receiving -------------------------------------------------------------------------

    def inbox(self) -> list[BotMessage]:
        """Every message the bot sent to this chat so far (consumed or not)."""
        return list(self._fake._bot_messages.get(self.chat_id, []))

    async def wait_for_messages(self, count: int = 1, timeout: float = 30) -> list[BotMessage]:
        """The next ``count`` messages the bot sends to this chat that no earlier call
        returned, in order."""
        fake = self._fake
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            messages = fake._bot_messages.get(self.chat_id, [])
            start = fake._consumed.get(self.chat_id, 0)
            if len(messages) - start >= count:
                fake._consumed[self.chat_id] = start + count
                return messages[start : start + count]
            remaining = deadline - loop.time()
            if remaining <= 0:
                got = [
                    m.text if m.text is not None else f"<{m.kind}: {m.caption!r}>"
                    for m in messages[start:]
                ]
                raise AssertionError(
                    f"user {self.user_id}: expected {count} new bot message(s) within "
                    f"{timeout}s, got {len(got)}: {got!r}; errors returned to the bot: "
                    f"{fake.errors[-5:]!r}; unknown methods: {fake.unknown_calls!r}"
                )
            await fake._wait_change(remaining)

    async def assert_no_messages(self, within: float = 0.3) -> None:
        """Fail if the bot sends any new (unconsumed) message to this chat within ``within`` s."""
        await asyncio.sleep(within)
        start = self._fake._consumed.get(self.chat_id, 0)
        new = self._fake._bot_messages.get(self.chat_id, [])[start:]
        if new:
            raise AssertionError(f"unexpected bot messages: {[m.text for m in new]!r}")

    async def wait_for_edit(
        self, message: BotMessage, count: int = 1, timeout: float = 30
    ) -> BotMessage:
        """Wait until ``message`` has been edited at least ``count`` times in total."""
        await self._fake.wait_until(
            lambda: len(message.edits) >= count,
            timeout,
            f"{count} edit(s) of message {message.message_id}",
        )
        return message

    def answered_callbacks(self) -> list[dict[str, Any]]:
        """answerCallbackQuery parameters for this user's callback queries, in order."""
        return [params for uid, params in self._fake._answers if uid == self.user_id]


class FakeGroupMember(FakeUser):
    """A user writing in a group chat the bot is in (the chat id is the group's, negative).

    Members of one group share the chat: its messages, its inbox and what was consumed."""

    def __init__(
        self,
        fake: FakeTelegram,
        group_id: int,
        title: str,
        user_id: int,
        first_name: str,
        language_code: str | None,
    ) -> None:
        super().__init__(fake, user_id, first_name, language_code, None)
        self.chat_id = group_id
        self.title = title

    def as_chat(self) -> JSONDict:
        return {"id": self.chat_id, "type": "group", "title": self.title}


class FakeTelegram:
    """A fake Bot API server for one bot token."""

    def __init__(
        self, token: str = "123456:TEST-TOKEN", bot_username: str = "resident_orders_bot"
    ) -> None:
        self.token = token
        self.bot_username = bot_username
        prefix = token.split(":", 1)[0]
        self.bot_id = int(prefix) if prefix.isdigit() else 123456
        self.bot_user: JSONDict = {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": "Resident Orders",
            "username": bot_username,
        }
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.unknown_calls: list[str] = []
        self.errors: list[tuple[str, JSONDict]] = []  # (method, error envelope) sent to the bot
        self.commands: dict[str | None, list[dict[str, Any]]] = {}
        self.scoped_commands: dict[tuple[str, str | None], list[dict[str, Any]]] = {}
        self.files: dict[str, bytes] = {}
        self.webhook: dict[str, Any] | None = None
        self.allowed_updates: list[str] | None = None
        self._file_meta: dict[str, JSONDict] = {}
        self._file_paths: dict[str, str] = {}
        self._file_seq = itertools.count(1)
        self._users: dict[int, FakeUser] = {}
        self._message_ids: dict[int, itertools.count[int]] = {}
        self._bot_messages: dict[int, list[BotMessage]] = {}
        self._bot_by_id: dict[tuple[int, int], BotMessage] = {}
        self._user_messages: dict[tuple[int, int], JSONDict] = {}
        self._deleted_user_messages: set[tuple[int, int]] = set()
        self._consumed: dict[int, int] = {}
        self._queries: dict[str, int] = {}  # callback query id -> user id
        self._answered: set[str] = set()
        self._answers: list[tuple[int, JSONDict]] = []
        self._query_ids = itertools.count(4_300_000_000_000_000_001)
        self._updates: list[JSONDict] = []
        # Like Telegram's, update ids go on from a point of their own: a restarted fake
        # does not repeat the ids a webhook worker has already claimed (bot/dedupe.py).
        self._update_ids = itertools.count(random.randrange(100_000_001, 900_000_001, 1000))
        self._failures: dict[str, list[_Failure]] = {}
        self._delays: dict[str, list[float]] = {}
        self._poller: asyncio.Future[str] | None = None
        self._changed = asyncio.Event()
        self._closing = False
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        # Webhook delivery (opt-in): with a webhook set, pending updates are POSTed to its
        # url (or round-robin to ``webhook_targets``) with the secret token header, like
        # Telegram: one update at a time per chat, chats in parallel up to the webhook's
        # max_connections; an update stays pending until a 2xx answer, else it is retried.
        self.deliver_webhooks = False
        self.webhook_targets: list[str] | None = None
        self.webhook_retry_s = 0.2
        self.webhook_deliveries: list[WebhookDelivery] = []
        self._delivery_task: asyncio.Task[None] | None = None
        self._delivery_wake = asyncio.Event()
        self._target_turn = itertools.count()
        self._methods: dict[str, Callable[[JSONDict], Awaitable[Any]]] = {
            name.lower(): fn
            for name, fn in {
                "getMe": self._get_me,
                "getUpdates": self._get_updates,
                "setWebhook": self._set_webhook,
                "deleteWebhook": self._delete_webhook,
                "getWebhookInfo": self._get_webhook_info,
                "sendMessage": self._send_message,
                "sendPhoto": self._send_photo,
                "sendDocument": self._send_document,
                "editMessageText": self._edit_message_text,
                "editMessageCaption": self._edit_message_caption,
                "editMessageReplyMarkup": self._edit_message_reply_markup,
                "deleteMessage": self._delete_message,
                "answerCallbackQuery": self._answer_callback_query,
                "sendChatAction": self._send_chat_action,
                "getFile": self._get_file,
                "setMyCommands": self._set_my_commands,
                "deleteMyCommands": self._delete_my_commands,
                "getMyCommands": self._get_my_commands,
                "close": self._true,
                "logOut": self._true,
            }.items()
        }

    # --- lifecycle -------------------------------------------------------------------------

    async def start(self, port: int = 0) -> None:
        """Serve on `port` (0: a free one)."""
        app = web.Application(client_max_size=60 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._closing = False
        self._runner = web.AppRunner(
            app, handler_cancellation=True, shutdown_timeout=1.0, access_log=None
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        self._port = int(self._runner.addresses[0][1])

    async def stop(self) -> None:
        """Stop the server (stop the PTB application first)."""
        self._closing = True
        self._wake_poller("closing")
        if self._delivery_task is not None:
            self._delivery_task.cancel()
            await asyncio.gather(self._delivery_task, return_exceptions=True)
            self._delivery_task = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeTelegram:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        if self._port is None:
            raise RuntimeError("FakeTelegram is not started")
        return f"http://127.0.0.1:{self._port}"

    # --- test-side API ---------------------------------------------------------------------

    def user(
        self,
        user_id: int,
        first_name: str = "Test",
        language_code: str | None = "zh",
        username: str | None = None,
    ) -> FakeUser:
        """The user with this id (created on first use; later calls return the same one)."""
        existing = self._users.get(user_id)
        if existing is not None:
            return existing
        user = FakeUser(self, user_id, first_name, language_code, username)
        self._users[user_id] = user
        return user

    def group_member(
        self,
        group_id: int,
        user_id: int,
        first_name: str = "Member",
        title: str = "Group",
        language_code: str | None = "zh",
    ) -> FakeGroupMember:
        """A member of a group chat (group ids are negative); the group is created with
        its first member."""
        if group_id >= 0:
            raise ValueError("group chat ids are negative")
        member = FakeGroupMember(self, group_id, title, user_id, first_name, language_code)
        self._users.setdefault(group_id, member)
        return member

    def fail_next(
        self,
        method: str,
        *,
        status: int,
        description: str,
        retry_after: int | None = None,
        times: int = 1,
    ) -> None:
        """Answer the next ``times`` calls of ``method`` with this error."""
        self._failures.setdefault(method.lower(), []).append(
            _Failure(status, description, retry_after, times)
        )

    def delay_next(self, method: str, seconds: float, *, times: int = 1) -> None:
        """Hold the next ``times`` calls of ``method`` for ``seconds`` before answering
        (a slow or hanging Telegram). A client that gives up (timeout) or dies meanwhile
        disconnects, and the call is then dropped unprocessed, as if it never arrived."""
        self._delays.setdefault(method.lower(), []).extend([seconds] * times)

    def calls_of(self, method: str) -> list[dict[str, Any]]:
        """Parameters of every call of ``method`` (case-insensitive), in order."""
        return [params for name, params in self.calls if name.lower() == method.lower()]

    def pending_updates(self) -> list[dict[str, Any]]:
        """Updates not yet confirmed by the bot through getUpdates' offset."""
        return list(self._updates)

    async def wait_until(
        self, predicate: Callable[[], bool], timeout: float = 30, what: str = "condition"
    ) -> None:
        """Wait until ``predicate()`` is true; it is re-checked after every API call and
        every 20 ms (so it may also look at state outside the fake)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not predicate():
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(
                    f"timed out after {timeout}s waiting for {what}; last calls: "
                    f"{[name for name, _ in self.calls[-10:]]}; errors: {self.errors[-5:]!r}"
                )
            await self._wait_change(min(remaining, 0.02))

    async def wait_for_call(
        self, method: str, count: int = 1, timeout: float = 30
    ) -> list[dict[str, Any]]:
        """Wait until ``method`` was called at least ``count`` times in total; returns the
        parameters of all its calls."""
        await self.wait_until(
            lambda: len(self.calls_of(method)) >= count, timeout, f"{count} {method} call(s)"
        )
        return self.calls_of(method)

    # --- internals -------------------------------------------------------------------------

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def _wait_change(self, seconds: float) -> None:
        event = self._changed
        try:
            await asyncio.wait_for(event.wait(), seconds)
        except TimeoutError:
            pass

    def _wake_poller(self, reason: str) -> None:
        if self._poller is not None and not self._poller.done():
            self._poller.set_result(reason)

    def _push_update(self, content: JSONDict) -> None:
        self._updates.append({"update_id": next(self._update_ids), **content})
        self._wake_poller("update")
        self._delivery_wake.set()
        self._notify()

    def _new_message(self, user: FakeUser, sender: JSONDict) -> JSONDict:
        ids = self._message_ids.setdefault(user.chat_id, itertools.count(1))
        return {
            "message_id": next(ids),
            "from": copy.deepcopy(sender),
            "chat": user.as_chat(),
            "date": _now(),
        }

    def _register_file(self, content: bytes, folder: str, ext: str) -> JSONDict:
        n = next(self._file_seq)
        file_id = f"F{n:05d}{secrets.token_hex(12)}"
        meta: JSONDict = {
            "file_id": file_id,
            "file_unique_id": f"U{n:05d}{secrets.token_hex(4)}",
            "file_size": len(content),
        }
        self.files[file_id] = content
        self._file_meta[file_id] = meta
        self._file_paths[file_id] = f"{folder}/file_{n}.{ext}"
        return dict(meta)

    def _photo_sizes(self, content: bytes) -> list[JSONDict]:
        """PhotoSize array, smallest first; every size downloads as ``content``."""
        width, height = _image_size(content)
        sizes: list[JSONDict] = []
        for limit in (90, 320, 800):
            if max(width, height) > limit:
                scale = limit / max(width, height)
                meta = self._register_file(content, "photos", "jpg")
                sizes.append(
                    {
                        **meta,
                        "width": max(1, round(width * scale)),
                        "height": max(1, round(height * scale)),
                    }
                )
        meta = self._register_file(content, "photos", "jpg")
        sizes.append({**meta, "width": width, "height": height})
        return sizes

    def _chat(self, params: JSONDict) -> FakeUser:
        if "chat_id" not in params or params["chat_id"] in (None, ""):
            raise _bad("chat_id is empty")
        try:
            chat_id = int(params["chat_id"])
        except (TypeError, ValueError):
            raise _bad("chat not found") from None
        user = self._users.get(chat_id)
        if user is None:
            raise _bad("chat not found")
        if user.blocked:
            raise _ApiError(403, "Forbidden: bot was blocked by the user")
        return user

    def _reply_to(self, user: FakeUser, params: JSONDict) -> JSONDict | None:
        reply = params.get("reply_parameters")
        if isinstance(reply, dict):
            message_id, allow = reply.get("message_id"), reply.get("allow_sending_without_reply")
        elif params.get("reply_to_message_id") is not None:
            message_id = params["reply_to_message_id"]
            allow = params.get("allow_sending_without_reply")
        else:
            return None
        key = (user.chat_id, _int({"message_id": message_id}, "message_id"))
        original = self._user_messages.get(key)
        if original is None and key in self._bot_by_id:
            original = self._bot_by_id[key].raw
        if original is None or key in self._deleted_user_messages:
            if allow:
                return None
            raise _bad("message to be replied not found")
        return copy.deepcopy(original)

    def _store_bot_message(
        self,
        user: FakeUser,
        params: JSONDict,
        message: JSONDict,
        markup: JSONDict | None,
        kind: str,
    ) -> JSONDict:
        if markup is not None and "inline_keyboard" in markup:
            message["reply_markup"] = copy.deepcopy(markup)
        if markup is not None and "keyboard" in markup:
            user.keyboard = copy.deepcopy(markup)
        elif markup is not None and markup.get("remove_keyboard"):
            user.keyboard = None
        bot_message = BotMessage(
            message_id=int(message["message_id"]),
            chat_id=user.chat_id,
            text=message.get("text"),
            reply_markup=copy.deepcopy(markup),
            raw=message,
            caption=message.get("caption"),
            kind=kind,
            params=params,
        )
        self._bot_messages.setdefault(user.chat_id, []).append(bot_message)
        self._bot_by_id[(user.chat_id, bot_message.message_id)] = bot_message
        return copy.deepcopy(message)

    def _caption(self, params: JSONDict) -> str | None:
        caption = params.get("caption")
        if caption is None or caption == "":
            return None
        rendered = _render(str(caption), params.get("parse_mode"))
        if len(rendered) > 1024:
            raise _bad("message caption is too long")
        return rendered

    def _input_file(self, params: JSONDict, key: str, folder: str, ext: str) -> JSONDict:
        value = params.get(key)
        if isinstance(value, UploadedFile):
            meta = self._register_file(value.content, folder, ext)
            meta["_filename"] = value.filename
            meta["_mime_type"] = value.content_type
            return meta
        if isinstance(value, str) and value in self._file_meta:
            return dict(self._file_meta[value])
        if isinstance(value, str) and value.startswith(("http://", "https://")):
            return self._register_file(b"", folder, ext)
        if value is None or value == "":
            raise _bad(f"there is no {key} in the request")
        raise _bad("wrong file identifier/HTTP URL specified")

    def _find_bot_message(self, params: JSONDict, action: str) -> BotMessage:
        if params.get("inline_message_id"):
            raise _bad("MESSAGE_ID_INVALID")
        user = self._chat(params)
        key = (user.chat_id, _int(params, "message_id"))
        message = self._bot_by_id.get(key)
        if message is None and key in self._user_messages:
            raise _bad("message can't be edited")
        if message is None or message.deleted:
            raise _bad(f"message to {action} not found")
        return message

    def _apply_edit(
        self,
        message: BotMessage,
        method: str,
        params: JSONDict,
        *,
        text: str | None = None,
        caption: str | None = None,
        markup: JSONDict | None,
    ) -> JSONDict:
        if markup is not None and "inline_keyboard" not in markup:
            raise _bad("inline keyboard expected")
        before = message._state()
        after: JSONDict = {
            "text": text if message.kind == "text" else None,
            "caption": caption if message.kind != "text" else None,
            "reply_markup": markup,
        }
        if method == "editMessageReplyMarkup":
            after["text"], after["caption"] = message.text, message.caption
        if after == before:
            raise _bad(_NOT_MODIFIED.removeprefix("Bad Request: "))
        message.text, message.caption = after["text"], after["caption"]
        message.reply_markup = copy.deepcopy(markup)
        raw = message.raw
        for key in ("text", "caption"):
            if after[key] is None:
                raw.pop(key, None)
            else:
                raw[key] = after[key]
        if markup is None:
            raw.pop("reply_markup", None)
        else:
            raw["reply_markup"] = copy.deepcopy(markup)
        raw["edit_date"] = _now()
        message.edits.append(
            {"method": method, "params": params, "before": before, "after": message._state()}
        )
        return copy.deepcopy(raw)

    # --- HTTP ------------------------------------------------------------------------------

    async def _read_params(self, request: web.Request) -> JSONDict:
        params: JSONDict = {k: self._coerce(k, v) for k, v in request.query.items()}
        if request.method != "POST" or not request.body_exists:
            return params
        if request.content_type == "application/json":
            try:
                body = await request.json()
            except ValueError:
                raise _bad("can't parse JSON") from None
            if isinstance(body, dict):
                params.update(body)
            return params
        form = await request.post()
        uploads: dict[str, UploadedFile] = {}
        for key, value in form.items():
            if isinstance(value, web.FileField):
                uploads[key] = UploadedFile(value.filename, value.file.read(), value.content_type)
            elif isinstance(value, str):
                params[key] = self._coerce(key, value)
        for key, value in list(params.items()):
            if isinstance(value, str) and value.startswith("attach://"):
                name = value.removeprefix("attach://")
                if name in uploads:
                    params[key] = uploads.pop(name)
        params.update(uploads)
        return params

    @staticmethod
    def _coerce(key: str, value: str) -> Any:
        if key in _TEXT_PARAMS:
            return value
        try:
            return json.loads(value)
        except ValueError:
            return value

    @staticmethod
    def _json(body: JSONDict, status: int = 200) -> web.Response:
        return web.json_response(
            body, status=status, dumps=lambda o: json.dumps(o, ensure_ascii=False)
        )

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        if path.startswith("/file/bot"):
            return self._download(path.removeprefix("/file/bot"))
        if not path.startswith("/bot"):
            return self._json(_ApiError(404, "Not Found").envelope(), 404)
        token, _, method = path.removeprefix("/bot").partition("/")
        if token != self.token:
            return self._json(_ApiError(401, "Unauthorized").envelope(), 401)
        try:
            params = await self._read_params(request)
        except _ApiError as exc:
            return self._error(method, exc)
        self.calls.append((method, params))
        self._notify()
        handler = self._methods.get(method.lower())
        if handler is None:
            self.unknown_calls.append(method)
            return self._error(method, _ApiError(404, "Not Found"))
        failure = self._take_failure(method)
        if failure is not None:
            return self._error(method, failure)
        delays = self._delays.get(method.lower())
        if delays:
            await asyncio.sleep(delays.pop(0))  # cancelled if the client disconnects
        try:
            result = await handler(params)
        except _ApiError as exc:
            return self._error(method, exc)
        self._notify()
        return self._json({"ok": True, "result": result})

    def _error(self, method: str, exc: _ApiError) -> web.Response:
        body = exc.envelope()
        self.errors.append((method, body))
        self._notify()
        return self._json(body, exc.status)

    def _take_failure(self, method: str) -> _ApiError | None:
        queue = self._failures.get(method.lower())
        if not queue:
            return None
        failure = queue[0]
        failure.remaining -= 1
        if failure.remaining <= 0:
            queue.pop(0)
        parameters = {"retry_after": failure.retry_after} if failure.retry_after else None
        return _ApiError(failure.status, failure.description, parameters)

    def _download(self, rest: str) -> web.Response:
        token, _, file_path = rest.partition("/")
        if token == self.token:
            for file_id, path in self._file_paths.items():
                if path == file_path:
                    return web.Response(
                        body=self.files[file_id], content_type="application/octet-stream"
                    )
        return self._json(_ApiError(404, "Not Found").envelope(), 404)

    # --- webhook delivery ------------------------------------------------------------------

    def _start_delivery(self) -> None:
        if not self.deliver_webhooks or self._closing:
            return
        if self._delivery_task is None or self._delivery_task.done():
            self._delivery_task = asyncio.create_task(self._deliver_loop(), name="fake-webhook")
        self._delivery_wake.set()

    @staticmethod
    def _update_chat(update: JSONDict) -> object:
        for value in update.values():
            if isinstance(value, dict):
                chat = value.get("chat") or (value.get("message") or {}).get("chat")
                if isinstance(chat, dict):
                    return chat.get("id")
                sender = value.get("from")
                if isinstance(sender, dict):
                    return ("user", sender.get("id"))
        return ("update", update.get("update_id"))

    def _webhook_target(self) -> str:
        if self.webhook_targets:
            return self.webhook_targets[next(self._target_turn) % len(self.webhook_targets)]
        return str((self.webhook or {}).get("url", ""))

    async def _deliver_loop(self) -> None:
        tasks: dict[int, tuple[asyncio.Task[None], object]] = {}  # update_id -> (task, chat)
        timeout = aiohttp.ClientTimeout(total=60)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            try:
                while self.webhook and not self._closing:
                    self._delivery_wake.clear()
                    for update_id in [u for u, (task, _) in tasks.items() if task.done()]:
                        del tasks[update_id]
                    busy = {chat for _, chat in tasks.values()}
                    limit = int(self.webhook.get("max_connections") or 40)
                    for update in self._deliverable(100):
                        update_id = int(update["update_id"])
                        chat = self._update_chat(update)
                        if update_id in tasks or chat in busy:
                            busy.add(chat)  # later updates of this chat wait their turn
                            continue
                        if len(tasks) >= limit:
                            break
                        busy.add(chat)
                        task = asyncio.create_task(
                            self._deliver_one(session, update), name=f"deliver-{update_id}"
                        )
                        tasks[update_id] = (task, chat)
                    await self._delivery_wake.wait()
            finally:
                for task, _ in tasks.values():
                    task.cancel()
                await asyncio.gather(*(t for t, _ in tasks.values()), return_exceptions=True)

    async def _deliver_one(self, session: aiohttp.ClientSession, update: JSONDict) -> None:
        update_id = int(update["update_id"])
        try:
            while self.webhook and not self._closing:
                url = self._webhook_target()
                headers = {"Content-Type": "application/json"}
                secret = self.webhook.get("secret_token")
                if secret:
                    headers[WEBHOOK_SECRET_HEADER] = str(secret)
                try:
                    async with session.post(url, data=json.dumps(update), headers=headers) as r:
                        status = r.status
                except (aiohttp.ClientError, TimeoutError):
                    status = 0
                self.webhook_deliveries.append(WebhookDelivery(update_id, url, status))
                if 200 <= status < 300:
                    self._updates = [u for u in self._updates if u["update_id"] != update_id]
                    self._notify()
                    return
                await asyncio.sleep(self.webhook_retry_s)
        finally:
            self._delivery_wake.set()

    # --- Bot API methods -------------------------------------------------------------------

    async def _true(self, params: JSONDict) -> bool:
        return True

    async def _get_me(self, params: JSONDict) -> JSONDict:
        return {
            **self.bot_user,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    def _confirm(self, offset: int) -> None:
        if offset > 0:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        elif offset < 0:
            self._updates = self._updates[offset:]

    def _deliverable(self, limit: int) -> list[JSONDict]:
        if self.allowed_updates:
            allowed = set(self.allowed_updates)
            self._updates = [
                u for u in self._updates if not (set(u) - {"update_id"}).isdisjoint(allowed)
            ]
        return copy.deepcopy(self._updates[:limit])

    async def _get_updates(self, params: JSONDict) -> list[JSONDict]:
        if self.webhook:
            raise _ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is "
                "active; use deleteWebhook to delete the webhook first",
            )
        offset = _int(params, "offset", 0)
        limit = min(max(_int(params, "limit", 100), 1), 100)
        timeout = max(float(params.get("timeout") or 0), 0.0)
        allowed = params.get("allowed_updates")
        if isinstance(allowed, list):
            self.allowed_updates = [str(a) for a in allowed]
        self._confirm(offset)
        self._wake_poller("conflict")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            ready = self._deliverable(limit)
            remaining = deadline - loop.time()
            if ready or self._closing or remaining <= 0:
                return ready
            waiter: asyncio.Future[str] = loop.create_future()
            self._poller = waiter
            try:
                reason = await asyncio.wait_for(waiter, remaining)
            except TimeoutError:
                return []
            finally:
                if self._poller is waiter:
                    self._poller = None
            if reason == "conflict":
                raise _ApiError(
                    409,
                    "Conflict: terminated by other getUpdates request; make "
                    "sure that only one bot instance is running",
                )

    async def _set_webhook(self, params: JSONDict) -> bool:
        url = params.get("url")
        if not url:
            self.webhook = None
            return True
        self.webhook = dict(params)
        if isinstance(params.get("allowed_updates"), list):
            self.allowed_updates = list(params["allowed_updates"])
        if params.get("drop_pending_updates"):
            self._updates.clear()
        self._wake_poller("conflict")
        self._start_delivery()
        return True

    async def _delete_webhook(self, params: JSONDict) -> bool:
        self.webhook = None
        if params.get("drop_pending_updates"):
            self._updates.clear()
        return True

    async def _get_webhook_info(self, params: JSONDict) -> JSONDict:
        info: JSONDict = {
            "url": (self.webhook or {}).get("url", ""),
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }
        if self.webhook and self.allowed_updates is not None:
            info["allowed_updates"] = list(self.allowed_updates)
        return info

    async def _send_message(self, params: JSONDict) -> JSONDict:
        user = self._chat(params)
        text = params.get("text")
        if not isinstance(text, str) or not text.strip():
            raise _bad("message text is empty")
        rendered = _render(text, params.get("parse_mode"))
        if not rendered.strip():
            raise _bad("message text is empty")
        if _utf16_len(rendered) > 4096:
            raise _bad("message is too long")
        markup = _check_markup(params.get("reply_markup"))
        reply_to = self._reply_to(user, params)
        message = self._new_message(user, self.bot_user)
        message["text"] = rendered
        if reply_to is not None:
            message["reply_to_message"] = reply_to
        return self._store_bot_message(user, params, message, markup, "text")

    async def _send_photo(self, params: JSONDict) -> JSONDict:
        user = self._chat(params)
        caption = self._caption(params)
        markup = _check_markup(params.get("reply_markup"))
        reply_to = self._reply_to(user, params)
        photo = params.get("photo")
        if isinstance(photo, UploadedFile):
            sizes = self._photo_sizes(photo.content)
        else:
            meta = self._input_file(params, "photo", "photos", "jpg")
            sizes = [
                {k: v for k, v in meta.items() if not k.startswith("_")}
                | {"width": 1280, "height": 960}
            ]
        message = self._new_message(user, self.bot_user)
        message["photo"] = sizes
        if caption is not None:
            message["caption"] = caption
        if reply_to is not None:
            message["reply_to_message"] = reply_to
        return self._store_bot_message(user, params, message, markup, "photo")

    async def _send_document(self, params: JSONDict) -> JSONDict:
        user = self._chat(params)
        caption = self._caption(params)
        markup = _check_markup(params.get("reply_markup"))
        reply_to = self._reply_to(user, params)
        meta = self._input_file(params, "document", "documents", "bin")
        filename = meta.pop("_filename", None)
        mime = meta.pop("_mime_type", None)
        document: JSONDict = dict(meta)
        if filename:
            document["file_name"] = filename
        if mime:
            document["mime_type"] = mime
        message = self._new_message(user, self.bot_user)
        message["document"] = document
        if caption is not None:
            message["caption"] = caption
        if reply_to is not None:
            message["reply_to_message"] = reply_to
        return self._store_bot_message(user, params, message, markup, "document")

    async def _edit_message_text(self, params: JSONDict) -> JSONDict:
        message = self._find_bot_message(params, "edit")
        if message.kind != "text":
            raise _bad("there is no text in the message to edit")
        text = params.get("text")
        if not isinstance(text, str) or not text.strip():
            raise _bad("message text is empty")
        rendered = _render(text, params.get("parse_mode"))
        if _utf16_len(rendered) > 4096:
            raise _bad("MESSAGE_TOO_LONG")
        markup = _check_markup(params.get("reply_markup"))
        return self._apply_edit(message, "editMessageText", params, text=rendered, markup=markup)

    async def _edit_message_caption(self, params: JSONDict) -> JSONDict:
        message = self._find_bot_message(params, "edit")
        if message.kind == "text":
            raise _bad("there is no caption in the message to edit")
        markup = _check_markup(params.get("reply_markup"))
        return self._apply_edit(
            message, "editMessageCaption", params, caption=self._caption(params), markup=markup
        )

    async def _edit_message_reply_markup(self, params: JSONDict) -> JSONDict:
        message = self._find_bot_message(params, "edit")
        markup = _check_markup(params.get("reply_markup"))
        return self._apply_edit(message, "editMessageReplyMarkup", params, markup=markup)

    async def _delete_message(self, params: JSONDict) -> bool:
        user = self._chat(params)
        key = (user.chat_id, _int(params, "message_id"))
        bot_message = self._bot_by_id.get(key)
        if bot_message is not None and not bot_message.deleted:
            bot_message.deleted = True
            return True
        if key in self._user_messages and key not in self._deleted_user_messages:
            self._deleted_user_messages.add(key)
            return True
        raise _bad("message to delete not found")

    async def _answer_callback_query(self, params: JSONDict) -> bool:
        query_id = str(params.get("callback_query_id") or "")
        if query_id not in self._queries or query_id in self._answered:
            raise _bad("query is too old and response timeout expired or query ID is invalid")
        self._answered.add(query_id)
        self._answers.append((self._queries[query_id], params))
        return True

    async def _send_chat_action(self, params: JSONDict) -> bool:
        self._chat(params)
        if not params.get("action"):
            raise _bad("action is empty")
        return True

    async def _get_file(self, params: JSONDict) -> JSONDict:
        file_id = str(params.get("file_id") or "")
        meta = self._file_meta.get(file_id)
        if meta is None:
            raise _bad("invalid file_id")
        if int(meta["file_size"]) > 20 * 1024 * 1024:
            raise _bad("file is too big")
        return {**meta, "file_path": self._file_paths[file_id]}

    @staticmethod
    def _scope_key(params: JSONDict) -> str | None:
        scope = params.get("scope")
        if not scope or (isinstance(scope, dict) and scope.get("type") == "default"):
            return None
        return json.dumps(scope, sort_keys=True)

    async def _set_my_commands(self, params: JSONDict) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list):
            raise _bad('parameter "commands" is required')
        for command in commands:
            if not isinstance(command, dict) or not _COMMAND_RE.match(str(command.get("command"))):
                raise _bad("BOT_COMMAND_INVALID")
            if not 1 <= len(str(command.get("description") or "")) <= 256:
                raise _bad("BOT_COMMAND_DESCRIPTION_INVALID")
        language = params.get("language_code") or None
        scope = self._scope_key(params)
        if not commands:
            return await self._delete_my_commands(params)
        if scope is None:
            self.commands[language] = copy.deepcopy(commands)
        else:
            self.scoped_commands[(scope, language)] = copy.deepcopy(commands)
        return True

    async def _delete_my_commands(self, params: JSONDict) -> bool:
        language = params.get("language_code") or None
        scope = self._scope_key(params)
        if scope is None:
            self.commands.pop(language, None)
        else:
            self.scoped_commands.pop((scope, language), None)
        return True

    async def _get_my_commands(self, params: JSONDict) -> list[JSONDict]:
        language = params.get("language_code") or None
        scope = self._scope_key(params)
        if scope is None:
            return copy.deepcopy(self.commands.get(language, []))
        return copy.deepcopy(self.scoped_commands.get((scope, language), []))
