"""`orders org …`, `orders staff …` and `orders apikey …`: creating organisations, staff
members and Open311 API keys.

Each prints a one-time Telegram link code and, on its last line, the API token
(DESIGN.md's contract: scripts read the token from the last line).
"""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from config.settings import Settings, SettingsError, load_settings
from services import make_engine, make_sessionmaker, prepare_database
from services.api_clients import create_api_key
from services.errors import NotFound, UnknownCategory
from services.models import Community
from services.parties import (
    MIN_PASSWORD_LENGTH,
    Credentials,
    Role,
    create_organisation,
    create_staff,
)

org_app = typer.Typer(help="Social organisations that claim and deliver tickets.")
staff_app = typer.Typer(help="Community staff members.")
apikey_app = typer.Typer(help="API keys of Open311 clients (POST requests needs one).")


def _settings() -> Settings:
    try:
        return load_settings()
    except SettingsError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None


def _split(value: str) -> list[str]:
    return [part.strip() for part in value.replace("，", ",").split(",") if part.strip()]


async def _community_ids(settings: Settings, names: list[str]) -> list[int]:
    """Community ids from ids or names (Chinese or English)."""
    engine = make_engine(settings.db_url)
    try:
        async with make_sessionmaker(engine)() as session:
            communities = list(await session.scalars(select(Community)))
    finally:
        await engine.dispose()
    ids = []
    for name in names:
        match = [
            c
            for c in communities
            if name in (str(c.id), c.name_zh) or name.casefold() == c.name_en.casefold()
        ]
        if not match:
            known = ", ".join(f"{c.id}={c.name_zh}" for c in communities)
            raise typer.BadParameter(f"unknown community {name!r}; known: {known}")
        ids.append(match[0].id)
    return ids


def _print(credentials: Credentials, what: str) -> None:
    typer.echo(f"Telegram link code (send /link {credentials.link_code} to the bot):")
    typer.echo(credentials.link_code)
    typer.echo(f"{what} API token (shown once; keep it secret):")
    typer.echo(credentials.token)


@org_app.command("add")
def org_add(
    name: Annotated[str, typer.Option("--name", help="The organisation's name.")],
    categories: Annotated[
        str, typer.Option("--categories", help="Category codes it serves, e.g. repair,elder_care")
    ],
    communities: Annotated[
        str, typer.Option("--communities", help="'all', or community ids/names, comma-separated")
    ] = "all",
    contact: Annotated[str | None, typer.Option("--contact", help="Contact person/phone")] = None,
    language: Annotated[str, typer.Option("--language", help="zh or en")] = "zh",
) -> None:
    """Create an organisation; prints its link code and, last, its API token."""
    settings = _settings()
    if language not in ("zh", "en"):
        raise typer.BadParameter("--language must be zh or en")

    async def run() -> Credentials:
        await prepare_database(settings.db_url)
        serves_all = communities.strip().lower() == "all"
        ids = None if serves_all else await _community_ids(settings, _split(communities))
        engine = make_engine(settings.db_url)
        try:
            async with make_sessionmaker(engine)() as session, session.begin():
                _, credentials = await create_organisation(
                    session,
                    name=name,
                    categories=_split(categories),
                    communities=ids,
                    contact=contact,
                    language=language,
                )
        finally:
            await engine.dispose()
        return credentials

    try:
        credentials = asyncio.run(run())
    except (UnknownCategory, NotFound, ValueError) as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    _print(credentials, "Organisation")


@staff_app.command("add")
def staff_add(
    name: Annotated[str, typer.Option("--name", help="The staff member's name (their login).")],
    role: Annotated[Role, typer.Option("--role", help="admin: everything; staff: communities")],
    communities: Annotated[
        str, typer.Option("--communities", help="Community ids/names (role staff)")
    ] = "",
    password: Annotated[
        str | None, typer.Option("--password", help="Web password (prompted if omitted)")
    ] = None,
    language: Annotated[str, typer.Option("--language", help="zh or en")] = "zh",
) -> None:
    """Create a staff member; prints a link code and, last, the staff API token."""
    settings = _settings()
    if password is None:
        password = typer.prompt("Web password", hide_input=True, confirmation_prompt=True)
    if len(password) < MIN_PASSWORD_LENGTH:
        typer.echo(f"The password needs at least {MIN_PASSWORD_LENGTH} characters.", err=True)
        raise typer.Exit(2)

    async def run() -> Credentials:
        await prepare_database(settings.db_url)
        ids = await _community_ids(settings, _split(communities))
        engine = make_engine(settings.db_url)
        try:
            async with make_sessionmaker(engine)() as session, session.begin():
                _, credentials = await create_staff(
                    session,
                    name=name,
                    role=role,
                    communities=ids,
                    password=password,
                    language=language,
                )
        finally:
            await engine.dispose()
        return credentials

    try:
        credentials = asyncio.run(run())
    except (NotFound, ValueError) as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    except IntegrityError:
        typer.echo(f"A staff member named {name!r} already exists.", err=True)
        raise typer.Exit(2) from None
    _print(credentials, "Staff")


@apikey_app.command("add")
def apikey_add(
    name: Annotated[str, typer.Option("--name", help="Who the key is for (unique).")],
) -> None:
    """Create an Open311 API key; prints it, shown once, on the last line."""
    settings = _settings()

    async def run() -> str:
        await prepare_database(settings.db_url)
        engine = make_engine(settings.db_url)
        try:
            async with make_sessionmaker(engine)() as session, session.begin():
                _, secret = await create_api_key(session, name=name)
        finally:
            await engine.dispose()
        return secret

    try:
        secret = asyncio.run(run())
    except ValueError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    except IntegrityError:
        typer.echo(f"An API key named {name!r} already exists.", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"Open311 API key for {name.strip()} (shown once; keep it secret):")
    typer.echo(secret)
