"""Signing staff in and out, and the interface language switch."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from i18n import normalise_language
from services.management import authenticate_staff, set_staff_language
from web.login_throttle import account_key, client_ip, throttled_sentence, with_retry_after
from web.pages import render, safe_next, see_other, transaction
from web.sessions import (
    LANGUAGE_COOKIE,
    Csrf,
    current_session,
    end_session,
    is_https,
    request_language,
    set_anonymous_csrf_cookie,
    set_session_cookie,
    set_session_language,
    start_session,
)
from web.state import request_state

router = APIRouter(include_in_schema=False)
MAX_FIELD = 200


@router.get("/login")
async def login_page(request: Request, next: str | None = None) -> Response:
    """Show the sign-in form (a signed-in staff member goes straight on)."""
    signed_in = await current_session(request)
    if signed_in is not None and signed_in.staff is not None:
        return see_other(safe_next(next))
    response = render(request, "dashboard/login.html", {"next": safe_next(next)})
    set_anonymous_csrf_cookie(response, request)
    return response


@router.post("/login", dependencies=[Csrf])
async def login(
    request: Request,
    name: Annotated[str, Form(max_length=MAX_FIELD)] = "",
    password: Annotated[str, Form(max_length=MAX_FIELD)] = "",
    next: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """Check the name and password; start a new session (never reuse the old one).
    Over the failed sign-in limit of the name or the IP: 429, no password checked."""
    throttle = request_state(request).login_throttle
    attempt = await throttle.begin(account=account_key("staff", name), ip=client_ip(request))
    if attempt.refused:
        refused = with_retry_after(
            render(
                request,
                "dashboard/login.html",
                {
                    "next": safe_next(next),
                    "throttled": throttled_sentence(attempt, request_language(request)),
                    "name": name,
                },
                status=429,
            ),
            attempt,
        )
        set_anonymous_csrf_cookie(refused, request)
        return refused
    async with transaction(request) as session:
        staff = await authenticate_staff(session, name, password)
        if staff is None:
            failed = render(
                request,
                "dashboard/login.html",
                {"next": safe_next(next), "failed": True, "name": name},
                status=400,
            )
            set_anonymous_csrf_cookie(failed, request)
            return failed
        response = see_other(safe_next(next))
        await end_session(session, request)  # a new id at sign-in: no session fixation
        session_id = await start_session(session, staff=staff)
    await throttle.succeeded(attempt)
    set_session_cookie(response, request, session_id)
    return response


@router.post("/logout", dependencies=[Csrf])
async def logout(request: Request) -> Response:
    """End the session; back to the right sign-in page."""
    signed_in = await current_session(request)
    target = "/org/login" if signed_in is not None and signed_in.organisation else "/login"
    response = see_other(target)
    async with transaction(request) as session:
        await end_session(session, request, response)
    return response


def _remember_language(request: Request, response: Response, language: str) -> None:
    response.set_cookie(
        LANGUAGE_COOKIE,
        language,
        max_age=365 * 24 * 3600,
        httponly=True,
        samesite="lax",
        secure=is_https(request),
        path="/",
    )


@router.get("/lang")
async def switch_language_anonymous(
    request: Request, to: str = "zh", next: str | None = None
) -> Response:
    """Before sign-in: remember the chosen language in a cookie (nothing stored)."""
    response = see_other(safe_next(next, "/login"))
    language = normalise_language(to)
    if language:
        _remember_language(request, response, language)
    return response


@router.post("/lang", dependencies=[Csrf])
async def switch_language(
    request: Request,
    to: Annotated[str, Form(max_length=10)] = "zh",
    next: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """Signed in: the session's language, and a staff member's remembered choice."""
    response = see_other(safe_next(next))
    language = normalise_language(to)
    if not language:
        return response
    signed_in = await current_session(request)
    if signed_in is not None:
        async with transaction(request) as session:
            await set_session_language(session, signed_in.id_hash, language)
            if signed_in.staff is not None:
                await set_staff_language(session, signed_in.staff.id, language)
    _remember_language(request, response, language)
    return response
