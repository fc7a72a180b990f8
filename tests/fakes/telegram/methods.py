"""The Bot API methods the fake implements, as handlers from a call's parameters to its
result (or an ``ApiError``): getMe, getUpdates and the webhook methods, sending, editing
and deleting messages, callback answers, chat actions, files and the command menus."""

from __future__ import annotations

import asyncio
import copy
import json
import re
from collections.abc import Awaitable, Callable
from typing import Any

from tests.fakes.telegram.markup import check_markup, render
from tests.fakes.telegram.protocol import ApiError, JSONDict, bad, int_param, utf16_len
from tests.fakes.telegram.state import UploadedFile
from tests.fakes.telegram.webhook import WebhookSender

_COMMAND_RE = re.compile(r"^[a-z0-9_]{1,32}$")


class BotApiMethods(WebhookSender):
    """The fake's state and webhook delivery, plus the Bot API methods over them."""

    def __init__(self, token: str, bot_username: str) -> None:
        super().__init__(token, bot_username)
        self.commands: dict[str | None, list[dict[str, Any]]] = {}
        self.scoped_commands: dict[tuple[str, str | None], list[dict[str, Any]]] = {}
        self._answered: set[str] = set()
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

    async def _true(self, params: JSONDict) -> bool:
        """close / logOut: accepted, nothing to do."""
        return True

    async def _get_me(self, params: JSONDict) -> JSONDict:
        """getMe: the bot's User with its capabilities."""
        return {
            **self.bot_user,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    def _confirm(self, offset: int) -> None:
        """Drop the updates getUpdates' offset confirms."""
        if offset > 0:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        elif offset < 0:
            self._updates = self._updates[offset:]

    async def _get_updates(self, params: JSONDict) -> list[JSONDict]:
        """getUpdates: confirm by offset, then long-poll; a newer poll ends this one (409)."""
        if self.webhook:
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is "
                "active; use deleteWebhook to delete the webhook first",
            )
        offset = int_param(params, "offset", 0)
        limit = min(max(int_param(params, "limit", 100), 1), 100)
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
                raise ApiError(
                    409,
                    "Conflict: terminated by other getUpdates request; make "
                    "sure that only one bot instance is running",
                )

    async def _set_webhook(self, params: JSONDict) -> bool:
        """setWebhook: set (or with no url, remove) the webhook; ends long polling."""
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
        """deleteWebhook."""
        self.webhook = None
        if params.get("drop_pending_updates"):
            self._updates.clear()
        return True

    async def _get_webhook_info(self, params: JSONDict) -> JSONDict:
        """getWebhookInfo."""
        info: JSONDict = {
            "url": (self.webhook or {}).get("url", ""),
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }
        if self.webhook and self.allowed_updates is not None:
            info["allowed_updates"] = list(self.allowed_updates)
        return info

    async def _send_message(self, params: JSONDict) -> JSONDict:
        """sendMessage."""
        user = self._chat(params)
        text = params.get("text")
        if not isinstance(text, str) or not text.strip():
            raise bad("message text is empty")
        rendered = render(text, params.get("parse_mode"))
        if not rendered.strip():
            raise bad("message text is empty")
        if utf16_len(rendered) > 4096:
            raise bad("message is too long")
        markup = check_markup(params.get("reply_markup"))
        reply_to = self._reply_to(user, params)
        message = self._new_message(user, self.bot_user)
        message["text"] = rendered
        if reply_to is not None:
            message["reply_to_message"] = reply_to
        return self._store_bot_message(user, params, message, markup, "text")

    async def _send_photo(self, params: JSONDict) -> JSONDict:
        """sendPhoto: an upload gets Telegram's PhotoSize array."""
        user = self._chat(params)
        caption = self._caption(params)
        markup = check_markup(params.get("reply_markup"))
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
        """sendDocument."""
        user = self._chat(params)
        caption = self._caption(params)
        markup = check_markup(params.get("reply_markup"))
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
        """editMessageText."""
        message = self._find_bot_message(params, "edit")
        if message.kind != "text":
            raise bad("there is no text in the message to edit")
        text = params.get("text")
        if not isinstance(text, str) or not text.strip():
            raise bad("message text is empty")
        rendered = render(text, params.get("parse_mode"))
        if utf16_len(rendered) > 4096:
            raise bad("MESSAGE_TOO_LONG")
        markup = check_markup(params.get("reply_markup"))
        return self._apply_edit(message, "editMessageText", params, text=rendered, markup=markup)

    async def _edit_message_caption(self, params: JSONDict) -> JSONDict:
        """editMessageCaption."""
        message = self._find_bot_message(params, "edit")
        if message.kind == "text":
            raise bad("there is no caption in the message to edit")
        markup = check_markup(params.get("reply_markup"))
        return self._apply_edit(
            message, "editMessageCaption", params, caption=self._caption(params), markup=markup
        )

    async def _edit_message_reply_markup(self, params: JSONDict) -> JSONDict:
        """editMessageReplyMarkup."""
        message = self._find_bot_message(params, "edit")
        markup = check_markup(params.get("reply_markup"))
        return self._apply_edit(message, "editMessageReplyMarkup", params, markup=markup)

    async def _delete_message(self, params: JSONDict) -> bool:
        """deleteMessage: a bot message or a user's one."""
        user = self._chat(params)
        key = (user.chat_id, int_param(params, "message_id"))
        bot_message = self._bot_by_id.get(key)
        if bot_message is not None and not bot_message.deleted:
            bot_message.deleted = True
            return True
        if key in self._user_messages and key not in self._deleted_user_messages:
            self._deleted_user_messages.add(key)
            return True
        raise bad("message to delete not found")

    async def _answer_callback_query(self, params: JSONDict) -> bool:
        """answerCallbackQuery: each query can be answered once."""
        query_id = str(params.get("callback_query_id") or "")
        if query_id not in self._queries or query_id in self._answered:
            raise bad("query is too old and response timeout expired or query ID is invalid")
        self._answered.add(query_id)
        self._answers.append((self._queries[query_id], params))
        return True

    async def _send_chat_action(self, params: JSONDict) -> bool:
        """sendChatAction."""
        self._chat(params)
        if not params.get("action"):
            raise bad("action is empty")
        return True

    async def _get_file(self, params: JSONDict) -> JSONDict:
        """getFile: the file_path to download from (files up to 20 MB)."""
        file_id = str(params.get("file_id") or "")
        meta = self._file_meta.get(file_id)
        if meta is None:
            raise bad("invalid file_id")
        if int(meta["file_size"]) > 20 * 1024 * 1024:
            raise bad("file is too big")
        return {**meta, "file_path": self._file_paths[file_id]}

    @staticmethod
    def _scope_key(params: JSONDict) -> str | None:
        """The key of a non-default BotCommandScope (None: the default scope)."""
        scope = params.get("scope")
        if not scope or (isinstance(scope, dict) and scope.get("type") == "default"):
            return None
        return json.dumps(scope, sort_keys=True)

    async def _set_my_commands(self, params: JSONDict) -> bool:
        """setMyCommands, per scope and language (an empty list deletes)."""
        commands = params.get("commands")
        if not isinstance(commands, list):
            raise bad('parameter "commands" is required')
        for command in commands:
            if not isinstance(command, dict) or not _COMMAND_RE.match(str(command.get("command"))):
                raise bad("BOT_COMMAND_INVALID")
            if not 1 <= len(str(command.get("description") or "")) <= 256:
                raise bad("BOT_COMMAND_DESCRIPTION_INVALID")
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
        """deleteMyCommands."""
        language = params.get("language_code") or None
        scope = self._scope_key(params)
        if scope is None:
            self.commands.pop(language, None)
        else:
            self.scoped_commands.pop((scope, language), None)
        return True

    async def _get_my_commands(self, params: JSONDict) -> list[JSONDict]:
        """getMyCommands."""
        language = params.get("language_code") or None
        scope = self._scope_key(params)
        if scope is None:
            return copy.deepcopy(self.commands.get(language, []))
        return copy.deepcopy(self.scoped_commands.get((scope, language), []))
