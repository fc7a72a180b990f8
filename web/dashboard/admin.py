"""Admin pages: organisations (create, edit, suspend), categories (review flag, SLA
hours, unit price) and staff members (list, create)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.exc import IntegrityError
from starlette.datastructures import FormData

from services import matching
from services.errors import InvalidInput, NotFound, UnknownCategory
from services.management import (
    CategorySettings,
    list_categories,
    list_communities,
    list_staff,
    parse_unit_price,
    update_category,
    update_organisation,
)
from services.parties import (
    MIN_PASSWORD_LENGTH,
    Role,
    create_organisation,
    create_staff,
    get_organisation,
    set_organisation_active,
)
from web.pages import error_page, flash_text, parse_int, render, see_other, transaction
from web.sessions import Admin, Csrf, end_sessions_of

router = APIRouter(include_in_schema=False)
MAX_NAME = 128


def _text(form: FormData, name: str, limit: int = MAX_NAME) -> str:
    value = form.get(name)
    return value.replace("\x00", "").strip()[:limit] if isinstance(value, str) else ""


def _codes(form: FormData, name: str) -> list[str]:
    return [v for v in form.getlist(name) if isinstance(v, str) and v]


def _ids(form: FormData, name: str) -> list[int]:
    return [i for v in form.getlist(name) if isinstance(v, str) and (i := parse_int(v))]


def _language(form: FormData) -> str:
    return "en" if form.get("language") == "en" else "zh"


async def _choices(request: Request) -> dict[str, Any]:
    async with transaction(request) as session:
        return {
            "categories": await list_categories(session),
            "communities": await list_communities(session),
        }


# --- organisations ------------------------------------------------------------------------


@router.get("/dashboard/organisations")
async def organisations_page(request: Request, admin: Admin, error: str | None = None) -> Response:
    """Every organisation with its standing, and the form to add one."""
    async with transaction(request) as session:
        table = await matching.organisation_table(session)
    return render(
        request,
        "dashboard/organisations.html",
        {
            "table": table,
            **(await _choices(request)),
            "flash": flash_text(request),
            "error": error,
        },
    )


@router.post("/dashboard/organisations", dependencies=[Csrf])
async def create_organisation_form(request: Request, admin: Admin) -> Response:
    """Create an organisation; its link code and API token are shown once."""
    form = await request.form()
    name = _text(form, "name")
    if not name or not _codes(form, "categories"):
        return see_other("/dashboard/organisations?error=1")
    communities = None if form.get("all_communities") == "1" else _ids(form, "communities")
    try:
        async with transaction(request) as session:
            organisation, credentials = await create_organisation(
                session,
                name=name,
                categories=_codes(form, "categories"),
                communities=communities,
                contact=_text(form, "contact") or None,
                language=_language(form),
            )
    except (UnknownCategory, NotFound, InvalidInput):
        return see_other("/dashboard/organisations?error=1")
    return render(
        request,
        "dashboard/credentials.html",
        {"name": organisation.name, "credentials": credentials, "back": "/dashboard/organisations"},
    )


@router.get("/dashboard/organisations/{organisation_id}")
async def organisation_page(request: Request, organisation_id: int, admin: Admin) -> Response:
    """The edit form of one organisation."""
    try:
        async with transaction(request) as session:
            organisation = await get_organisation(session, organisation_id)
    except NotFound:
        return error_page(request, 404, "dash_err_not_found")
    return render(
        request,
        "dashboard/organisation.html",
        {
            "o": organisation,
            "served": {c.code for c in organisation.categories},
            "places": {c.id for c in organisation.communities},
            **(await _choices(request)),
            "flash": flash_text(request),
            "error": request.query_params.get("error"),
        },
    )


@router.post("/dashboard/organisations/{organisation_id}", dependencies=[Csrf])
async def edit_organisation(request: Request, organisation_id: int, admin: Admin) -> Response:
    """Save an organisation's name, contact, categories and communities."""
    form = await request.form()
    page = f"/dashboard/organisations/{organisation_id}"
    communities = None if form.get("all_communities") == "1" else _ids(form, "communities")
    try:
        async with transaction(request) as session:
            await update_organisation(
                session,
                organisation_id,
                name=_text(form, "name"),
                contact=_text(form, "contact") or None,
                categories=_codes(form, "categories"),
                communities=communities,
            )
    except NotFound:
        return error_page(request, 404, "dash_err_not_found")
    except (UnknownCategory, InvalidInput):
        return see_other(f"{page}?error=1")
    return see_other(f"{page}?done=dash_done_saved")


