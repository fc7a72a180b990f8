"""Who is chatting on the web chat page, and whether the request may act for them.

A resident of the web chat is a random id in a signed cookie: no login, and a
cookie that does not verify (edited, or signed with another secret) is simply a
new resident. The key is the `WEB_SECRET` setting, else a secret generated once
and kept in `data_dir/web_secret`, so a restart keeps every resident.

The chat's JSON endpoints are authenticated by that cookie alone, so every one of
them requires the `X-Orders-Chat` header (a page of another site cannot send a
custom header without a CORS preflight, which this app never grants) and refuses a
request whose Origin or Sec-Fetch-Site says it comes from another site.
"""

from __future__ import annotations

import os
import secrets
import uuid
from functools import lru_cache
from pathlib import Path

from fastapi import Request, Response
from itsdangerous import BadSignature, URLSafeSerializer

from config.settings import Settings

COOKIE = "ro_chat"
COOKIE_MAX_AGE = 365 * 24 * 3600
CSRF_HEADER = "X-Orders-Chat"
SECRET_FILE = "web_secret"
_SALT = "orders.web-chat.resident"


def web_secret(settings: Settings) -> str:
    """WEB_SECRET, else the generated one kept under the data folder."""
    if settings.web_secret:
        return settings.web_secret
    return _stored_secret(settings.data_dir.resolve())


@lru_cache(maxsize=8)
def _stored_secret(data_dir: Path) -> str:
    path = data_dir / SECRET_FILE
    try:
        return _read(path)
    except FileNotFoundError:
        pass
    data_dir.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    try:
        # O_EXCL: of two processes starting together, one writes and both read its secret.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read(path)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(secret + "\n")
    return secret


def _read(path: Path) -> str:
    secret = path.read_text(encoding="ascii").strip()
    if not secret:
        raise RuntimeError(f"{path} is empty: delete it (a new secret is made) or set WEB_SECRET")
    return secret


def _serializer(settings: Settings) -> URLSafeSerializer:
    return URLSafeSerializer(web_secret(settings), salt=_SALT)


def resident_in_cookie(cookie: str | None, settings: Settings) -> str | None:
    """The resident id a cookie value carries, or None when it does not verify."""
    if not cookie:
        return None
    try:
        value = _serializer(settings).loads(cookie)
    except BadSignature:
        return None
    return value if isinstance(value, str) and _valid_id(value) else None


def resident_of(request: Request, settings: Settings) -> tuple[str, bool]:
    """The resident id of this browser and whether it is new (the cookie must be set)."""
    found = resident_in_cookie(request.cookies.get(COOKIE), settings)
    if found is not None:
        return found, False
    return uuid.uuid4().hex, True


def _valid_id(value: str) -> bool:
    return len(value) == 32 and all(ch in "0123456789abcdef" for ch in value)


def set_resident_cookie(
    response: Response, request: Request, settings: Settings, resident_id: str
) -> None:
    """Remember the resident in this browser for a year (HttpOnly, SameSite=Lax)."""
    response.set_cookie(
        COOKIE,
        _serializer(settings).dumps(resident_id),
        max_age=COOKIE_MAX_AGE,
        path="/chat",
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )


def same_site_request(request: Request) -> bool:
    """True when the request carries the chat's header and no sign of another site."""
    if not request.headers.get(CSRF_HEADER):
        return False
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None and fetch_site not in ("same-origin", "none"):
        return False
    origin = request.headers.get("origin")
    if origin is not None and origin != "null":
        host = request.headers.get("host", "")
        return origin.split("://", 1)[-1] == host
    return origin is None


def accept_language(header: str | None) -> str | None:
    """The client's preferred language tag from Accept-Language (highest q first)."""
    if not header:
        return None
    best: tuple[float, int, str] | None = None
    for index, part in enumerate(header.split(",")):
        tag, _, params = part.strip().partition(";")
        tag = tag.strip()
        if not tag or tag == "*":
            continue
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if quality <= 0:
            continue
        candidate = (-quality, index, tag)
        if best is None or candidate < best:
            best = candidate
    return best[2] if best else None
