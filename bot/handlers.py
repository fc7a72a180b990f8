"""Update handlers: parse the update, call the front desk once, send the replies."""

from __future__ import annotations

import logging
import uuid
from typing import TYPE_CHECKING

from telegram import CallbackQuery, Message, ReplyKeyboardRemove, Update
from telegram.error import BadRequest, TelegramError

from bot.render import messages
from desk.frontdesk import FrontDesk, Reply, Sender
from desk.workdesk import WorkDesk, handles

if TYPE_CHECKING:
    from bot.app import Context

logger = logging.getLogger(__name__)
KEYBOARD_SHOWN = "reply_keyboard_shown"


def _sender(update: Update) -> Sender:
    user = update.effective_user
    assert user is not None  # handlers are registered for user messages only
    chat = update.effective_chat
    return Sender(
        channel="telegram",
        external_id=str(user.id),
        display_name=user.full_name,
        client_language=user.language_code,
        chat_id=str(chat.id) if chat is not None else None,
    )


def _desk(context: Context) -> FrontDesk:
    desk = context.bot_data.frontdesk
    assert desk is not None  # created in post_init
    return desk


def _workdesk(context: Context) -> WorkDesk:
    desk = context.bot_data.workdesk
    assert desk is not None  # created in post_init
    return desk


async def _send(update: Update, context: Context, replies: list[Reply]) -> None:
    """Sends the replies to the chat, removing a reply keyboard no longer needed."""
    chat = update.effective_chat
    if chat is None:
        return
    chat_data = context.chat_data if context.chat_data is not None else {}
    for reply in replies:
        for text, markup in messages(reply):
            if markup is None and chat_data.get(KEYBOARD_SHOWN):
                markup = ReplyKeyboardRemove()
            await context.bot.send_message(chat.id, text, reply_markup=markup)
            if markup is not None:
                chat_data[KEYBOARD_SHOWN] = bool(reply.keyboard)


async def command(update: Update, context: Context) -> None:
    """Runs /start, /help, /new, /status, /cancel or /lang."""
    message = update.effective_message
    name = (message.text or "/help").split()[0].lstrip("/").split("@")[0] if message else "help"
    await _send(update, context, await _desk(context).command(_sender(update), name))


async def link(update: Update, context: Context) -> None:
    """`/link CODE` (private chat or group): binds the chat to an organisation or staff."""
    code = " ".join(context.args or [])
    await _send(update, context, await _workdesk(context).link(_sender(update), code))


async def orgs(update: Update, context: Context) -> None:
    """`/orgs` (staff chats): the organisations' standing."""
    await _send(update, context, await _workdesk(context).standings(_sender(update)))


async def text(update: Update, context: Context) -> None:
    """Passes typed text to the engine (a reply to a rating request is its comment)."""
    message = update.effective_message
    if message is None:
        return
    if message.reply_to_message is not None and message.text:
        replies = await _workdesk(context).reply_to_notice(
            _sender(update), str(message.reply_to_message.message_id), message.text
        )
        if replies is not None:
            await _send(update, context, replies)
            return
    await _send(update, context, await _desk(context).text(_sender(update), message.text or ""))


async def button(update: Update, context: Context) -> None:
    """Answers a button press, retires its keyboard and acts on its payload."""
    query = update.callback_query
    if query is None:
        return
    if handles(query.data or ""):
        await _work_button(update, context, query)
        return
    await query.answer()
    if isinstance(query.message, Message) and query.message.reply_markup is not None:
        try:
            await query.edit_message_reply_markup(reply_markup=None)
        except BadRequest:
            pass  # already edited (a double press) or too old to edit
    await _send(update, context, await _desk(context).press(_sender(update), query.data or ""))


async def _work_button(update: Update, context: Context, query: CallbackQuery) -> None:
    """An organisation, staff or resident button after filing: the toast says what
    happened; the card's buttons are retired once pressed (a new message carries
    the next ones)."""
    result = await _workdesk(context).press(_sender(update), query.data or "")
    await query.answer(result.toast)
    if isinstance(query.message, Message) and query.message.reply_markup is not None:
        try:
            await query.edit_message_reply_markup(reply_markup=None)
        except BadRequest:
            pass  # already edited (a double press) or too old to edit
    await _send(update, context, result.replies)


async def location(update: Update, context: Context) -> None:
    """Passes a location pin to the engine."""
    message = update.effective_message
    if message is None or message.location is None:
        return
    replies = await _desk(context).share(
        _sender(update),
        "share_location",
        latitude=message.location.latitude,
        longitude=message.location.longitude,
    )
    await _send(update, context, replies)


async def contact(update: Update, context: Context) -> None:
    """Passes a shared contact's phone number to the engine."""
    message = update.effective_message
    if message is None or message.contact is None:
        return
    phone = message.contact.phone_number.strip()
    if phone and not phone.startswith("+"):
        phone = "+" + phone  # Telegram omits the plus of international numbers
    await _send(
        update, context, await _desk(context).share(_sender(update), "share_contact", phone=phone)
    )


async def photo(update: Update, context: Context) -> None:
    """Stores a photo (size-checked) and passes it to the engine, then its caption."""
    message = update.effective_message
    if message is None:
        return
    desk, sender = _desk(context), _sender(update)
    settings = context.bot_data.settings
    attachment = message.photo[-1] if message.photo else message.document
    if attachment is None:
        return
    size = attachment.file_size or 0
    if size > settings.max_photo_bytes:
        limit_mb = settings.max_photo_bytes // (1024 * 1024)
        await _send(
            update, context, await desk.notice(sender, "photo_too_large", limit_mb=limit_mb)
        )
        return
    name = f"{uuid.uuid4().hex}.jpg"
    try:
        settings.photos_dir.mkdir(parents=True, exist_ok=True)
        file = await attachment.get_file()
        await file.download_to_drive(settings.photos_dir / name)
    except (TelegramError, OSError):
        logger.exception("photo.download_failed channel=telegram")
        await _send(update, context, await desk.notice(sender, "photo_failed"))
        return
    replies = await desk.share(sender, "share_photo", photo_ref=name)
    if message.caption:
        replies += await desk.text(sender, message.caption)
    await _send(update, context, replies)


async def unsupported(update: Update, context: Context) -> None:
    """Says politely that voice, stickers and the like cannot be read."""
    await _send(update, context, await _desk(context).notice(_sender(update), "unsupported_media"))


async def error(update: object, context: Context) -> None:
    """Logs the failure and tells the resident to try again; never crashes the bot."""
    logger.error("bot.handler_failed", exc_info=context.error)
    if isinstance(update, Update) and update.effective_user is not None:
        try:
            replies = await _desk(context).notice(_sender(update), "engine_unavailable")
            await _send(update, context, replies)
        except Exception:  # the failure may be the database itself; logging is all we can do
            logger.exception("bot.error_reply_failed")
