"""Talking to the running Rasa engine over HTTP: the one narrow interface every
front (Telegram bot, terminal chat, web chat) uses.

While the engine is not ready (starting and loading its model, restarting), a
resident's message is held and sent again with backoff, up to a bound (ENGINE_WAIT_S),
instead of asking the resident to send it again. It is sent again only when the engine
surely did not take it: the connection was refused or never made, or the engine (or a
balancer before it) answered 503. A timeout or a dropped connection after the message
was sent is never retried, since the engine may have handled it (a second turn would
repeat its effects). One conversation's held messages keep their order.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import quote

import httpx

logger = logging.getLogger(__name__)

WEBHOOK = "/webhooks/orders/webhook"
# The marker the engine's channel (nlu/channels.py) answers when handling a message failed.
ENGINE_ERROR = "orders_engine_error"


# Pauses between attempts while a message is held: 0.5 s, doubling up to 5 s.
HOLD_FIRST_S = 0.5
HOLD_MAX_S = 5.0
# Connecting to a live engine on loopback or in a data centre takes milliseconds.
CONNECT_TIMEOUT_S = 5.0


class EngineUnavailable(Exception):
    """The engine did not answer (down, restarting, or too slow)."""


class EngineNotReady(EngineUnavailable):
    """The engine surely did not take the message (nothing listening, 503): it can be
    sent again without risk of a second turn."""


def payload(intent: str, **entities: Any) -> str:
    """An /intent{"entity": value} message that bypasses NLU (buttons, pins, contacts)."""
    return f"/{intent}{json.dumps(entities, ensure_ascii=False)}" if entities else f"/{intent}"


class EngineClient:
    """Sends a resident's message to the engine and returns its replies."""

    def __init__(self, base_url: str, *, timeout: float = 20.0) -> None:
        limits = httpx.Timeout(timeout, connect=min(timeout, CONNECT_TIMEOUT_S))
        self._client = httpx.AsyncClient(base_url=base_url, timeout=limits)

    async def close(self) -> None:
        await self._client.aclose()

    async def send(
        self, sender: str, text: str, metadata: dict[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """The engine's replies to one message of the conversation `sender`."""
        body = {"sender": sender, "message": text, "metadata": metadata or {}}
        try:
            response = await self._client.post(WEBHOOK, json=body)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise EngineNotReady(f"{type(exc).__name__}: {exc}") from exc
        except httpx.HTTPError as exc:
            raise EngineUnavailable(f"{type(exc).__name__}: {exc}") from exc
        if response.status_code == 503:
            raise EngineNotReady("the engine answered 503")
        try:
            response.raise_for_status()
            replies = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise EngineUnavailable(str(exc)) from exc
        replies = [reply for reply in replies if isinstance(reply, dict)]
        if any(
            isinstance(reply.get("custom"), dict) and reply["custom"].get(ENGINE_ERROR)
            for reply in replies
        ):
            # The engine took the message but could not handle it (e.g. Redis is down).
            raise EngineUnavailable("the engine failed to handle the message")
        return replies

    async def parse(self, text: str) -> dict[str, Any]:
        """The NLU result for one text (intent, ranking, entities)."""
        try:
            response = await self._client.post("/model/parse", json={"text": text})
            response.raise_for_status()
            result: dict[str, Any] = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise EngineUnavailable(str(exc)) from exc
        return result

    async def tracker_events(
        self, sender: str, *, wait_s: float | None = None
    ) -> list[dict[str, Any]]:
        """The events of the conversation `sender` since its last restart (the engine's
        GET /conversations/{sender}/tracker), oldest first. They are the resident's
        messages and what they said: never log them. `wait_s` bounds the wait (else the
        client's timeout)."""
        path = f"/conversations/{quote(sender, safe=':')}/tracker"
        limits = (
            httpx.Timeout(wait_s, connect=min(wait_s, CONNECT_TIMEOUT_S))
            if wait_s is not None
            else httpx.USE_CLIENT_DEFAULT
        )
        try:
            response = await self._client.get(
                path, params={"include_events": "AFTER_RESTART"}, timeout=limits
            )
            response.raise_for_status()
            body = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            # The exception's text is not kept: an error body may quote the conversation.
            raise EngineUnavailable(type(exc).__name__) from None
        events = body.get("events") if isinstance(body, dict) else None
        if not isinstance(events, list):
            return []
        return [event for event in events if isinstance(event, dict)]

    async def ready(self) -> bool:
        """Whether the engine answers and has a model loaded."""
        try:
            response = await self._client.get("/status", timeout=2.0)
        except httpx.HTTPError:
            return False
        return response.status_code == 200 and bool(response.json().get("model_file"))


class _ConversationTurns:
    """One lock per conversation, so that held messages reach the engine in the order
    they came; conversations without a message in flight are forgotten."""

    def __init__(self) -> None:
        self._locks: dict[str, asyncio.Lock] = {}
        self._users: dict[str, int] = {}

    @asynccontextmanager
    async def turn(self, conversation: str) -> AsyncIterator[None]:
        lock = self._locks.setdefault(conversation, asyncio.Lock())
        self._users[conversation] = self._users.get(conversation, 0) + 1
        try:
            async with lock:
                yield
        finally:
            self._users[conversation] -= 1
            if not self._users[conversation]:
                del self._users[conversation]
                del self._locks[conversation]


_turns = _ConversationTurns()


async def send_when_ready(
    engine: EngineClient,
    sender: str,
    text: str,
    metadata: dict[str, Any] | None = None,
    *,
    wait_s: float,
    on_long_wait: Callable[[], Awaitable[None]] | None = None,
    long_wait_s: float = 5.0,
) -> list[dict[str, Any]]:
    """`engine.send`, holding the message up to `wait_s` seconds while the engine is not
    ready; `on_long_wait` is awaited once if the message has waited `long_wait_s`.
    Raises EngineUnavailable when the bound is reached or the engine failed otherwise."""
    async with _turns.turn(sender):
        started = time.monotonic()
        deadline = started + wait_s
        pause = HOLD_FIRST_S
        told = False
        attempts = 0
        while True:
            attempts += 1
            try:
                replies = await engine.send(sender, text, metadata)
            except EngineNotReady as exc:
                now = time.monotonic()
                if now >= deadline:
                    logger.warning(
                        "engine.hold_gave_up waited=%.1fs attempts=%d error=%s",
                        now - started,
                        attempts,
                        exc,
                    )
                    raise
                if attempts == 1:
                    logger.info("engine.hold bound=%gs error=%s", wait_s, exc)
                if not told and on_long_wait is not None and now - started >= long_wait_s:
                    told = True
                    try:
                        await on_long_wait()
                    except Exception:  # the notice is a courtesy; the message still waits
                        logger.warning("engine.hold_notice_failed", exc_info=True)
                await asyncio.sleep(min(pause, max(deadline - time.monotonic(), 0.0)))
                pause = min(pause * 2, HOLD_MAX_S)
                continue
            if attempts > 1:
                logger.info(
                    "engine.hold_delivered waited=%.1fs attempts=%d",
                    time.monotonic() - started,
                    attempts,
                )
            return replies
