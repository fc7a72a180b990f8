"""Webhook mode: Telegram (through a load balancer) posts updates to a small ASGI server.

Each bot worker serves `WEBHOOK_URL`'s path on BOT_HOST:BOT_PORT (loopback; the load
balancer is the public face), `GET /healthz` (liveness: the application and its notifier
run) and `GET /readyz` (readiness: also the database, the engine with its model and the
action server answer; adapters/readiness.py) for the load balancer. The worker listens at
once; it connects to Telegram and registers the webhook in the background, trying again
with backoff while Telegram does not answer (updates meanwhile get 503). Every request must
carry `X-Telegram-Bot-Api-Secret-Token` equal to WEBHOOK_SECRET (compared in constant
time); any other request gets 403 and its update is dropped unread.

An update is handled before the request is answered: 200 means "handled". Each update is
processed at most once across the workers (bot/dedupe.py claims its update_id first, in
Redis): a copy Telegram re-sends because the first delivery was slow to answer is
answered 200 at once and not processed. The update goes through the application's update
processor, so one worker keeps each chat's updates in order (bot/ordering.py); across
workers, Rasa's lock store in Redis serialises the turns of one conversation and its
tracker store in Redis carries the conversation from replica to replica
(docs/deployment.md).

PTB's own webhook server needs tornado; this is PTB's "custom webhook" pattern instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import uvicorn
from redis.asyncio import Redis
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from telegram import Update
from telegram.error import NetworkError, RetryAfter, TelegramError

from adapters.readiness import check_readiness
from bot.app import (
    TELEGRAM_RETRY_FIRST_S,
    TELEGRAM_RETRY_MAX_S,
    BotApplication,
    build_application,
    connect_telegram,
)
from bot.dedupe import UpdateDeduper, bot_id_of
from config.settings import Settings

logger = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
# Telegram's updates are a few kilobytes (files come by file_id); refuse anything huge.
MAX_UPDATE_BYTES = 1024 * 1024


@dataclass
class WebhookStats:
    """What this worker did, shown on /healthz (tests read it to see who handled what)."""

    handled: int = 0
    rejected: int = 0
    invalid: int = 0
    duplicates: int = 0  # copies of an update already claimed (here or by another worker)
    failed: int = 0  # processing raised (answered 500; the claim is kept)


def secret_matches(given: str | None, expected: str) -> bool:
    """Whether the request's secret token is the configured one (constant time)."""
    if given is None:
        return False
    return hmac.compare_digest(given.encode(), expected.encode())


async def _read_body(request: Request) -> bytes | None:
    """The request body, or None when it is larger than MAX_UPDATE_BYTES."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_UPDATE_BYTES:
        return None
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_UPDATE_BYTES:
            return None
    return bytes(body)


def _shared_redis(application: BotApplication) -> Redis | None:
    """The Waker's Redis client (REDIS_URL), once post_init has built it."""
    waker = getattr(application.bot_data, "waker", None)
    return None if waker is None else waker.redis


