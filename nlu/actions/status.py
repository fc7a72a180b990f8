"""The resident asks after their tickets: the list and where the newest open one stands."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy.ext.asyncio import AsyncSession

from config.settings import get_settings
from desk.render import ticket_lines
from i18n import t
from nlu.actions.common import current_resident, language, latest_user_text, transaction
from nlu.actions.named import pick_named, rank_named
from services import list_resident_tickets
from services.categories import list_categories
from services.emergency import EMERGENCY, HANDOFF
from services.models import Category, Organisation, Ticket, utcnow

Events = list[dict[str, Any]]
Domain = dict[str, Any]
# Tickets in these statuses are no longer open.
_SETTLED = frozenset({"closed", "rejected", "cancelled", "merged"})


class ActionShowStatus(Action):
    """Lists the resident's latest tickets and their statuses."""

    def name(self) -> str:
        return "action_show_status"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Domain
    ) -> Events:
        lang = language(tracker)
        async with transaction() as session:
            resident = await current_resident(session, tracker)
            tickets = await list_resident_tickets(session, resident)
            categories = await list_categories(session)
            now = utcnow()
            # The question is about the ticket the words name ("修水管的那个有人接了吗"),
            # else about the newest open one.
            unsettled = [ticket for ticket in tickets if ticket.status not in _SETTLED]
            named = pick_named(
                rank_named(
                    latest_user_text(tracker) or "",
                    tracker.latest_message.get("intent_ranking") or [],
                    unsettled,
                    categories,
                    get_settings().timezone,
                    now,
                )
            )
            asked = [named] if named is not None else tickets
            answer = await status_answer(session, asked, categories, lang, now)
        if not tickets:
            dispatcher.utter_message(response="utter_no_tickets")
            return []
        lines = ticket_lines(tickets, categories, lang, get_settings().timezone)
        dispatcher.utter_message(response="utter_status", ticket_lines=lines)
        if answer:
            # "有人接了吗": the answer about the newest open ticket, not just the list.
            dispatcher.utter_message(text=answer)
        return []


def waited(since: datetime, now: datetime, lang: str) -> str:
    """How long a ticket has waited, in the reader's words: "2 小时" / "2 h"."""
    since = since if since.tzinfo is not None else since.replace(tzinfo=UTC)
    minutes = max(1, int((now - since).total_seconds() // 60))
    if minutes >= 48 * 60:
        return t("waited_days", lang, count=minutes // (24 * 60))
    if minutes >= 60:
        return t("waited_hours", lang, count=minutes // 60)
    return t("waited_minutes", lang, count=minutes)


async def status_answer(
    session: AsyncSession,
    tickets: list[Ticket],
    categories: Mapping[str, Category],
    lang: str,
    now: datetime,
) -> str | None:
    """Where the resident's newest open ticket stands: who has it, how long it has
    waited and when the community steps in; None when no ticket is open."""
    now = now if now.tzinfo is not None else now.replace(tzinfo=UTC)
    ticket = next((ticket for ticket in tickets if ticket.status not in _SETTLED), None)
    if ticket is None:
        return None
    number = ticket.number
    if ticket.kind in (EMERGENCY, HANDOFF):
        if ticket.acknowledged_at is not None:
            return t("status_answer_emergency_seen", lang, number=number)
        return t(
            "status_answer_emergency_unseen",
            lang,
            number=number,
            waited=waited(ticket.created_at, now, lang),
        )
    if ticket.status == "done":
        return t("status_answer_done", lang, number=number)
    if ticket.status in ("claimed", "in_progress") and ticket.organisation_id is not None:
        organisation = await session.get(Organisation, ticket.organisation_id)
        name = organisation.name if organisation is not None else "-"
        return t("status_answer_taken", lang, number=number, organisation=name)
    if ticket.status == "submitted":
        return t(
            "status_answer_review",
            lang,
            number=number,
            waited=waited(ticket.created_at, now, lang),
        )
    since = ticket.published_at or ticket.created_at
    category = categories.get(ticket.category_code or "")
    hours = category.sla_claim_hours if category is not None else 4
    overdue = now - (since if since.tzinfo is not None else since.replace(tzinfo=UTC)) > (
        timedelta(hours=hours)
    )
    return t(
        "status_answer_overdue" if overdue else "status_answer_waiting",
        lang,
        number=number,
        waited=waited(since, now, lang),
        hours=hours,
    )
