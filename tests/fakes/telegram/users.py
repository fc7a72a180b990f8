"""Drivers that act as Telegram users: a user in a private chat sends text, a location,
a contact, a photo, a sticker or a voice note, presses inline buttons, and waits for what
the bot sends; a group member does the same in a group chat."""

# The test-side waiting helpers take explicit ``timeout`` arguments by design.
# ruff: noqa: ASYNC109

from __future__ import annotations

import asyncio
import copy
from typing import Any

from tests.fakes.telegram.protocol import JSONDict, utf16_len
from tests.fakes.telegram.state import BotMessage, ChatState


class FakeUser:
    """A Telegram user talking to the bot in a private chat (chat id == user id)."""

    def __init__(
        self,
        fake: ChatState,
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
        """The Bot API User object of this user."""
        user: JSONDict = {"id": self.user_id, "is_bot": False, "first_name": self.first_name}
        if self.username:
            user["username"] = self.username
        if self.language_code:
            user["language_code"] = self.language_code
        return user

    def as_chat(self) -> JSONDict:
        """The Bot API Chat object of the private chat."""
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
        """Send a text message (a leading /command gets its bot_command entity)."""
        fields: JSONDict = {"text": text}
        if text.startswith("/"):
            command = text.split(maxsplit=1)[0] if text.strip() else text
            fields["entities"] = [
                {"offset": 0, "length": utf16_len(command), "type": "bot_command"}
            ]
        return await self.send_raw(fields)

    async def send_location(self, latitude: float, longitude: float) -> int:
        """Share a location pin."""
        return await self.send_raw({"location": {"latitude": latitude, "longitude": longitude}})

    async def send_contact(
        self, phone_number: str, *, own: bool = True, first_name: str | None = None
    ) -> int:
        """Share a contact (``own``: the user's own, with their user_id)."""
        contact: JSONDict = {
            "phone_number": phone_number,
            "first_name": first_name or (self.first_name if own else "Contact"),
        }
        if own:
            contact["user_id"] = self.user_id
        return await self.send_raw({"contact": contact})

    async def send_photo(self, content: bytes, caption: str | None = None) -> int:
        """Send a photo (PhotoSize array like Telegram's) with an optional caption."""
        fields: JSONDict = {"photo": self._fake._photo_sizes(content)}
        if caption is not None:
            fields["caption"] = caption
        return await self.send_raw(fields)

    async def send_sticker(self) -> int:
        """Send a regular sticker."""
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
        """Send a voice note."""
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
        fake: ChatState,
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
        """The Bot API Chat object of the group."""
        return {"id": self.chat_id, "type": "group", "title": self.title}
