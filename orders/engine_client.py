"""Talking to the running Rasa engine over HTTP: the one narrow interface every
front (Telegram bot, terminal chat, web chat) uses."""

from __future__ import annotations

import json
from typing import Any

import httpx

WEBHOOK = "/webhooks/orders/webhook"
# The marker the engine's channel (nlu/channels.py) answers when handling a message failed.
ENGINE_ERROR = "orders_engine_error"


class EngineUnavailable(Exception):
    """The engine did not answer (down, restarting, or too slow)."""


def payload(intent: str, **entities: Any) -> str:
    """An /intent{"entity": value} message that bypasses NLU (buttons, pins, contacts)."""
    return f"/{intent}{json.dumps(entities, ensure_ascii=False)}" if entities else f"/{intent}"


class EngineClient:
    """Sends a resident's message to the engine and returns its replies."""

    def __init__(self, base_url: str, *, timeout: float = 20.0) -> None:
        self._client = httpx.AsyncClient(base_url=base_url, timeout=timeout)

    async def close(self) -> None:
        await self._client.aclose()

    async def send(
        self, sender: str, text: str, metadata: dict[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """The engine's replies to one message of the conversation `sender`."""
        body = {"sender": sender, "message": text, "metadata": metadata or {}}
        try:
            response = await self._client.post(WEBHOOK, json=body)
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

    async def ready(self) -> bool:
        """Whether the engine answers and has a model loaded."""
        try:
            response = await self._client.get("/status", timeout=2.0)
        except httpx.HTTPError:
            return False
        return response.status_code == 200 and bool(response.json().get("model_file"))
