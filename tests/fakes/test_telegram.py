"""Tests of the fake Bot API, driven by a real python-telegram-bot Application."""

from __future__ import annotations

import asyncio
import struct
import time
import zlib
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from telegram import (
    BotCommand,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    Update,
)
from telegram.error import BadRequest, EndPointNotFound, Forbidden, InvalidToken, RetryAfter
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from tests.fakes.telegram import FakeTelegram

pytestmark = pytest.mark.timeout(60)

App = Application[Any, Any, Any, Any, Any, Any]


def _png(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    raw = b"".join(b"\x00" + b"\x00\x00\x00" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


# --- a tiny bot ------------------------------------------------------------------------------

errors: list[BaseException] = []


async def on_start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.effective_message is not None
    keyboard = InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton("Yes ✅", callback_data="yes"),
                InlineKeyboardButton("No", callback_data="no"),
            ]
        ]
    )
    await update.effective_message.reply_text(
        "<b>Hello</b> &amp; choose:", parse_mode="HTML", reply_markup=keyboard, do_quote=True
    )


async def on_phone(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.effective_message is not None
    keyboard = ReplyKeyboardMarkup(
        [[KeyboardButton("Share my phone", request_contact=True)]], one_time_keyboard=True
    )
    await update.effective_message.reply_text("Your phone?", reply_markup=keyboard)


async def on_file(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.effective_chat is not None
    chat_id = update.effective_chat.id
    await context.bot.send_chat_action(chat_id, "upload_document")
    sent = await context.bot.send_document(
        chat_id, b"order;1\n", filename="orders.csv", caption="Your orders"
    )
    assert sent.document is not None
    await context.bot.send_document(chat_id, sent.document.file_id, caption="again")
    await context.bot.send_photo(chat_id, _png(40, 30), caption="a picture")


async def on_callback(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    assert query is not None and query.message is not None
    assert query.chat_instance
    await query.answer(f"got {query.data}")
    await query.edit_message_text(f"You chose {query.data}")


async def on_photo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    message = update.message
    assert message is not None
    file = await message.photo[-1].get_file()
    data = await file.download_as_bytearray()
    await message.reply_text(
        f"photo {len(data)} bytes {message.photo[-1].width}x{message.photo[-1].height}"
        f" caption={message.caption}",
        do_quote=True,
    )


async def on_contact(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    message = update.message
    assert message is not None and message.contact is not None and message.from_user is not None
    own = message.contact.user_id == message.from_user.id
    await message.reply_text(
        f"contact {message.contact.phone_number} own={own}", reply_markup=ReplyKeyboardRemove()
    )


async def on_location(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    message = update.message
    assert message is not None and message.location is not None
    await message.reply_text(
        f"location {message.location.latitude:.4f},{message.location.longitude:.4f}",
    )


async def on_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.message is not None and update.message.text is not None
    await update.message.reply_text(f"echo: {update.message.text}")


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert context.error is not None
    errors.append(context.error)


# --- fixtures --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
async def fake() -> AsyncIterator[FakeTelegram]:
    server = FakeTelegram()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture(scope="module")
async def app(fake: FakeTelegram) -> AsyncIterator[App]:
    application = (
        ApplicationBuilder()
        .token(fake.token)
        .base_url(f"{fake.base_url}/bot")
        .base_file_url(f"{fake.base_url}/file/bot")
        .build()
    )
    application.add_handler(CommandHandler("start", on_start))
    application.add_handler(CommandHandler("phone", on_phone))
    application.add_handler(CommandHandler("file", on_file))
    application.add_handler(CallbackQueryHandler(on_callback))
    application.add_handler(MessageHandler(filters.PHOTO, on_photo))
    application.add_handler(MessageHandler(filters.CONTACT, on_contact))
    application.add_handler(MessageHandler(filters.LOCATION, on_location))
    application.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, on_text))
    application.add_error_handler(on_error)
    async with application:
        await application.start()
        assert application.updater is not None
        await application.updater.start_polling(poll_interval=0)
        yield application
        await application.updater.stop()
        await application.stop()


# --- PTB round trips -------------------------------------------------------------------------


async def test_get_me_and_bootstrap(fake: FakeTelegram, app: App) -> None:
    assert app.bot.username == "resident_orders_bot"
    assert app.bot.id == 123456
    await fake.wait_for_call("getUpdates", timeout=5)
    names = [name for name, _ in fake.calls]
    assert names[:3] == ["getMe", "deleteWebhook", "getUpdates"]


async def test_start_keyboard_callback_and_edit(fake: FakeTelegram, app: App) -> None:
    user = fake.user(1001, first_name="Li")
    sent_at = time.monotonic()
    await user.send_text("/start")
    [reply] = await user.wait_for_messages(timeout=5)
    # long polling hands the update over at once (the poll timeout is 10 s)
    assert time.monotonic() - sent_at < 2
    assert reply.text == "Hello & choose:"
    assert reply.params["parse_mode"] == "HTML"
    assert reply.buttons() == [("Yes ✅", "yes"), ("No", "no")]
    assert reply.button("Yes") == ("Yes ✅", "yes")
    assert reply.raw["from"]["is_bot"] is True
    assert reply.raw["chat"] == {"id": 1001, "type": "private", "first_name": "Li"}
    assert reply.raw["reply_to_message"]["text"] == "/start"
    assert isinstance(reply.raw["date"], int) and reply.raw["date"] < 10_000_000_000

    with pytest.raises(AssertionError, match="no button"):
        await user.press(reply, "maybe")
    query_id = await user.press(reply, reply.button("Yes")[1])
    await user.wait_for_edit(reply, timeout=5)
    assert reply.text == "You chose yes"
    assert reply.reply_markup is None  # editMessageText without reply_markup drops the keyboard
    assert reply.edits[0]["before"]["text"] == "Hello & choose:"
    assert user.answered_callbacks() == [{"callback_query_id": query_id, "text": "got yes"}]
    # editing is not a new message
    await user.assert_no_messages(0.1)


async def test_photo_download(fake: FakeTelegram, app: App) -> None:
    user = fake.user(1002)
    content = _png(1600, 1200)
    message_id = await user.send_photo(content, caption="broken tap")
    [reply] = await user.wait_for_messages(timeout=5)
    assert reply.text == f"photo {len(content)} bytes 1600x1200 caption=broken tap"
    assert reply.raw["reply_to_message"]["message_id"] == message_id
    assert content in fake.files.values()
    assert fake.calls_of("getFile")


async def test_contact_location_and_reply_keyboard(fake: FakeTelegram, app: App) -> None:
    user = fake.user(1003, language_code="en")
    await user.send_text("/phone")
    [ask] = await user.wait_for_messages(timeout=5)
    keyboard = ask.reply_keyboard()
    assert keyboard == [{"text": "Share my phone", "request_contact": True}]
    assert "reply_markup" not in ask.raw  # Telegram returns only inline keyboards
    assert user.keyboard is not None

    await user.send_contact("+8613800000000")
    await user.send_contact("+8613900000000", own=False)
    await user.send_location(31.2304, 121.4737)
    await user.send_text("hello")
    replies = await user.wait_for_messages(4, timeout=5)
    assert [m.text for m in replies] == [
        "contact +8613800000000 own=True",
        "contact +8613900000000 own=False",
        "location 31.2304,121.4737",
        "echo: hello",
    ]
    assert replies[0].reply_markup == {"remove_keyboard": True}
    assert user.keyboard is None
    assert len(user.inbox()) == 5
    # stickers and voice reach no handler here: nothing comes back
    await user.send_sticker()
    await user.send_voice()
    await user.assert_no_messages(0.2)
    with pytest.raises(AssertionError, match="expected 1 new bot message"):
        await user.wait_for_messages(timeout=0.1)


async def test_documents_and_bot_photos(fake: FakeTelegram, app: App) -> None:
    user = fake.user(1004)
    await user.send_text("/file")
    doc, again, photo = await user.wait_for_messages(3, timeout=5)
    assert doc.kind == "document" and doc.caption == "Your orders" and doc.text is None
    file_id = doc.raw["document"]["file_id"]
    assert doc.raw["document"]["file_name"] == "orders.csv"
    assert fake.files[file_id] == b"order;1\n"
    assert again.raw["document"]["file_id"] == file_id
    assert photo.kind == "photo" and photo.raw["photo"][-1]["width"] == 40
    assert fake.calls_of("sendChatAction")[-1]["action"] == "upload_document"
    # the bot can download what it sent
    tg_file = await app.bot.get_file(file_id)
    assert bytes(await tg_file.download_as_bytearray()) == b"order;1\n"


async def test_commands_per_language(fake: FakeTelegram, app: App) -> None:
    await app.bot.set_my_commands([BotCommand("start", "开始"), BotCommand("orders", "我的订单")])
    await app.bot.set_my_commands([BotCommand("start", "Start")], language_code="en")
    assert [c["command"] for c in fake.commands[None]] == ["start", "orders"]
    assert fake.commands["en"] == [{"command": "start", "description": "Start"}]
    got = await app.bot.get_my_commands(language_code="en")
    assert [(c.command, c.description) for c in got] == [("start", "Start")]
    with pytest.raises(BadRequest, match=r"(?i)bot_command_invalid"):
        await app.bot.set_my_commands([BotCommand("Bad-Command", "x")])
    await app.bot.delete_my_commands(language_code="en")
    assert "en" not in fake.commands


async def test_errors_seen_by_ptb(
    fake: FakeTelegram,
    app: App,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # PTB 22 warns (PTBDeprecationWarning) when building RetryAfter unless PTB_TIMEDELTA is set
    monkeypatch.setenv("PTB_TIMEDELTA", "true")
    user = fake.user(1005)
    fake.fail_next(
        "sendMessage", status=429, description="Too Many Requests: retry after 1", retry_after=1
    )
    errors.clear()
    await user.send_text("/start")
    await fake.wait_until(lambda: bool(errors), timeout=5, what="error handler")
    assert isinstance(errors[0], RetryAfter)
    assert errors[0].retry_after.total_seconds() == 1  # type: ignore[union-attr]
    assert fake.errors[-1] == (
        "sendMessage",
        {
            "ok": False,
            "error_code": 429,
            "description": "Too Many Requests: retry after 1",
            "parameters": {"retry_after": 1},
        },
    )
    assert user.inbox() == []
    # the next call goes through
    await user.send_text("/start")
    await user.wait_for_messages(timeout=5)

    fake.fail_next("sendMessage", status=403, description="Forbidden: bot was blocked by the user")
    with pytest.raises(Forbidden, match="blocked"):
        await app.bot.send_message(user.chat_id, "hi")
    fake.fail_next("sendMessage", status=500, description="Internal Server Error", times=2)
    for _ in range(2):
        with pytest.raises(Exception, match="Internal Server Error"):
            await app.bot.send_message(user.chat_id, "hi")
    await app.bot.send_message(user.chat_id, "hi")
    user.blocked = True
    with pytest.raises(Forbidden):
        await app.bot.send_message(user.chat_id, "hi")
    user.blocked = False
    with pytest.raises(BadRequest, match=r"[Cc]hat not found"):
        await app.bot.send_message(999, "hi")
    with pytest.raises(BadRequest, match="parse entities"):
        await app.bot.send_message(user.chat_id, "1 < 2", parse_mode="HTML")
    with pytest.raises(BadRequest, match="reserved"):
        await app.bot.send_message(user.chat_id, "Total: 5.", parse_mode="MarkdownV2")
    sent = await app.bot.send_message(user.chat_id, r"*Total*: 5\.", parse_mode="MarkdownV2")
    assert sent.text == "Total: 5."
    with pytest.raises(BadRequest, match="not modified"):
        await app.bot.edit_message_text(
            "Total: 5.", chat_id=user.chat_id, message_id=sent.message_id
        )
    assert await app.bot.delete_message(user.chat_id, sent.message_id)
    with pytest.raises(BadRequest, match="not found"):
        await app.bot.delete_message(user.chat_id, sent.message_id)


async def test_unknown_methods_recorded(fake: FakeTelegram, app: App) -> None:
    user = fake.user(1006)
    with pytest.raises(EndPointNotFound):
        await app.bot.do_api_request("frobnicate")
    with pytest.raises(InvalidToken, match="Not Found"):
        await app.bot.send_location(user.chat_id, latitude=1.0, longitude=2.0)
    assert fake.unknown_calls[-2:] == ["frobnicate", "sendLocation"]


# --- the HTTP protocol directly --------------------------------------------------------------


async def test_get_updates_protocol() -> None:
    fake = FakeTelegram(token="42:abc")
    await fake.start()
    try:
        url = f"{fake.base_url}/bot42:abc"
        async with aiohttp.ClientSession() as http:

            async def call(method: str, **params: Any) -> Any:
                async with http.post(f"{url}/{method}", json=params) as response:
                    return response.status, await response.json()

            user = fake.user(7)
            for text in ("a", "b", "c"):
                await user.send_text(text)
            status, body = await call("getUpdates")
            assert status == 200 and body["ok"]
            first = [u["update_id"] for u in body["result"]]
            assert len(first) == 3 and first == sorted(first)
            # not confirmed yet: delivered again; then confirm two of them
            _, body = await call("getUpdates", limit=1)
            assert [u["update_id"] for u in body["result"]] == first[:1]
            _, body = await call("getUpdates", offset=first[2])
            assert [u["message"]["text"] for u in body["result"]] == ["c"]
            _, body = await call("getUpdates", offset=first[2] + 1, timeout=0)
            assert body["result"] == []
            # long polling: empty after the timeout, at once when an update arrives
            started = time.monotonic()
            _, body = await call("getUpdates", offset=first[2] + 1, timeout=0.3)
            assert body["result"] == [] and time.monotonic() - started >= 0.25

            async def later() -> None:
                await asyncio.sleep(0.1)
                await user.send_location(1.5, 2.5)

            task = asyncio.create_task(later())
            started = time.monotonic()
            _, body = await call(
                "getUpdates",
                offset=first[2] + 1,
                timeout=10,
                allowed_updates=["message", "callback_query"],
            )
            await task
            assert time.monotonic() - started < 2
            assert body["result"][0]["message"]["location"] == {"latitude": 1.5, "longitude": 2.5}
            # a second poller terminates the first with 409 Conflict
            first_poll = asyncio.create_task(call("getUpdates", offset=-1 + 10**12, timeout=5))
            await asyncio.sleep(0.1)
            _, body = await call("getUpdates", offset=10**12, timeout=0)
            status, body = await first_poll
            assert status == 409 and "terminated by other getUpdates" in body["description"]

            # form-encoded parameters (as PTB sends them) and webhooks
            async with http.post(
                f"{url}/sendMessage",
                data={
                    "chat_id": "7",
                    "text": "123",
                    "reply_markup": '{"inline_keyboard": [[{"text": "A", "callback_data": "a"}]]}',
                },
            ) as response:
                body = await response.json()
            assert body["result"]["text"] == "123"
            [msg] = await user.wait_for_messages(timeout=1)
            assert msg.buttons() == [("A", "a")]
            status, body = await call("setWebhook", url="https://example.invalid/hook")
            assert body["result"] is True
            _, info = await call("getWebhookInfo")
            assert info["result"]["url"] == "https://example.invalid/hook"
            status, body = await call("getUpdates")
            assert status == 409
            await call("deleteWebhook", drop_pending_updates=True)
            assert fake.pending_updates() == []
            # wrong token and unknown method
            async with http.post(f"{fake.base_url}/bot1:wrong/getMe") as response:
                assert response.status == 401
            status, body = await call("noSuchMethod")
            assert (status, body) == (
                404,
                {"ok": False, "error_code": 404, "description": "Not Found"},
            )
            assert fake.unknown_calls == ["noSuchMethod"]
            for method in ("close", "logOut"):
                assert (await call(method))[1] == {"ok": True, "result": True}
    finally:
        await fake.stop()
