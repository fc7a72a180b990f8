"""Waking the notifier after a change has written outbox rows.

The outbox in the database is the truth; a wake-up only makes the notifier look
now instead of at its next poll. In one process an asyncio.Event does it; across
processes (actions server, web workers, other bot workers) a Redis list does,
when REDIS_URL is set. A failed wake-up is logged and ignored: the poll still
drains the outbox.
"""

from __future__ import annotations

import asyncio
import logging

from redis.asyncio import Redis
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

WAKE_KEY = "orders:outbox:wake"


class Waker:
    """Signals (and, in the notifier, waits for) "the outbox has something new"."""

    def __init__(self, redis_url: str | None) -> None:
        self._local = asyncio.Event()
        self._redis: Redis | None = None
        self._blocking: Redis | None = None
        if redis_url:
            self._redis = Redis.from_url(redis_url, socket_timeout=2, socket_connect_timeout=2)
            # BLPOP blocks longer than a normal command may: no read timeout here.
            self._blocking = Redis.from_url(redis_url, socket_connect_timeout=2)

    @property
    def redis(self) -> Redis | None:
        """The Redis client (short timeouts) when REDIS_URL is set, for other small uses
        such as the rate limit; closed with the Waker."""
        return self._redis

    async def wake(self) -> None:
        """Tell every notifier to look at the outbox now."""
        self._local.set()
        if self._redis is None:
            return
        try:
            # LPUSH + LTRIM: one pending wake-up is enough, the list never grows.
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.lpush(WAKE_KEY, "1")
                pipe.ltrim(WAKE_KEY, 0, 0)
                await pipe.execute()
        except (RedisError, OSError) as exc:
            logger.warning("outbox.wake_failed error=%s", exc)

    async def wait(self, seconds: float) -> bool:
        """Wait up to `seconds` seconds for a wake-up; True if one came."""
        if self._local.is_set():
            self._local.clear()
            return True
        if self._redis is None:
            try:
                await asyncio.wait_for(self._local.wait(), seconds)
            except TimeoutError:
                return False
            self._local.clear()
            return True
        local = asyncio.create_task(self._local.wait())
        remote = asyncio.create_task(self._wait_redis(seconds))
        try:
            finished, _ = await asyncio.wait(
                {local, remote}, timeout=seconds, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            for task in (local, remote):
                task.cancel()
            await asyncio.gather(local, remote, return_exceptions=True)
        woke = local in finished or (
            remote in finished and remote.exception() is None and bool(remote.result())
        )
        self._local.clear()
        return woke

    async def _wait_redis(self, seconds: float) -> bool:
        assert self._blocking is not None
        try:
            return await self._blocking.blpop([WAKE_KEY], timeout=max(seconds, 0.1)) is not None
        except (RedisError, OSError) as exc:
            logger.warning("outbox.wake_wait_failed error=%s", exc)
            # Redis is down: fall back to the poll interval, without spinning.
            await asyncio.sleep(seconds)
            return False

    async def close(self) -> None:
        for client in (self._redis, self._blocking):
            if client is not None:
                await client.aclose()
