"""Per-resident rate limit: a flood of messages from one resident is slowed down
before it reaches the engine, without touching anyone else.

In one process a token bucket per resident does it (capacity = the per-minute
limit, refilled continuously). With Redis (the Waker's client, when REDIS_URL is
set) a fixed one-minute window per resident (INCR + EXPIRE) does it across every
bot worker. If Redis fails, the in-process bucket takes over for a while: a
dead Redis never stops residents from being served.

A refused message is answered once with a polite "slow down" (`Decision.WARN`);
further refused messages in the same burst are dropped silently (`Decision.DROP`)
so the bot does not flood the resident's chat in return.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from redis.asyncio import Redis
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

KEY_PREFIX = "orders:ratelimit:"
WINDOW_S = 60
# After a Redis error, the in-process buckets decide for this long before Redis is tried again.
REDIS_RETRY_S = 10.0
# Buckets idle this long are full again and are forgotten.
MAX_BUCKETS = 100_000


class Decision(Enum):
    """What to do with one message."""

    ALLOW = "allow"  # pass it on
    WARN = "warn"  # refuse it, and say "please slow down"
    DROP = "drop"  # refuse it silently (already told in this burst)


@dataclass
class _Bucket:
    tokens: float
    updated: float
    warned: bool = False


# In-process buckets of this process, per limit (see RateLimiter.shared).
_PROCESS_BUCKETS: dict[int, dict[str, _Bucket]] = {}


class RateLimiter:
    """Decides, per resident key, whether a message may go to the engine."""

    def __init__(
        self,
        per_minute: int,
        redis: Redis | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        buckets: dict[str, _Bucket] | None = None,
    ) -> None:
        self.per_minute = per_minute
        self._redis = redis
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {} if buckets is None else buckets
        self._redis_down_until = 0.0

    @classmethod
    def shared(cls, per_minute: int, redis: Redis | None = None) -> RateLimiter:
        """A limiter whose in-process buckets are this process's, whoever builds it
        (the web chat builds a front desk per request)."""
        return cls(per_minute, redis, buckets=_PROCESS_BUCKETS.setdefault(per_minute, {}))

    async def check(self, key: str) -> Decision:
        """Count one message of `key` and say what to do with it."""
        if self.per_minute <= 0:
            return Decision.ALLOW
        if self._redis is not None and self._clock() >= self._redis_down_until:
            try:
                return await self._check_redis(key)
            except (RedisError, OSError) as exc:
                self._redis_down_until = self._clock() + REDIS_RETRY_S
                logger.warning("ratelimit.redis_unavailable fallback=local error=%s", exc)
        return self._check_local(key)

    async def _check_redis(self, key: str) -> Decision:
        assert self._redis is not None
        window = int(time.time()) // WINDOW_S
        name = f"{KEY_PREFIX}{key}:{window}"
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.incr(name)
            pipe.expire(name, WINDOW_S * 2)
            count, _ = await pipe.execute()
        count = int(count)
        if count <= self.per_minute:
            return Decision.ALLOW
        return Decision.WARN if count == self.per_minute + 1 else Decision.DROP

    def _check_local(self, key: str) -> Decision:
        now = self._clock()
        capacity = float(self.per_minute)
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= MAX_BUCKETS:
                self._forget_full(now)
            bucket = self._buckets[key] = _Bucket(tokens=capacity, updated=now)
        else:
            refill = (now - bucket.updated) * capacity / WINDOW_S
            bucket.tokens = min(capacity, bucket.tokens + refill)
            bucket.updated = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            bucket.warned = False
            return Decision.ALLOW
        if bucket.warned:
            return Decision.DROP
        bucket.warned = True
        return Decision.WARN

    def _forget_full(self, now: float) -> None:
        """Drop buckets that have refilled completely (they hold no information)."""
        for key, bucket in list(self._buckets.items()):
            if now - bucket.updated >= WINDOW_S:
                del self._buckets[key]
        if len(self._buckets) >= MAX_BUCKETS:  # all busy: forget the oldest half
            ordered = sorted(self._buckets, key=lambda k: self._buckets[k].updated)
            for key in ordered[: len(ordered) // 2]:
                del self._buckets[key]
