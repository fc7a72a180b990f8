"""The fake Bot API server: a real aiohttp server on 127.0.0.1 that reads Bot API calls
(query string, JSON or multipart forms with uploads), records them, answers them with the
method handlers in Bot API envelopes, serves file downloads, and lets tests inject
failures and delays and create the users that talk to the bot."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from tests.fakes.telegram.methods import BotApiMethods
from tests.fakes.telegram.protocol import ApiError, JSONDict, bad
from tests.fakes.telegram.state import UploadedFile
from tests.fakes.telegram.users import FakeGroupMember, FakeUser

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


@dataclass
class _Failure:
    """An error injected by ``fail_next``: answered ``remaining`` more times."""

    status: int
    description: str
    retry_after: int | None
    remaining: int


class FakeTelegram(BotApiMethods):
    """A fake Bot API server for one bot token."""

    def __init__(
        self, token: str = "123456:TEST-TOKEN", bot_username: str = "resident_orders_bot"
    ) -> None:
        super().__init__(token, bot_username)
        self._failures: dict[str, list[_Failure]] = {}
        self._delays: dict[str, list[float]] = {}
        self._runner: web.AppRunner | None = None
        self._port: int | None = None

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
        await self._stop_delivery()
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
        """The server's root url (Bot API under /bot<token>, files under /file/bot<token>)."""
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

    # --- HTTP ------------------------------------------------------------------------------

    async def _read_params(self, request: web.Request) -> JSONDict:
        """A call's parameters: query string, then JSON body or form fields and uploads."""
        params: JSONDict = {k: self._coerce(k, v) for k, v in request.query.items()}
        if request.method != "POST" or not request.body_exists:
            return params
        if request.content_type == "application/json":
            try:
                body = await request.json()
            except ValueError:
                raise bad("can't parse JSON") from None
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
        """A form value as PTB meant it: plain text parameters as-is, others JSON-decoded."""
        if key in _TEXT_PARAMS:
            return value
        try:
            return json.loads(value)
        except ValueError:
            return value

    @staticmethod
    def _json(body: JSONDict, status: int = 200) -> web.Response:
        """A JSON response, non-ASCII kept as-is like Telegram's."""
        return web.json_response(
            body, status=status, dumps=lambda o: json.dumps(o, ensure_ascii=False)
        )

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        """Answer one HTTP request: a file download or a Bot API call."""
        path = request.path
        if path.startswith("/file/bot"):
            return self._download(path.removeprefix("/file/bot"))
        if not path.startswith("/bot"):
            return self._json(ApiError(404, "Not Found").envelope(), 404)
        token, _, method = path.removeprefix("/bot").partition("/")
        if token != self.token:
            return self._json(ApiError(401, "Unauthorized").envelope(), 401)
        try:
            params = await self._read_params(request)
        except ApiError as exc:
            return self._error(method, exc)
        self.calls.append((method, params))
        self._notify()
        handler = self._methods.get(method.lower())
        if handler is None:
            self.unknown_calls.append(method)
            return self._error(method, ApiError(404, "Not Found"))
        failure = self._take_failure(method)
        if failure is not None:
            return self._error(method, failure)
        delays = self._delays.get(method.lower())
        if delays:
            await asyncio.sleep(delays.pop(0))  # cancelled if the client disconnects
        try:
            result = await handler(params)
        except ApiError as exc:
            return self._error(method, exc)
        self._notify()
        return self._json({"ok": True, "result": result})

    def _error(self, method: str, exc: ApiError) -> web.Response:
        """Answer a call with an error envelope (and record it in ``errors``)."""
        body = exc.envelope()
        self.errors.append((method, body))
        self._notify()
        return self._json(body, exc.status)

    def _take_failure(self, method: str) -> ApiError | None:
        """The injected failure for this call of ``method``, if one is queued."""
        queue = self._failures.get(method.lower())
        if not queue:
            return None
        failure = queue[0]
        failure.remaining -= 1
        if failure.remaining <= 0:
            queue.pop(0)
        parameters = {"retry_after": failure.retry_after} if failure.retry_after else None
        return ApiError(failure.status, failure.description, parameters)

    def _download(self, rest: str) -> web.Response:
        """Serve a file by the file_path getFile gave."""
        token, _, file_path = rest.partition("/")
        if token == self.token:
            for file_id, path in self._file_paths.items():
                if path == file_path:
                    return web.Response(
                        body=self.files[file_id], content_type="application/octet-stream"
                    )
        return self._json(ApiError(404, "Not Found").envelope(), 404)
