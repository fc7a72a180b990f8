"""Rate limits: per-resident message limits, and counters of events (failed sign-ins)
in fixed windows.

Per resident: a flood of messages from one resident is slowed down
before it reaches the engine, without touching anyone else.

In one process a token bucket per resident does it (capacity = the per-minute
limit, refilled continuously). With Redis (the Waker's client, when REDIS_URL is
set) a fixed one-minute window per resident (INCR + EXPIRE) does it across every
bot worker. If Redis fails, the in-process bucket takes over for a while: a
dead Redis never stops residents from being served.

A refused message is answered once with a polite "slow down" (`Decision.WARN`);
further refused messages in the same burst are dropped silently (`Decision.DROP`)
so the bot does not flood the resident's chat in return.

`FixedWindowCounter` counts events per key in fixed windows (e.g. failed sign-ins per
account per 15 minutes; web/login_throttle.py): INCR + EXPIRE in Redis, shared by
every worker, and the same in-process fallback as the rate limit when there is no
Redis or it fails (`RedisFallback`).
"""

from __future__ import annotations

import logging
import math
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


# The Redis client itself, or where to find it when it is created after the user of it.
RedisSource = Redis | Callable[[], Redis | None] | None


class RedisFallback:
    """When to use Redis: there is a client and it has not failed in the last
    REDIS_RETRY_S seconds. After a failure the caller's in-process state decides.
    Logs `<event>redis_unavailable` at each failure and `<event>redis_available` once
    when Redis answers again."""

    def __init__(
        self,
        redis: RedisSource,
        clock: Callable[[], float],
        event: str,
        log: logging.Logger = logger,
    ) -> None:
        self._redis = redis
        self._log = log
        self._clock = clock
        self._event = event
        self._down_until = 0.0
        self._failed = False

    def client(self) -> Redis | None:
        """The Redis client to use now, or None (no Redis, or it failed lately)."""
        if self._clock() < self._down_until:
            return None
        if self._redis is None or isinstance(self._redis, Redis):
            return self._redis
        return self._redis()

    def failed(self, exc: BaseException) -> None:
        """Redis failed: use the in-process state for the next REDIS_RETRY_S seconds."""
        self._down_until = self._clock() + REDIS_RETRY_S
        self._failed = True
        self._log.warning("%sredis_unavailable fallback=local error=%s", self._event, exc)

    def answered(self) -> None:
        """Redis answered: say so once if it had failed."""
        if self._failed:
            self._failed = False
            self._log.info("%sredis_available", self._event)


async def _incr_in_window(redis: Redis, name: str, ttl_s: int) -> int:
    """Add one to a window's counter in Redis (created with a TTL); the new count."""
    async with redis.pipeline(transaction=True) as pipe:
        pipe.incr(name)
        pipe.expire(name, ttl_s)
        count, _ = await pipe.execute()
    return int(count)


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
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {} if buckets is None else buckets
        self._fallback = RedisFallback(redis, clock, "ratelimit.")

    @classmethod
    def shared(cls, per_minute: int, redis: Redis | None = None) -> RateLimiter:
        """A limiter whose in-process buckets are this process's, whoever builds it
        (the web chat builds a front desk per request)."""
        return cls(per_minute, redis, buckets=_PROCESS_BUCKETS.setdefault(per_minute, {}))

    async def check(self, key: str) -> Decision:
        """Count one message of `key` and say what to do with it."""
        if self.per_minute <= 0:
            return Decision.ALLOW
        redis = self._fallback.client()
        if redis is not None:
            try:
                decision = await self._check_redis(redis, key)
            except (RedisError, OSError) as exc:
                self._fallback.failed(exc)
            else:
                self._fallback.answered()
                return decision
        return self._check_local(key)

    async def _check_redis(self, redis: Redis, key: str) -> Decision:
        window = int(time.time()) // WINDOW_S
        count = await _incr_in_window(redis, f"{KEY_PREFIX}{key}:{window}", WINDOW_S * 2)
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