def create_webhook_app(
    application: BotApplication,
    settings: Settings,
    *,
    stats: WebhookStats | None = None,
    dedupe: UpdateDeduper | None = None,
    manage_lifecycle: bool = True,
) -> Starlette:
    """The ASGI app of one bot worker. With `manage_lifecycle`, its lifespan initialises,
    starts, stops and shuts down the PTB application (with its notifier). `dedupe`
    defaults to claims in the Waker's Redis (REDIS_URL) with an in-process fallback."""
    if not settings.webhook_secret:
        raise ValueError("WEBHOOK_SECRET is required in webhook mode")
    secret = settings.webhook_secret
    counters = stats if stats is not None else WebhookStats()
    worker = f"{settings.bot_host}:{settings.bot_port}"
    deduper = (
        dedupe
        if dedupe is not None
        else UpdateDeduper(bot_id_of(application.bot.token), lambda: _shared_redis(application))
    )

    async def receive(request: Request) -> Response:
        if not secret_matches(request.headers.get(SECRET_HEADER), secret):
            counters.rejected += 1
            client = request.client.host if request.client else "?"
            logger.warning("bot.webhook_rejected reason=secret client=%s", client)
            return PlainTextResponse("Forbidden", status_code=403)
        if not application.running:
            return PlainTextResponse("Not running", status_code=503)
        body = await _read_body(request)
        if body is None:
            counters.invalid += 1
            return PlainTextResponse("Too large", status_code=413)
        try:
            data = json.loads(body)
            update = Update.de_json(data, application.bot) if isinstance(data, dict) else None
        except Exception:  # PTB raises assorted errors for malformed updates
            update = None
        if update is None:
            counters.invalid += 1
            logger.warning("bot.webhook_invalid bytes=%d", len(body))
            return PlainTextResponse("Bad update", status_code=400)
        # At most once across workers: a copy of an update that a worker already claimed
        # (Telegram re-sends when the first delivery is slow to answer) gets 200 at once,
        # so Telegram stops re-sending it, and is not processed.
        if not await deduper.claim(update.update_id):
            counters.duplicates += 1
            logger.info("bot.update_duplicate id=%s worker=%s", update.update_id, worker)
            return Response(status_code=200)
        # Through the update processor (per-chat order), and answered once handled.
        try:
            await application.update_processor.process_update(
                update, application.process_update(update)
            )
        except Exception:
            # The claim is kept on purpose (also when the worker stops mid-update). A
            # handler's own error never gets here: PTB hands it to handlers.error, which
            # tells the resident to send it again. What gets here may have happened after
            # the message reached the engine, and is likely to happen again. After a 500
            # Telegram re-sends the update, to any worker, with growing pauses: were the
            # claim released, every copy would repeat the engine turn (and fail again);
            # kept, the first copy is answered 200 as a duplicate and Telegram stops. The
            # 500 stays visible in getWebhookInfo (last_error_message) and in `failed`.
            counters.failed += 1
            logger.exception("bot.update_failed id=%s worker=%s", update.update_id, worker)
            return PlainTextResponse("Update failed", status_code=500)
        counters.handled += 1
        chat = update.effective_chat
        logger.info(
            "bot.update id=%s chat=%s worker=%s",
            update.update_id,
            chat.id if chat else "-",
            worker,
        )
        return Response(status_code=200)

    async def health(request: Request) -> Response:
        running = application.running
        notifier = getattr(application.bot_data, "notifier", None)
        notifier_ok = notifier is None or not notifier.done()
        healthy = running and notifier_ok
        return JSONResponse(
            {
                "status": "ok" if healthy else "unavailable",
                "worker": worker,
                "handled": counters.handled,
                "rejected": counters.rejected,
                "invalid": counters.invalid,
                "duplicates": counters.duplicates,
                "failed": counters.failed,
            },
            status_code=200 if healthy else 503,
        )

    async def ready(request: Request) -> Response:
        running = application.running
        notifier = getattr(application.bot_data, "notifier", None)
        database = getattr(application.bot_data, "database", None)
        checks = {"telegram": "ok" if running else "connecting"}
        if notifier is not None and notifier.done():
            checks["notifier"] = "stopped"
        if database is None:
            checks.update(database="starting", engine="starting", actions="starting")
        else:
            checks.update((await check_readiness(settings, database)).as_dict())
        ready = all(state == "ok" for state in checks.values())
        return JSONResponse(
            {"status": "ready" if ready else "not_ready", "worker": worker, "checks": checks},
            status_code=200 if ready else 503,
        )

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if manage_lifecycle:
            await application.initialize()
            if application.post_init is not None:
                await application.post_init(application)
            await application.start()
        try:
            yield
        finally:
            if manage_lifecycle:
                if application.running:
                    await application.stop()
                await application.shutdown()
                if application.post_shutdown is not None:
                    await application.post_shutdown(application)

    return Starlette(
        routes=[
            Route(settings.webhook_path, receive, methods=["POST"]),
            Route("/healthz", health, methods=["GET"]),
            Route("/readyz", ready, methods=["GET"]),
        ],
        lifespan=lifespan,
    )


