"""Throttling of failed web sign-ins: staff (/login), organisations (/org/login), and
the current password asked by the password-change forms.

Every attempt is counted per client IP and, when a name is typed, per account (the
name as typed, case-folded, hashed) in fixed windows (`adapters.ratelimit.
FixedWindowCounter`: Redis across web workers when REDIS_URL is set, else, or while
Redis fails, this process's memory). An attempt over either limit is refused before
any password is checked (429 with Retry-After). A successful attempt takes its count
back: the account's failures are cleared and its IP count is undone, so only
failures add up. Counting before checking (rather than after a failure) means a burst
of parallel guesses cannot slip past the limit while the first ones are verified.

Logs carry the account's hash or the IP, never a name or a password. See
docs/dashboard.md ("Sign-in throttling").
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from fastapi import Request
from fastapi.responses import Response
from redis.asyncio import Redis

from adapters.ratelimit import FixedWindowCounter, WindowCount
from i18n import t

logger = logging.getLogger(__name__)

ResponseT = TypeVar("ResponseT", bound=Response)

ACCOUNT_PREFIX = "orders:login:account:"
IP_PREFIX = "orders:login:ip:"


def account_key(kind: str, name: str) -> str | None:
    """The counter key of an account name as typed ("staff" or "org" names): the
    SHA-256 of the kind and the case-folded name (no name in Redis or in logs)."""
    folded = name.strip().casefold()
    if not folded:
        return None
    return hashlib.sha256(f"{kind}:{folded}".encode()).hexdigest()[:24]


def client_ip(request: Request) -> str | None:
    """The browser's IP address as the server saw it (behind a proxy: uvicorn's
    --proxy-headers / FORWARDED_ALLOW_IPS decide whether X-Forwarded-For is used)."""
    return request.client.host if request.client is not None else None


@dataclass(frozen=True)
class Attempt:
    """One counted sign-in attempt; `retry_after_s` > 0 when it is refused."""

    account: WindowCount | None
    ip: WindowCount | None
    retry_after_s: int = 0

    @property
    def refused(self) -> bool:
        return self.retry_after_s > 0

    @property
    def retry_after_minutes(self) -> int:
        """The wait in whole minutes, rounded up (at least 1), for the sentence."""
        return max(1, math.ceil(self.retry_after_s / 60))


class LoginThrottle:
    """Failed sign-ins per account and per IP in fixed windows of `window_s` seconds."""

    def __init__(
        self,
        *,
        per_account: int,
        per_ip: int,
        window_s: int,
        redis: Redis | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.per_account = per_account
        self.per_ip = per_ip
        self.window_s = window_s
        self._accounts = FixedWindowCounter(ACCOUNT_PREFIX, window_s, redis, clock=clock)
        self._ips = FixedWindowCounter(IP_PREFIX, window_s, redis, clock=clock)

    async def begin(self, *, account: str | None, ip: str | None) -> Attempt:
        """Count an attempt as a failure until `succeeded` takes it back; refused when
        the IP or the account is over its limit (then check no password)."""
        by_ip = await self._ips.add(ip) if ip else None
        if by_ip is not None and by_ip.count > self.per_ip:
            logger.warning("login.throttled scope=ip ip=%s retry_after=%d", ip, by_ip.retry_after_s)
            return Attempt(None, by_ip, by_ip.retry_after_s)
        by_account = await self._accounts.add(account) if account else None
        if by_account is not None and by_account.count > self.per_account:
            logger.warning(
                "login.throttled scope=account account=%s retry_after=%d",
                account,
                by_account.retry_after_s,
            )
            return Attempt(by_account, by_ip, by_account.retry_after_s)
        return Attempt(by_account, by_ip)

    async def succeeded(self, attempt: Attempt) -> None:
        """The password (or token) was right: clear the account's failures and take
        the attempt back from its IP's count."""
        if attempt.ip is not None:
            await self._ips.undo(attempt.ip)
        if attempt.account is not None:
            await self._accounts.clear(attempt.account.key)


def with_retry_after(response: ResponseT, attempt: Attempt) -> ResponseT:
    """The page answering a refused attempt, with its Retry-After header."""
    response.headers["Retry-After"] = str(attempt.retry_after_s)
    return response


def throttled_sentence(attempt: Attempt, language: str) -> str:
    """The refusal in the viewer's language ("… Please try again in N minutes.")."""
    minutes = attempt.retry_after_minutes
    if minutes == 1:
        return t("account_login_throttled_one", language)
    return t("account_login_throttled", language, minutes=minutes)
