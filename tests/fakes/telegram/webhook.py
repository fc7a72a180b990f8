"""Webhook delivery, like Telegram's: with a webhook set (and ``deliver_webhooks`` on),
pending updates are POSTed to its url, or round-robin to ``webhook_targets``, with the
secret token header; one update at a time per chat, chats in parallel up to the
webhook's max_connections; an update stays pending until a 2xx answer, else it is
retried every ``webhook_retry_s``."""

from __future__ import annotations

import asyncio
import itertools
import json
from dataclasses import dataclass

import aiohttp

from tests.fakes.telegram.protocol import JSONDict
from tests.fakes.telegram.state import ChatState

WEBHOOK_SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


@dataclass
class WebhookDelivery:
    """One attempt to POST an update to the webhook (status 0: no HTTP answer)."""

    update_id: int
    url: str
    status: int


class WebhookSender(ChatState):
    """The fake's state plus the task that delivers its updates to the webhook (opt-in)."""

    def __init__(self, token: str, bot_username: str) -> None:
        super().__init__(token, bot_username)
        self.deliver_webhooks = False
        self.webhook_targets: list[str] | None = None
        self.webhook_retry_s = 0.2
        self.webhook_deliveries: list[WebhookDelivery] = []
        self._delivery_task: asyncio.Task[None] | None = None
        self._target_turn = itertools.count()

    def _start_delivery(self) -> None:
        """Start the delivery task if webhook delivery is on, and wake it."""
        if not self.deliver_webhooks or self._closing:
            return
        if self._delivery_task is None or self._delivery_task.done():
            self._delivery_task = asyncio.create_task(self._deliver_loop(), name="fake-webhook")
        self._delivery_wake.set()

    @staticmethod
    def _update_chat(update: JSONDict) -> object:
        """The key updates are serialised by: their chat, else their sender."""
        for value in update.values():
            if isinstance(value, dict):
                chat = value.get("chat") or (value.get("message") or {}).get("chat")
                if isinstance(chat, dict):
                    return chat.get("id")
                sender = value.get("from")
                if isinstance(sender, dict):
                    return ("user", sender.get("id"))
        return ("update", update.get("update_id"))

    def _webhook_target(self) -> str:
        """The url the next delivery attempt goes to."""
        if self.webhook_targets:
            return self.webhook_targets[next(self._target_turn) % len(self.webhook_targets)]
        return str((self.webhook or {}).get("url", ""))

    async def _deliver_loop(self) -> None:
        """Hand pending updates to delivery tasks, one per chat at a time."""
        tasks: dict[int, tuple[asyncio.Task[None], object]] = {}  # update_id -> (task, chat)
        timeout = aiohttp.ClientTimeout(total=60)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            try:
                while self.webhook and not self._closing:
                    self._delivery_wake.clear()
                    for update_id in [u for u, (task, _) in tasks.items() if task.done()]:
                        del tasks[update_id]
                    busy = {chat for _, chat in tasks.values()}
                    limit = int(self.webhook.get("max_connections") or 40)
                    for update in self._deliverable(100):
                        update_id = int(update["update_id"])
                        chat = self._update_chat(update)
                        if update_id in tasks or chat in busy:
                            busy.add(chat)  # later updates of this chat wait their turn
                            continue
                        if len(tasks) >= limit:
                            break
                        busy.add(chat)
                        task = asyncio.create_task(
                            self._deliver_one(session, update), name=f"deliver-{update_id}"
                        )
                        tasks[update_id] = (task, chat)
                    await self._delivery_wake.wait()
            finally:
                for task, _ in tasks.values():
                    task.cancel()
                await asyncio.gather(*(t for t, _ in tasks.values()), return_exceptions=True)

    async def _deliver_one(self, session: aiohttp.ClientSession, update: JSONDict) -> None:
        """POST one update until a 2xx answer (or the webhook is gone)."""
        update_id = int(update["update_id"])
        try:
            while self.webhook and not self._closing:
                url = self._webhook_target()
                headers = {"Content-Type": "application/json"}
                secret = self.webhook.get("secret_token")
                if secret:
                    headers[WEBHOOK_SECRET_HEADER] = str(secret)
                try:
                    async with session.post(url, data=json.dumps(update), headers=headers) as r:
                        status = r.status
                except (aiohttp.ClientError, TimeoutError):
                    status = 0
                self.webhook_deliveries.append(WebhookDelivery(update_id, url, status))
                if 200 <= status < 300:
                    self._updates = [u for u in self._updates if u["update_id"] != update_id]
                    self._notify()
                    return
                await asyncio.sleep(self.webhook_retry_s)
        finally:
            self._delivery_wake.set()

    async def _stop_delivery(self) -> None:
        """Cancel the delivery task and the deliveries in flight."""
        if self._delivery_task is not None:
            self._delivery_task.cancel()
            await asyncio.gather(self._delivery_task, return_exceptions=True)
            self._delivery_task = None
