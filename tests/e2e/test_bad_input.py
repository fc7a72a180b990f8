"""Bad input gets a clear reply in the resident's language, and nothing crashes."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from config.settings import Settings
from services import Ticket
from tests.e2e.conftest import make_settings, start_bot, stop_bot
from tests.e2e.test_filing import PNG, file_request, one
from tests.fakes.telegram import FakeTelegram
from tests.servers import free_port


async def test_blank_message_is_answered(telegram: FakeTelegram) -> None:
    user = telegram.user(72001, language_code="zh")
    await user.send_text("   ")
    assert "空消息" in ((await one(user)).text or "")


async def test_ten_thousand_characters_are_understood_and_kept(
    telegram: FakeTelegram, db: async_sessionmaker[AsyncSession]
) -> None:
    user = telegram.user(72002, language_code="zh")
    long_text = ("我家厨房水管漏水了，" + "水一直在滴，" * 1700)[:10_000]
    await file_request(user, long_text, ["幸福小区1栋101", "随时都可以", "13812345678"])
    async with db() as session:
        stored = await session.scalar(
            select(Ticket.description).where(Ticket.address == "幸福小区1栋101")
        )
    assert stored == long_text  # nothing of the resident's words is lost


async def test_emoji_only_gets_a_reply(telegram: FakeTelegram) -> None:
    user = telegram.user(72003, language_code="en")
    await user.send_text("😀😀😀")
    reply = await one(user)
    assert reply.text  # a clarifying question or a greeting, never silence


async def test_sticker_and_voice_are_declined_politely(telegram: FakeTelegram) -> None:
    user = telegram.user(72004, language_code="en")
    await user.send_sticker()
    assert "voice messages, stickers" in ((await one(user)).text or "")
    zh_user = telegram.user(72005, language_code="zh")
    await zh_user.send_voice()
    assert "语音" in ((await one(zh_user)).text or "")


async def test_photo_without_text_is_kept_for_the_next_request(
    telegram: FakeTelegram, db: async_sessionmaker[AsyncSession], stack: Settings
) -> None:
    user = telegram.user(72006, language_code="zh")
    await user.send_photo(PNG)
    assert "照片收到了" in ((await one(user)).text or "")
    await user.send_text("电梯又坏了，物业一直不修")
    await one(user)  # address
    await user.send_text("和平花园7号楼")
    await one(user)  # time
    await user.send_text("尽快")
    await one(user)  # phone
    await user.send_text("13912345678")
    summary = await one(user)  # no photo question: the photo is already there
    assert "已附照片" in (summary.text or "")
    await user.press(summary, summary.button("提交")[1])
    await one(user)
    async with db() as session:
        photo = await session.scalar(
            select(Ticket.photo_path).where(Ticket.phone == "+8613912345678")
        )
    assert photo and (stack.photos_dir / photo).read_bytes() == PNG


async def test_oversized_photo_is_refused_with_the_limit(telegram: FakeTelegram) -> None:
    user = telegram.user(72007, language_code="en")
    await user.send_photo(PNG + b"\x00" * (10 * 1024 * 1024))
    assert "too large (limit 10 MB)" in ((await one(user)).text or "")


async def test_engine_down_tells_the_resident_to_retry(
    tmp_path: Path, stack: Settings, db: async_sessionmaker[AsyncSession]
) -> None:
    # A bot whose engine port has nothing listening: the engine is down.
    fake = FakeTelegram()
    await fake.start()
    settings = make_settings(
        tmp_path,
        database_url=stack.db_url,
        rasa_port=free_port(),
        telegram_bot_token=fake.token,
        telegram_api_base_url=fake.base_url,
        notifier_enabled=False,  # the shared outbox belongs to the session's bot
    )
    application = await start_bot(settings)
    try:
        async with db() as session:
            before = await session.scalar(select(func.count()).select_from(Ticket))
        user = fake.user(72008, language_code="zh")
        await user.send_text("我家厨房水管漏水了")
        assert "稍后再发" in ((await one(user)).text or "")
        en_user = fake.user(72009, language_code="en")
        await en_user.send_text("my sink is blocked")
        assert "in a moment" in ((await one(en_user)).text or "")
        async with db() as session:
            after = await session.scalar(select(func.count()).select_from(Ticket))
        assert after == before
    finally:
        await stop_bot(application)
        await fake.stop()
