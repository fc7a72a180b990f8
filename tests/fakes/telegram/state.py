"""What the fake Telegram holds: chats and their users, the messages on both sides, the
queue of updates not yet confirmed, uploaded and downloadable files, the record of calls,
and the waiting helpers tests use to watch it change."""

# The test-side waiting helpers take explicit ``timeout`` arguments by design.
# ruff: noqa: ASYNC109

from __future__ import annotations

import asyncio
import copy
import itertools
import random
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tests.fakes.telegram.markup import render
from tests.fakes.telegram.protocol import ApiError, JSONDict, bad, int_param, now

if TYPE_CHECKING:
    from tests.fakes.telegram.users import FakeUser

_NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup "
    "are exactly the same as a content and reply markup of the current message"
)


@dataclass
class UploadedFile:
    """A file the bot uploaded in a multipart request (as it appears in ``calls``)."""

    filename: str | None
    content: bytes
    content_type: str | None


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


def image_size(content: bytes) -> tuple[int, int]:
    """Width and height of a PNG or JPEG (1280x960 when unknown)."""
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


class ChatState:
    """The fake's state for one bot token, and the helpers the Bot API methods and the
    user drivers share to read and change it."""

    def __init__(self, token: str, bot_username: str) -> None:
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
        self._answers: list[tuple[int, JSONDict]] = []
        self._query_ids = itertools.count(4_300_000_000_000_000_001)
        self._updates: list[JSONDict] = []
        # Like Telegram's, update ids go on from a point of their own: a restarted fake
        # does not repeat the ids a webhook worker has already claimed (bot/dedupe.py).
        self._update_ids = itertools.count(random.randrange(100_000_001, 900_000_001, 1000))
        self._poller: asyncio.Future[str] | None = None
        self._changed = asyncio.Event()
        self._delivery_wake = asyncio.Event()  # set on every new update (webhook delivery)
        self._closing = False

    # --- test-side API ---------------------------------------------------------------------

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
        """Wake everything waiting for a change (API calls, updates, edits)."""
        self._changed.set()
        self._changed = asyncio.Event()

    async def _wait_change(self, seconds: float) -> None:
        """Wait up to ``seconds`` for the next change."""
        event = self._changed
        try:
            await asyncio.wait_for(event.wait(), seconds)
        except TimeoutError:
            pass

    def _wake_poller(self, reason: str) -> None:
        """End a pending long poll ("update", "conflict" or "closing")."""
        if self._poller is not None and not self._poller.done():
            self._poller.set_result(reason)

    def _push_update(self, content: JSONDict) -> None:
        """Queue an update for getUpdates or webhook delivery."""
        self._updates.append({"update_id": next(self._update_ids), **content})
        self._wake_poller("update")
        self._delivery_wake.set()
        self._notify()

    def _new_message(self, user: FakeUser, sender: JSONDict) -> JSONDict:
        """A new Message object in the user's chat, sent by ``sender``."""
        ids = self._message_ids.setdefault(user.chat_id, itertools.count(1))
        return {
            "message_id": next(ids),
            "from": copy.deepcopy(sender),
            "chat": user.as_chat(),
            "date": now(),
        }

    def _register_file(self, content: bytes, folder: str, ext: str) -> JSONDict:
        """Store a downloadable file; returns its file_id/file_unique_id/file_size."""
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
        width, height = image_size(content)
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
        """The chat the call addresses (400 "chat not found", 403 when blocked)."""
        if "chat_id" not in params or params["chat_id"] in (None, ""):
            raise bad("chat_id is empty")
        try:
            chat_id = int(params["chat_id"])
        except (TypeError, ValueError):
            raise bad("chat not found") from None
        user = self._users.get(chat_id)
        if user is None:
            raise bad("chat not found")
        if user.blocked:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        return user

    def _reply_to(self, user: FakeUser, params: JSONDict) -> JSONDict | None:
        """The message a send replies to, if any (reply_parameters or reply_to_message_id)."""
        reply = params.get("reply_parameters")
        if isinstance(reply, dict):
            message_id, allow = reply.get("message_id"), reply.get("allow_sending_without_reply")
        elif params.get("reply_to_message_id") is not None:
            message_id = params["reply_to_message_id"]
            allow = params.get("allow_sending_without_reply")
        else:
            return None
        key = (user.chat_id, int_param({"message_id": message_id}, "message_id"))
        original = self._user_messages.get(key)
        if original is None and key in self._bot_by_id:
            original = self._bot_by_id[key].raw
        if original is None or key in self._deleted_user_messages:
            if allow:
                return None
            raise bad("message to be replied not found")
        return copy.deepcopy(original)

    def _store_bot_message(
        self,
        user: FakeUser,
        params: JSONDict,
        message: JSONDict,
        markup: JSONDict | None,
        kind: str,
    ) -> JSONDict:
        """Record a message the bot sent; returns the Message object for the bot."""
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
        """The rendered caption of a media send or edit (None: no caption)."""
        caption = params.get("caption")
        if caption is None or caption == "":
            return None
        rendered = render(str(caption), params.get("parse_mode"))
        if len(rendered) > 1024:
            raise bad("message caption is too long")
        return rendered

    def _input_file(self, params: JSONDict, key: str, folder: str, ext: str) -> JSONDict:
        """File metadata for an upload, a known file_id or an HTTP URL."""
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
            raise bad(f"there is no {key} in the request")
        raise bad("wrong file identifier/HTTP URL specified")

    def _find_bot_message(self, params: JSONDict, action: str) -> BotMessage:
        """The bot message an edit or delete addresses."""
        if params.get("inline_message_id"):
            raise bad("MESSAGE_ID_INVALID")
        user = self._chat(params)
        key = (user.chat_id, int_param(params, "message_id"))
        message = self._bot_by_id.get(key)
        if message is None and key in self._user_messages:
            raise bad("message can't be edited")
        if message is None or message.deleted:
            raise bad(f"message to {action} not found")
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
        """Apply an edit to a bot message (400 when nothing changes); returns the Message."""
        if markup is not None and "inline_keyboard" not in markup:
            raise bad("inline keyboard expected")
        before = message._state()
        after: JSONDict = {
            "text": text if message.kind == "text" else None,
            "caption": caption if message.kind != "text" else None,
            "reply_markup": markup,
        }
        if method == "editMessageReplyMarkup":
            after["text"], after["caption"] = message.text, message.caption
        if after == before:
            raise bad(_NOT_MODIFIED.removeprefix("Bad Request: "))
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
        raw["edit_date"] = now()
        message.edits.append(
            {"method": method, "params": params, "before": before, "after": message._state()}
        )
        return copy.deepcopy(raw)

    def _deliverable(self, limit: int) -> list[JSONDict]:
        """The first ``limit`` pending updates of the allowed types."""
        if self.allowed_updates:
            allowed = set(self.allowed_updates)
            self._updates = [
                u for u in self._updates if not (set(u) - {"update_id"}).isdisjoint(allowed)
            ]
        return copy.deepcopy(self._updates[:limit])
