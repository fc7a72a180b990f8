"""The PTB Application of the resident bot: wiring, commands, life cycle."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine
from telegram import BotCommand, Update
from telegram.error import InvalidToken, RetryAfter, TelegramError
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackContext,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    ExtBot,
    MessageHandler,
    filters,
)

from adapters.engine_client import EngineClient
from adapters.wakeup import Waker
from bot import handlers
from bot.notifier import Notifier
from bot.ordering import PerChatUpdateProcessor
from config.settings import Settings
from desk.frontdesk import FrontDesk, Reply, Sender
from desk.workdesk import WorkDesk
from i18n import t
from services import make_engine, make_sessionmaker

logger = logging.getLogger(__name__)

COMMANDS = ("start", "help", "new", "status", "cancel", "lang")
MAX_CONCURRENT_UPDATES = 256
# Telegram not answering at start (a network blip, a wrong TELEGRAM_API_BASE_URL): try
# again after 1 s, doubling up to 60 s, until it answers or the bot is stopped.
TELEGRAM_RETRY_FIRST_S = 1.0
TELEGRAM_RETRY_MAX_S = 60.0


@dataclass
class BotData:
    """What every handler needs: the front desk and the settings (set at build)."""

    settings: Settings = field(default_factory=Settings)
    frontdesk: FrontDesk | None = None
    engine: EngineClient | None = None
    database: AsyncEngine | None = None
    workdesk: WorkDesk | None = None
    waker: Waker | None = None
    notifier: asyncio.Task[None] | None = None


class Context(CallbackContext[ExtBot[None], dict[object, object], dict[object, object], BotData]):
    """Handler context whose bot_data is a typed `BotData`."""


BotApplication = Application[Any, Context, Any, Any, BotData, Any]


async def _post_init(application: BotApplication) -> None:
    """Opens the engine client and the database, and registers the commands."""
    data = application.bot_data
    settings = data.settings
    data.engine = EngineClient(settings.rasa_url, timeout=settings.engine_timeout_s)
    data.database = make_engine(settings.db_url)
    sessionmaker = make_sessionmaker(data.database)
    data.waker = Waker(settings.redis_url)

    async def hold_notice(sender: Sender, reply: Reply) -> None:
        """Tells a resident whose message waits for the engine that it is on its way."""
        await application.bot.send_message(chat_id=int(sender.chat), text=reply.text)

    data.frontdesk = FrontDesk(
        data.engine, sessionmaker, settings, data.waker, hold_notice=hold_notice
    )
    data.workdesk = WorkDesk(sessionmaker, data.waker)
    notifier = Notifier(
        application.bot,
        sessionmaker,
        data.waker,
        poll_seconds=settings.notifier_poll_s,
        sweep_seconds=settings.sweep_interval_s,
        pii_retention_days=settings.pii_retention_days,
        photos_dir=settings.photos_dir,
        realert_minutes={
            "emergency": settings.emergency_realert_minutes,
            "handoff": settings.handoff_realert_minutes,
        },
    )
    if settings.notifier_enabled:
        # Not application.create_task: the notifier outlives start-up, stops at shutdown.
        data.notifier = asyncio.create_task(notifier.run(), name="notifier")
    try:
        for language_code, language in ((None, "zh"), ("zh", "zh"), ("en", "en")):
            await application.bot.set_my_commands(
                [BotCommand(name, t(f"command_{name}", language)) for name in COMMANDS],
                language_code=language_code,
            )
    except TelegramError as exc:  # the menu is a nicety; residents are served without it
        logger.warning("bot.commands_not_set error=%s", exc)


async def _post_shutdown(application: BotApplication) -> None:
    """Stops the notifier, closes the engine client and the database connections."""
    task = application.bot_data.notifier
    if task is not None:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    if application.bot_data.waker is not None:
        await application.bot_data.waker.close()
    if application.bot_data.engine is not None:
        await application.bot_data.engine.close()
    if application.bot_data.database is not None:
        await application.bot_data.database.dispose()


def build_application(settings: Settings, *, polling: bool = True) -> BotApplication:
    """The resident bot, talking to the Bot API at TELEGRAM_API_BASE_URL; without
    `polling` it has no updater (webhook mode feeds it updates, bot/webhook.py)."""
    if settings.telegram_bot_token is None:
        raise ValueError("TELEGRAM_BOT_TOKEN is required to build the Telegram application")
    base = settings.telegram_api_base_url
    context_types = ContextTypes(context=Context, bot_data=BotData)
    builder = ApplicationBuilder() if polling else ApplicationBuilder().updater(None)
    application: BotApplication = (
        builder.token(settings.telegram_bot_token)
        .base_url(f"{base}/bot")
        .base_file_url(f"{base}/file/bot")
        .context_types(context_types)
        .concurrent_updates(PerChatUpdateProcessor(MAX_CONCURRENT_UPDATES))
        .post_init(_post_init)
        .post_shutdown(_post_shutdown)
        .build()
    )
    application.bot_data.settings = settings
    private = filters.ChatType.PRIVATE
    for name in COMMANDS:
        application.add_handler(CommandHandler(name, handlers.command, filters=private))
    # /link works in groups too: an organisation links its group chat.
    application.add_handler(CommandHandler("link", handlers.link))
    application.add_handler(CommandHandler("orgs", handlers.orgs))
    application.add_handler(CallbackQueryHandler(handlers.button))
    application.add_handler(MessageHandler(private & filters.LOCATION, handlers.location))
    application.add_handler(MessageHandler(private & filters.CONTACT, handlers.contact))
    application.add_handler(
        MessageHandler(private & (filters.PHOTO | filters.Document.IMAGE), handlers.photo)
    )
    application.add_handler(MessageHandler(private & filters.TEXT, handlers.text))
    application.add_handler(
        MessageHandler(private & ~filters.StatusUpdate.ALL, handlers.unsupported)
    )
    application.add_error_handler(handlers.error)
    return application


async def connect_telegram(application: BotApplication, stopping: asyncio.Event) -> bool:
    """Initialises the application (getMe), trying again with backoff until Telegram
    answers; False when `stopping` is set first."""
    api = application.bot_data.settings.telegram_api_base_url
    pause = TELEGRAM_RETRY_FIRST_S
    attempt = 0
    while True:
        attempt += 1
        try:
            await application.initialize()
            if attempt > 1:
                logger.info("bot.telegram_connected attempts=%d", attempt)
            return True
        except RetryAfter as exc:
            delay = exc.retry_after
            wait = delay.total_seconds() if isinstance(delay, timedelta) else float(delay)
            logger.warning("bot.telegram_retry_after seconds=%s attempt=%d", wait, attempt)
        except InvalidToken as exc:
            wait = pause
            logger.error(
                "bot.telegram_refused_token error=%s attempt=%d retry_in=%gs (check "
                "TELEGRAM_BOT_TOKEN and TELEGRAM_API_BASE_URL)",
                exc,
                attempt,
                wait,
            )
        except TelegramError as exc:
            wait = pause
            logger.warning(
                "bot.telegram_unreachable api=%s error=%s attempt=%d retry_in=%gs",
                api,
                exc,
                attempt,
                wait,
            )
        pause = min(pause * 2, TELEGRAM_RETRY_MAX_S)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), wait)
            return False


async def serve_polling(settings: Settings, stopping: asyncio.Event) -> None:
    """Long polling until `stopping` is set: connects to Telegram (with retries), then
    polls; the application's resources are released at the end."""
    application = build_application(settings)
    logger.info("bot.start mode=polling api=%s", settings.telegram_api_base_url)
    if not await connect_telegram(application, stopping):
        return
    updater = application.updater
    assert updater is not None and application.post_init is not None

    async def start() -> None:
        assert updater is not None and application.post_init is not None
        await application.post_init(application)
        await updater.start_polling(allowed_updates=Update.ALL_TYPES, bootstrap_retries=-1)
        await application.start()
        logger.info("bot.polling")

    # A stop during start-up (Telegram gone again before deleteWebhook) stops it too.
    starting = asyncio.create_task(start())
    stop = asyncio.create_task(stopping.wait())
    try:
        await asyncio.wait({starting, stop}, return_when=asyncio.FIRST_COMPLETED)
        if starting.done():
            starting.result()  # a failed start ends the process; the supervisor restarts it
            await stop
        else:
            starting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await starting
    finally:
        stop.cancel()
        if updater.running:
            await updater.stop()
        if application.running:
            await application.stop()
        await application.shutdown()
        if application.post_shutdown is not None:
            await application.post_shutdown(application)


def run_polling(settings: Settings) -> None:
    """Runs the bot with long polling until SIGINT/SIGTERM. Unlike PTB's run_polling,
    a Telegram that does not answer at start is tried again with backoff, each failure
    logged, instead of ending the process."""

    async def main() -> None:
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stopping.set)
        await serve_polling(settings, stopping)

    asyncio.run(main())


def run_webhook(settings: Settings) -> int:
    """Runs one bot worker in webhook mode (bot/webhook.py) until interrupted."""
    from bot.webhook import run_webhook as serve

    return serve(settings)