# --- events per key in fixed windows -----------------------------------------------------


@dataclass(frozen=True)
class WindowCount:
    """One event counted by `FixedWindowCounter.add`: the key's count in its window
    (this event included), how long until the window ends, and where it was counted
    (so `undo` takes it back from the same place)."""

    key: str
    window: int
    count: int
    retry_after_s: int
    in_redis: bool


class FixedWindowCounter:
    """Counts events per key in fixed windows of `window_s` seconds.

    With Redis: `<prefix><key>:<window number>` (INCR + EXPIRE of two windows), so every
    process counts together; the window number comes from `clock` (the wall clock:
    processes agree on it). Without Redis, or for REDIS_RETRY_S after it failed: an
    in-process dict (at most `max_keys` keys; older windows are forgotten first). A
    Redis outage therefore never blocks anyone; the limit then holds per process.
    """

    def __init__(
        self,
        prefix: str,
        window_s: int,
        redis: Redis | None = None,
        *,
        clock: Callable[[], float] = time.time,
        max_keys: int = MAX_BUCKETS,
    ) -> None:
        if window_s < 1:
            raise ValueError("a window lasts at least one second")
        self.prefix = prefix
        self.window_s = window_s
        self._clock = clock
        self._max_keys = max_keys
        self._local: dict[str, tuple[int, int]] = {}  # key -> (window, count)
        self._fallback = RedisFallback(redis, clock, prefix.rstrip(":").replace(":", ".") + ".")

    def _name(self, key: str, window: int) -> str:
        return f"{self.prefix}{key}:{window}"

    def _now(self) -> tuple[int, int]:
        """The current window number, and the whole seconds until it ends (>= 1)."""
        now = self._clock()
        window = int(now // self.window_s)
        remaining = (window + 1) * self.window_s - now
        return window, max(1, math.ceil(remaining))

    async def add(self, key: str) -> WindowCount:
        """Count one event of `key` in the current window."""
        window, retry_after = self._now()
        redis = self._fallback.client()
        if redis is not None:
            try:
                count = await _incr_in_window(redis, self._name(key, window), self.window_s * 2)
            except (RedisError, OSError) as exc:
                self._fallback.failed(exc)
            else:
                self._fallback.answered()
                return WindowCount(key, window, count, retry_after, in_redis=True)
        return WindowCount(key, window, self._add_local(key, window), retry_after, in_redis=False)

    async def undo(self, counted: WindowCount) -> None:
        """Take back one event counted by `add` (e.g. an attempt that succeeded)."""
        if counted.in_redis:
            redis = self._fallback.client()
            if redis is None:
                return
            try:
                await redis.decr(self._name(counted.key, counted.window))
            except (RedisError, OSError) as exc:
                self._fallback.failed(exc)
            return
        stored = self._local.get(counted.key)
        if stored is not None and stored[0] == counted.window and stored[1] > 0:
            self._local[counted.key] = (stored[0], stored[1] - 1)

    async def clear(self, key: str) -> None:
        """Forget the key's count in the current window, in Redis and in this process."""
        window, _ = self._now()
        self._local.pop(key, None)
        redis = self._fallback.client()
        if redis is None:
            return
        try:
            await redis.delete(self._name(key, window))
        except (RedisError, OSError) as exc:
            self._fallback.failed(exc)

    def _add_local(self, key: str, window: int) -> int:
        stored = self._local.get(key)
        if stored is None or stored[0] != window:
            if stored is None and len(self._local) >= self._max_keys:
                self._forget(window)
            stored = (window, 0)
        count = stored[1] + 1
        self._local[key] = (window, count)
        return count

    def _forget(self, window: int) -> None:
        """Make room: drop keys of past windows, else the older half (insertion order)."""
        for key, (seen, _) in list(self._local.items()):
            if seen != window:
                del self._local[key]
        if len(self._local) >= self._max_keys:
            for key in list(self._local)[: len(self._local) // 2 or 1]:
                del self._local[key]