async def register_webhook(application: BotApplication, settings: Settings) -> None:
    """Tell Telegram where to post updates, with the secret token. Every worker does
    this at start with the same values (idempotent); pending updates are kept."""
    assert settings.webhook_url is not None and settings.webhook_secret is not None
    await application.bot.set_webhook(
        url=settings.webhook_url,
        secret_token=settings.webhook_secret,
        allowed_updates=Update.ALL_TYPES,
        drop_pending_updates=False,
        max_connections=settings.webhook_max_connections,
    )
    logger.info(
        "bot.webhook_registered url=%s max_connections=%d",
        settings.webhook_url,
        settings.webhook_max_connections,
    )


class _WebhookServer(uvicorn.Server):
    """uvicorn that, once its socket listens, connects the application to Telegram and
    registers the webhook (so Telegram's first delivery finds it), in the background and
    with retries while Telegram does not answer; it stops if Telegram refuses the
    registration. The application is stopped and shut down with the server."""

    def __init__(self, config: uvicorn.Config, application: BotApplication, settings: Settings):
        super().__init__(config)
        self._application = application
        self._settings = settings
        self._stopping = asyncio.Event()
        self._bootstrap: asyncio.Task[None] | None = None
        self.registered = False
        self.failed = False  # Telegram refused the webhook, or the start-up failed

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if not self.started:
            return
        settings = self._settings
        logger.info(
            "bot.start mode=webhook listen=%s:%d path=%s api=%s",
            settings.bot_host,
            settings.bot_port,
            settings.webhook_path,
            settings.telegram_api_base_url,
        )
        self._bootstrap = asyncio.create_task(self._connect(), name="bot-bootstrap")

    async def _connect(self) -> None:
        try:
            await self._bootstrap_application()
        except Exception:
            logger.exception("bot.bootstrap_failed")
            self.failed = True
            self.should_exit = True

    async def _bootstrap_application(self) -> None:
        application = self._application
        if not await connect_telegram(application, self._stopping):
            return
        assert application.post_init is not None
        await application.post_init(application)
        await application.start()
        pause = TELEGRAM_RETRY_FIRST_S
        while not self._stopping.is_set():
            try:
                await register_webhook(application, self._settings)
            except (NetworkError, RetryAfter) as exc:
                logger.warning("bot.webhook_register_retry error=%s retry_in=%gs", exc, pause)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), pause)
                pause = min(pause * 2, TELEGRAM_RETRY_MAX_S)
                continue
            except TelegramError as exc:
                logger.error("bot.webhook_register_failed error=%s", exc)
                self.failed = True
                self.should_exit = True
                return
            self.registered = True
            return

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        self._stopping.set()
        if self._bootstrap is not None:
            self._bootstrap.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._bootstrap
        await super().shutdown(sockets=sockets)
        application = self._application
        if application.running:
            await application.stop()
        await application.shutdown()
        if application.post_shutdown is not None:
            await application.post_shutdown(application)


async def serve_webhook(settings: Settings) -> int:
    """Serve the webhook until SIGINT/SIGTERM; returns the exit code."""
    application = build_application(settings, polling=False)
    app = create_webhook_app(application, settings, manage_lifecycle=False)
    config = uvicorn.Config(
        app,
        host=settings.bot_host,
        port=settings.bot_port,
        log_level="warning",
        access_log=False,
        server_header=False,
        timeout_graceful_shutdown=10,
        lifespan="on",
    )
    server = _WebhookServer(config, application, settings)
    await server.serve()
    return 1 if server.failed else 0


def run_webhook(settings: Settings) -> int:
    """Runs one bot worker in webhook mode until interrupted; returns the exit code."""
    problem = settings.webhook_problem()
    if problem:
        raise ValueError(problem)
    return asyncio.run(serve_webhook(settings))
