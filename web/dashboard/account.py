"""A staff member changes their own web password (`/dashboard/password`).

The current password is asked and checked through the sign-in throttle (a wrong one
counts as a failed sign-in of the account); the new one must pass
`services.parties.password_problem` and be typed twice. On success every other
session of the staff member ends; this one continues. See docs/dashboard.md.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from i18n import t
from services.models import Staff
from services.parties import password_matches, set_staff_password
from web.login_throttle import (
    account_key,
    client_ip,
    throttled_sentence,
    with_retry_after,
)
from web.pages import language, render, see_other, transaction
from web.password_change import MAX_FIELD, form_context, new_password_problem
from web.sessions import Csrf, StaffMember, current_session, end_other_sessions
from web.state import request_state

router = APIRouter(include_in_schema=False)
PAGE = "/dashboard/password"


def _page(
    request: Request, *, flash: str | None = None, kind: str = "ok", status: int = 200
) -> Response:
    context = form_context(
        action=PAGE, needs_current=True, current_label="account_current_password"
    )
    return render(
        request,
        "dashboard/password.html",
        {**context, "flash": flash, "flash_kind": kind},
        status=status,
    )


@router.get(PAGE)
async def password_page(
    request: Request, staff: StaffMember, changed: str | None = None
) -> Response:
    """The form: current password, new password twice."""
    flash = t("account_password_changed", language(request)) if changed else None
    return _page(request, flash=flash)


@router.post(PAGE, dependencies=[Csrf])
async def change_password(
    request: Request,
    staff: StaffMember,
    current_password: Annotated[str, Form(max_length=MAX_FIELD)] = "",
    new_password: Annotated[str, Form(max_length=MAX_FIELD)] = "",
    confirm: Annotated[str, Form(max_length=MAX_FIELD)] = "",
) -> Response:
    """Check the current password (throttled like a sign-in), store the new one and
    end the staff member's other sessions."""
    lang = language(request)
    problem = new_password_problem(new_password, confirm, name=staff.name, language=lang)
    if problem is not None:
        return _page(request, flash=problem, kind="error", status=400)
    throttle = request_state(request).login_throttle
    attempt = await throttle.begin(account=account_key("staff", staff.name), ip=client_ip(request))
    if attempt.refused:
        sentence = throttled_sentence(attempt, lang)
        return with_retry_after(_page(request, flash=sentence, kind="error", status=429), attempt)
    signed_in = await current_session(request)
    assert signed_in is not None
    async with transaction(request) as session:
        fresh = await session.get(Staff, staff.id)
        if fresh is None or not await password_matches(fresh.password_hash, current_password):
            wrong = t("account_password_wrong_current", lang)
            return _page(request, flash=wrong, kind="error", status=400)
        await set_staff_password(session, fresh, new_password)
        await end_other_sessions(session, signed_in)
    await throttle.succeeded(attempt)
    return see_other(f"{PAGE}?changed=1")
