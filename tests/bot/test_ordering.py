"""One chat's updates are handled in order; other chats are not held up."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from telegram import Chat, Message, Update

from bot.ordering import PerChatUpdateProcessor


def update(update_id: int, chat_id: int) -> Update:
    chat = Chat(id=chat_id, type="private")
    return Update(update_id, message=Message(update_id, datetime.now(UTC), chat))


async def test_same_chat_in_order_other_chats_concurrently() -> None:
    processor = PerChatUpdateProcessor(16)
    finished: list[str] = []

    async def handle(name: str, seconds: float) -> None:
        await asyncio.sleep(seconds)
        finished.append(name)

    await asyncio.gather(
        processor.process_update(update(1, 7), handle("chat7-first", 0.2)),
        processor.process_update(update(2, 7), handle("chat7-second", 0.0)),
        processor.process_update(update(3, 8), handle("chat8", 0.0)),
    )
    assert finished.index("chat7-first") < finished.index("chat7-second")
    assert finished[0] == "chat8"  # not queued behind chat 7
    assert processor._locks == {}  # idle chats are forgotten
