"""Channel-neutral replies as Telegram messages and keyboards."""

from __future__ import annotations

from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
)

from desk.frontdesk import Button, Reply

TELEGRAM_TEXT_LIMIT = 4096
CALLBACK_DATA_LIMIT = 64

Markup = InlineKeyboardMarkup | ReplyKeyboardMarkup | ReplyKeyboardRemove


def inline_keyboard(buttons: list[Button]) -> InlineKeyboardMarkup | None:
    """Buttons in rows: three short ones or two longer ones per row."""
    usable = [b for b in buttons if len(b.payload.encode()) <= CALLBACK_DATA_LIMIT]
    if not usable:
        return None
    short = all(len(b.title) <= 6 for b in usable)
    per_row = 3 if short and len(usable) > 4 else 2
    if len(usable) <= 2:
        per_row = 1
    rows = [
        [InlineKeyboardButton(b.title, callback_data=b.payload) for b in usable[i : i + per_row]]
        for i in range(0, len(usable), per_row)
    ]
    return InlineKeyboardMarkup(rows)


def reply_keyboard(rows: list[list[dict[str, object]]]) -> ReplyKeyboardMarkup:
    """A reply keyboard such as 'share my phone number' or 'send my location'."""
    return ReplyKeyboardMarkup(
        [
            [
                KeyboardButton(
                    str(button.get("text", "")),
                    request_contact=bool(button.get("request_contact")) or None,
                    request_location=bool(button.get("request_location")) or None,
                )
                for button in row
            ]
            for row in rows
        ],
        resize_keyboard=True,
        one_time_keyboard=True,
    )


def split_text(text: str, limit: int = TELEGRAM_TEXT_LIMIT) -> list[str]:
    """Text cut into pieces Telegram accepts, preferring line breaks."""
    pieces: list[str] = []
    while len(text) > limit:
        cut = text.rfind("\n", 0, limit)
        cut = cut if cut > limit // 2 else limit
        pieces.append(text[:cut])
        text = text[cut:].lstrip("\n")
    if text or not pieces:  # trailing line breaks would leave an empty message
        pieces.append(text)
    return pieces


def messages(reply: Reply) -> list[tuple[str, Markup | None]]:
    """The (text, markup) messages that show one reply; markup goes on the last piece."""
    markup: Markup | None
    if reply.keyboard:
        markup = reply_keyboard(reply.keyboard)
    elif reply.rows:
        markup = InlineKeyboardMarkup(
            [
                [InlineKeyboardButton(b.title, callback_data=b.payload) for b in row]
                for row in reply.rows
            ]
        )
    else:
        markup = inline_keyboard(reply.buttons)
    pieces = split_text(reply.text)
    return [(piece, markup if i == len(pieces) - 1 else None) for i, piece in enumerate(pieces)]
