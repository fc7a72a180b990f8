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

The package, one module per idea: ``protocol`` (envelopes, parameter checks), ``markup``
(parse modes and reply markup), ``state`` (chats, messages, updates, files), ``users``
(drivers acting as Telegram users), ``webhook`` (webhook delivery), ``methods`` (the Bot
API methods) and ``server`` (the aiohttp server, failure injection, the ``FakeTelegram``
tests use).
"""

from tests.fakes.telegram.protocol import JSONDict
from tests.fakes.telegram.server import FakeTelegram
from tests.fakes.telegram.state import BotMessage
from tests.fakes.telegram.users import FakeUser

__all__ = ["BotMessage", "FakeTelegram", "FakeUser", "JSONDict"]
