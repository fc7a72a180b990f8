"""`orders`: the command line of Resident Orders."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from config.settings import Settings, SettingsError, load_settings

app = typer.Typer(
    help="Resident Orders: residents order community services in chat.",
    no_args_is_help=True,
    add_completion=False,
)


def _settings() -> Settings:
    try:
        return load_settings()
    except SettingsError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None


def _logging() -> None:
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)


@app.command()
def up(
    no_bot: Annotated[bool, typer.Option("--no-bot", help="Leave the Telegram front off.")] = False,
    no_web: Annotated[bool, typer.Option("--no-web", help="Leave the web process off.")] = False,
) -> None:
    """Start every process (engine, actions, web, Telegram bot) in the foreground."""
    from app.supervisor import run_foreground

    raise typer.Exit(run_foreground(_settings(), with_bot=not no_bot, with_web=not no_web))


@app.command()
def bot(
    webhook: Annotated[
        bool | None,
        typer.Option(
            "--webhook/--polling",
            help="Receive updates by webhook (a worker behind a load balancer) or by long "
            "polling; default: BOT_MODE.",
        ),
    ] = None,
) -> None:
    """Run the Telegram front alone (long polling, or a webhook worker on BOT_HOST:BOT_PORT
    with BOT_MODE=webhook); `orders up` runs it for you."""
    settings = _settings()
    if not settings.telegram_bot_token:
        typer.echo(
            "TELEGRAM_BOT_TOKEN is not set: get a token from @BotFather and export it.", err=True
        )
        raise typer.Exit(2)
    use_webhook = settings.bot_mode == "webhook" if webhook is None else webhook
    if use_webhook and (problem := settings.webhook_problem()):
        typer.echo(problem, err=True)
        raise typer.Exit(2)
    _logging()
    if use_webhook:
        from bot.app import run_webhook

        raise typer.Exit(run_webhook(settings))
    from bot.app import run_polling

    run_polling(settings)


@app.command()
def rasa() -> None:
    """Run one Rasa engine replica alone on RASA_HOST:RASA_PORT (its actions at
    ACTIONS_HOST:ACTIONS_PORT); trains first if there is no model. For process managers
    (deploy/Procfile.scaled); `orders up` runs the engine for you."""
    import os

    from nlu.tooling.engine import EngineError, engine_env, ensure_model, rasa_command

    settings = _settings()
    try:
        command = rasa_command(settings, ensure_model(settings))
    except EngineError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    os.execve(command[0], command, engine_env())


@app.command()
def actions() -> None:
    """Run one action server replica alone on ACTIONS_HOST:ACTIONS_PORT (for process
    managers; `orders up` runs it for you)."""
    import os

    from nlu.tooling.engine import actions_command, actions_env

    settings = _settings()
    command = actions_command(settings)
    os.execve(command[0], command, actions_env(settings))


@app.command()
def web() -> None:
    """Run the web process alone (JSON API, /healthz) on WEB_HOST:WEB_PORT; it does not
    migrate: `orders up` (or `orders migrate`) does that first."""
    settings = _settings()
    _logging()
    from web.app import run

    run(settings)


def chat_notice(settings: Settings) -> str | None:
    """What `orders chat` says before it starts (a catalogue key): nothing when a stack
    is running, "training the model" only when there is no model for the current training
    data (the first run, or after it changed), else just "starting"."""
    from app.supervisor import stack_ready
    from nlu.tooling.engine import model_path

    if stack_ready(settings):
        return None
    return "chat_starting" if model_path(settings).exists() else "chat_starting_training"


@app.command()
def chat(user: Annotated[str, typer.Option("--user", help="Terminal resident id.")] = "me") -> None:
    """Chat as a resident in the terminal (starts the engine if none is running)."""
    from app.supervisor import running_stack
    from i18n import t
    from terminal.chat import chat as run_chat

    settings = _settings()
    notice = chat_notice(settings)
    if notice is not None:
        typer.echo(t(notice, "zh") + " / " + t(notice, "en"), err=True)
    with running_stack(settings, with_bot=True, log=settings.data_dir / "logs" / "stack.log"):
        asyncio.run(run_chat(settings, user, sys.stdin, sys.stdout))


@contextmanager
def _exact_stack(settings: Settings) -> Iterator[None]:
    """The stack for commands whose answers must come from the current model."""
    from app.supervisor import StaleEngine, running_stack

    log = settings.data_dir / "logs" / "stack.log"
    try:
        with running_stack(settings, with_bot=False, log=log, exact_model=True):
            yield
    except StaleEngine as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(1) from None


@app.command()
def classify() -> None:
    """Classify one message per stdin line; print one JSON object per line."""
    from nlu.tooling.classify import classify as run_classify

    settings = _settings()
    with _exact_stack(settings):
        asyncio.run(run_classify(settings))


@app.command("evaluate-nlu")
def evaluate_nlu(
    output: Annotated[
        Path | None, typer.Option("--json", help="Also write the report here.")
    ] = None,
) -> None:
    """Score the production model on the held-out set (nlu/heldout) and time it.

    Prints the headline numbers; the full report (per-class F1, confusions, the
    emergency errors) goes to --json, which people writing training data should not
    read: it quotes held-out messages.
    """
    from nlu.tooling.evaluate import evaluate, load_heldout, summary

    settings = _settings()
    with _exact_stack(settings):
        report = asyncio.run(evaluate(settings.rasa_url, load_heldout()))
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(report, ensure_ascii=False, indent=2)
        output.write_text(text + "\n", encoding="utf-8")
    else:
        # Without a report file, per-class scores and confusions go to the terminal too.
        typer.echo(json.dumps(report["languages"], ensure_ascii=False, indent=2))
    typer.echo(summary(report))


@app.command()
def train() -> None:
    """Train the Rasa model if the training data changed (cached by content hash)."""
    from nlu.tooling.engine import ensure_model

    typer.echo(str(ensure_model(_settings())))


@app.command()
def migrate() -> None:
    """Create or upgrade the database to the latest schema."""
    from services import prepare_database

    asyncio.run(prepare_database(_settings().db_url))


@app.command()
def purge(
    days: Annotated[
        int | None,
        typer.Option("--days", min=1, help="Retention in days (default: PII_RETENTION_DAYS)."),
    ] = None,
) -> None:
    """Erase residents' phone, exact address, location and photo from tickets that
    ended more than PII_RETENTION_DAYS days ago (the bot's notifier also does it hourly)."""
    from i18n import t
    from services import make_engine, make_sessionmaker, prepare_database
    from services.retention import purge_pii

    settings = _settings()
    _logging()

    async def run() -> int:
        await prepare_database(settings.db_url)
        engine = make_engine(settings.db_url)
        try:
            async with make_sessionmaker(engine)() as session, session.begin():
                result = await purge_pii(
                    session,
                    retention_days=days or settings.pii_retention_days,
                    photos_dir=settings.photos_dir,
                )
        finally:
            await engine.dispose()
        return result.tickets

    tickets = asyncio.run(run())
    typer.echo(
        t("purge_done", "zh", tickets=tickets) + " / " + t("purge_done", "en", tickets=tickets)
    )


def _register_admin() -> None:
    from app.admin_cli import apikey_app, org_app, staff_app

    app.add_typer(org_app, name="org")
    app.add_typer(staff_app, name="staff")
    app.add_typer(apikey_app, name="apikey")


_register_admin()


def main() -> None:
    """Entry point of the `orders` script."""
    app()


if __name__ == "__main__":
    main()
