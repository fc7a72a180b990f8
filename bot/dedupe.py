"""At most once per update in webhook mode, across every bot worker.

Telegram re-sends an update when a worker did not answer 200 in time (the engine was
slow, the worker died), and the copy may reach another worker behind the load balancer.
Processing it again would repeat its conversation effects (a "yes" at the summary sent
to the engine twice, two replies), which the database's idempotency cannot undo. So a
worker claims the update's `update_id` before processing it:

- with Redis (the Waker's client, when REDIS_URL is set): `SET orders:update:<bot
  id>:<update_id> 1 NX EX 86400`; only the first worker to set the key processes the
  update. Telegram keeps an unconfirmed update for at most 24 hours, so a claim never
  needs to outlive that.
- always, in this process: a bounded memory of recent update ids (the same 24 hours,
  at most MAX_LOCAL ids). It decides alone when there is no Redis or Redis fails (for
  REDIS_RETRY_S, then Redis is tried again), so a Redis outage never stops residents
  being served; during an outage only copies that reach the same worker are caught.

Polling mode needs none of this: getUpdates' offset confirms each update once.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable

from redis.exceptions import RedisError

from adapters.ratelimit import REDIS_RETRY_S, RedisFallback, RedisSource

__all__ = ["REDIS_RETRY_S", "TTL_S", "UpdateDeduper", "bot_id_of"]

logger = logging.getLogger(__name__)

KEY_PREFIX = "orders:update:"
# Telegram keeps an update it could not deliver for at most 24 hours.
TTL_S = 24 * 60 * 60
# Update ids remembered in process (an int and a float each: a few MB at most).
MAX_LOCAL = 100_000


def bot_id_of(token: str) -> str:
    """The bot's id, the part of its token before the colon (public, not a secret)."""
    return token.partition(":")[0]


class UpdateDeduper:
    """Claims update ids so that each update of one bot is processed once."""

    def __init__(
        self,
        bot_id: str,
        redis: RedisSource = None,
        *,
        ttl_s: int = TTL_S,
        max_local: int = MAX_LOCAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.bot_id = bot_id
        # The Waker's client is built in the application's post_init, after the webhook
        # app: `redis` may be a function that finds it.
        self._redis = RedisFallback(redis, clock, "bot.dedupe_", logger)
        self._ttl_s = ttl_s
        self._max_local = max_local
        self._clock = clock
        self._seen: OrderedDict[int, float] = OrderedDict()  # update id -> forget at

    def key(self, update_id: int) -> str:
        """The Redis key of one update's claim."""
        return f"{KEY_PREFIX}{self.bot_id}:{update_id}"

    async def claim(self, update_id: int) -> bool:
        """True the first time `update_id` is seen (process it), False for a copy."""
        now = self._clock()
        self._forget_old(now)
        if update_id in self._seen:
            return False
        # Remembered before Redis is asked, so a copy arriving at this worker meanwhile
        # (or while Redis fails) is already a duplicate.
        self._seen[update_id] = now + self._ttl_s
        redis = self._redis.client()
        if redis is None:
            return True
        try:
            first = await redis.set(self.key(update_id), "1", nx=True, ex=self._ttl_s)
        except (RedisError, OSError) as exc:
            self._redis.failed(exc)
            return True
        self._redis.answered()
        return bool(first)

    def _forget_old(self, now: float) -> None:
        """Drop expired ids and, past MAX_LOCAL, the oldest ones (insertion order is
        expiry order: every id gets the same TTL)."""
        seen = self._seen
        while seen and (len(seen) >= self._max_local or next(iter(seen.values())) <= now):
            seen.popitem(last=False)