@router.post("/dashboard/organisations/{organisation_id}/active", dependencies=[Csrf])
async def suspend_organisation(request: Request, organisation_id: int, admin: Admin) -> Response:
    """Suspend (no offers, no sign-in, tokens refused) or reactivate an organisation."""
    form = await request.form()
    active = form.get("active") == "1"
    try:
        async with transaction(request) as session:
            organisation = await get_organisation(session, organisation_id)
            await set_organisation_active(session, organisation, active)
            if not active:
                await end_sessions_of(session, organisation_id=organisation_id)
    except NotFound:
        return error_page(request, 404, "dash_err_not_found")
    done = "dash_done_reactivated" if active else "dash_done_suspended"
    return see_other(f"/dashboard/organisations/{organisation_id}?done={done}")


# --- categories ---------------------------------------------------------------------------


@router.get("/dashboard/categories")
async def categories_page(request: Request, admin: Admin) -> Response:
    """Every category with its review flag, SLAs and unit price, editable."""
    async with transaction(request) as session:
        categories = await list_categories(session)
    return render(
        request,
        "dashboard/categories.html",
        {
            "categories": categories,
            "flash": flash_text(request),
            "error": request.query_params.get("error"),
        },
    )


@router.post("/dashboard/categories/{code}", dependencies=[Csrf])
async def edit_category(request: Request, code: str, admin: Admin) -> Response:
    """Save one category's settings."""
    form = await request.form()
    claim = parse_int(_text(form, "sla_claim_hours"))
    done = parse_int(_text(form, "sla_done_hours"))
    try:
        if claim is None or done is None:
            raise InvalidInput("hours must be whole numbers")
        settings = CategorySettings(
            needs_review=form.get("needs_review") == "1",
            sla_claim_hours=claim,
            sla_done_hours=done,
            unit_price=parse_unit_price(_text(form, "unit_price")),
        )
        async with transaction(request) as session:
            await update_category(session, code, settings)
    except UnknownCategory:
        return error_page(request, 404, "dash_err_not_found")
    except InvalidInput:
        return see_other(f"/dashboard/categories?error={code}")
    return see_other("/dashboard/categories?done=dash_done_saved")


# --- staff --------------------------------------------------------------------------------


@router.get("/dashboard/staff")
async def staff_page(request: Request, admin: Admin) -> Response:
    """Every staff member, and the form to add one."""
    async with transaction(request) as session:
        members = await list_staff(session)
    return render(
        request,
        "dashboard/staff.html",
        {
            "members": members,
            **(await _choices(request)),
            "error": request.query_params.get("error"),
            "min_password": MIN_PASSWORD_LENGTH,
        },
    )


@router.post("/dashboard/staff", dependencies=[Csrf])
async def create_staff_form(request: Request, admin: Admin) -> Response:
    """Create a staff member with a web password; link code and API token shown once."""
    form = await request.form()
    name = _text(form, "name")
    password = _text(form, "password", 200)
    role = Role.ADMIN if form.get("role") == Role.ADMIN.value else Role.STAFF
    if not name or len(password) < MIN_PASSWORD_LENGTH:
        return see_other("/dashboard/staff?error=1")
    try:
        async with transaction(request) as session:
            staff, credentials = await create_staff(
                session,
                name=name,
                role=role,
                communities=_ids(form, "communities"),
                password=password,
                language=_language(form),
            )
    except IntegrityError:  # the name is taken
        return see_other("/dashboard/staff?error=1")
    except (NotFound, InvalidInput):
        return see_other("/dashboard/staff?error=1")
    return render(
        request,
        "dashboard/credentials.html",
        {"name": staff.name, "credentials": credentials, "back": "/dashboard/staff"},
    )
