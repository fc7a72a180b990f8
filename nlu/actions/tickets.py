"""Summary, submission, status and cancellation: the actions that touch tickets."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActiveLoop, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from adapters.engine_client import payload
from config.settings import get_settings
from desk.render import CANCELLABLE, age, category_name, local_time, place, ticket_lines
from i18n import has_key, status_name, t
from nlu.actions.clarify import offer_categories
from nlu.actions.common import (
    CATEGORIES,
    clear_request,
    current_resident,
    language,
    latest_user_text,
    transaction,
    wake_notifier,
)
from nlu.actions.named import (
    pick_named,
    rank_named,
    sounds_like_rating,
    sounds_not_fixed,
    stars_in,
    ticket_choice,
)
from services import file_ticket, list_resident_tickets
from services.categories import list_categories
from services.communities import building_of
from services.emergency import EMERGENCY, HANDOFF
from services.errors import ServiceError
from services.models import Category, Community, Organisation, Ticket, utcnow
from services.parsing import display_phone
from services.workflow import find_duplicates, follow

logger = logging.getLogger(__name__)

Events = list[dict[str, Any]]
Domain = dict[str, Any]
SUMMARY_DESCRIPTION_CHARS = 500


def _window(value: Any) -> tuple[datetime, datetime] | None:
    if not isinstance(value, str) or "|" not in value:
        return None
    start, end = value.split("|", 1)
    try:
        return datetime.fromisoformat(start), datetime.fromisoformat(end)
    except ValueError:
        return None


class ActionShowSummary(Action):
    """Shows every answer with submit / change / cancel buttons."""

    def name(self) -> str:
        return "action_show_summary"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Domain
    ) -> Events:
        return await self.summarise(dispatcher, tracker, tracker.get_slot("category"))

    async def summarise(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, category: Any
    ) -> Events:
        """The summary of the request in the tracker, under this category."""
        lang = language(tracker)
        timezone = get_settings().timezone
        async with transaction() as session:
            categories = await list_categories(session)
        description = str(tracker.get_slot("description") or "")
        if len(description) > SUMMARY_DESCRIPTION_CHARS:
            description = description[:SUMMARY_DESCRIPTION_CHARS] + "…"
        latitude, longitude = tracker.get_slot("latitude"), tracker.get_slot("longitude")
        address = tracker.get_slot("address")
        if address:
            address_display = str(address)
        elif latitude is not None and longitude is not None:
            address_display = t("location_label", lang, latitude=latitude, longitude=longitude)
        else:
            address_display = "-"
        time_text = str(tracker.get_slot("preferred_time") or "-")
        window = _window(tracker.get_slot("preferred_time_iso"))
        if window:
            when = f"{local_time(window[0], timezone)}–{window[1].strftime('%H:%M')}"
            time_display = t("time_understood", lang, text=time_text, when=when)
        else:
            time_display = t("time_any", lang, text=time_text)
        photo = tracker.get_slot("photo")
        photo_display = t("photo_attached" if photo and photo != "skipped" else "photo_none", lang)
        whom = tracker.get_slot("beneficiary") or "self"
        dispatcher.utter_message(
            response="utter_summary",
            category_name=category_name(categories, category, lang),
            beneficiary_display=t(f"whom_{whom}", lang) if has_key(f"whom_{whom}") else "-",
            description=description,
            address_display=address_display,
            time_display=time_display,
            phone=display_phone(tracker.get_slot("phone")) or "-",
            photo_display=photo_display,
        )
        return [SlotSet("awaiting_confirmation", True)]


def _no_request_in_progress(dispatcher: CollectingDispatcher, tracker: Tracker) -> bool:
    """True, having said so, when no request is being filled in (a stale button)."""
    if tracker.get_slot("request_id") and tracker.get_slot("category"):
        return False
    dispatcher.utter_message(response="utter_nothing_to_submit")
    return True


class ActionOfferCategories(Action):
    """At the summary: every category as a button, the current one ticked."""

    def name(self) -> str:
        return "action_offer_categories"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Domain
    ) -> Events:
        if _no_request_in_progress(dispatcher, tracker):
            return []
        lang = language(tracker)
        current = tracker.get_slot("category")
        async with transaction() as session:
            categories = await list_categories(session)
        buttons = [
            {
                "title": ("✓ " if code == current else "") + category_name(categories, code, lang),
                "payload": payload("choose_category", category=code),
            }
            for code in CATEGORIES
        ]
        dispatcher.utter_message(response="utter_choose_category", buttons=buttons)
        return []


class ActionSetCategory(ActionShowSummary):
    """A category chosen from that list: the request takes it, and the summary shows
    again for confirmation."""

    def name(self) -> str:
        return "action_set_category"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Domain
    ) -> Events:
        if _no_request_in_progress(dispatcher, tracker):
            return []
        chosen = next(tracker.get_latest_entity_values("category"), None)
        category = chosen if chosen in CATEGORIES else tracker.get_slot("category")
        events = await self.summarise(dispatcher, tracker, category)
        # A neighbour's ticket of the new category may be a duplicate: check again.
        return [SlotSet("category", category), SlotSet("duplicate_checked", False), *events]


class ActionSubmitRequest(Action):
    """Files the ticket (once, however often submit is pressed) and gives its number."""

    def name(self) -> str:
        return "action_submit_request"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Domain
    ) -> Events:
        slots = tracker.slots
        has_place = slots.get("address") or slots.get("latitude") is not None
        if not (
            slots.get("category")
            and slots.get("request_id")
            and slots.get("description")
            and has_place
            and slots.get("phone")
        ):
            dispatcher.utter_message(response="utter_nothing_to_submit")
            return []
        lang = language(tracker)
        if not slots.get("duplicate_checked") and await self._offer_duplicate(
            dispatcher, tracker, lang
        ):
            return [SlotSet("duplicate_checked", True)]
        window = _window(slots.get("preferred_time_iso"))
        photo = slots.get("photo")
        try:
            async with transaction() as session:
                resident = await current_resident(session, tracker)
                ticket = await file_ticket(
                    session,
                    resident=resident,
                    category_code=str(slots["category"]),
                    description=str(slots["description"]),
                    address=slots.get("address"),
                    latitude=slots.get("latitude"),
                    longitude=slots.get("longitude"),
                    preferred_time_text=slots.get("preferred_time"),
                    preferred_time_at=window[0] if window else None,
                    phone=str(slots["phone"]),
                    photo_path=photo if photo and photo != "skipped" else None,
                    language=lang,
                    idempotency_key=f"{tracker.sender_id}:{slots['request_id']}",
                    beneficiary=slots.get("beneficiary"),
                )
                number, status = ticket.number, ticket.status
        except SQLAlchemyError:
            logger.exception("ticket.submit_failed sender=%s", tracker.sender_id)
            dispatcher.utter_message(response="utter_submit_failed")
            return []
        logger.info("ticket.filed ticket=%s channel=%s", number, resident.channel)
        await wake_notifier()
        dispatcher.utter_message(
            response="utter_ticket_filed",
            ticket_number=number,
            status_name=status_name(status, lang),
        )
        return [*clear_request(), SlotSet("ticket_number", number)]

    @staticmethod
    async def _offer_duplicate(
        dispatcher: CollectingDispatcher, tracker: Tracker, lang: str
    ) -> bool:
        """An open ticket of the same kind nearby (twenty neighbours and one broken
        lift): offer to join it instead of filing another. True if offered."""
        slots = tracker.slots
        try:
            async with transaction() as session:
                resident = await current_resident(session, tracker)
                found = await find_duplicates(
                    session,
                    resident=resident,
                    category_code=str(slots["category"]),
                    address=slots.get("address"),
                    latitude=slots.get("latitude"),
                    longitude=slots.get("longitude"),
                )
                if not found:
                    return False
                neighbour = found[0]
                categories = await list_categories(session)
                community = await _community_name(session, neighbour, lang)
                # What identifies the problem, never the neighbour's words, address or contact.
                number, status = neighbour.number, neighbour.status
                category = category_name(categories, neighbour.category_code, lang)
                where = place(community, building_of(neighbour.address), lang)
                filed = age(neighbour.created_at, utcnow(), lang)
        except SQLAlchemyError:
            logger.exception("ticket.duplicate_check_failed sender=%s", tracker.sender_id)
            return False
        dispatcher.utter_message(
            response="utter_duplicate_found",
            duplicate_number=number,
            status_name=status_name(status, lang),
            category_name=category,
            duplicate_place=where,
            duplicate_age=filed,
            buttons=[
                {
                    "title": t("join_button", lang, number=number),
                    "payload": payload("join_ticket", ticket_number=number),
                },
                {"title": t("file_anyway_button", lang), "payload": "/confirm_submit"},
            ],
        )
        return True


async def _community_name(session: AsyncSession, ticket: Ticket, lang: str) -> str:
    community = await session.get(Community, ticket.community_id) if ticket.community_id else None
    if community is None:
        return "-"
    return community.name_en if lang == "en" else community.name_zh


class ActionJoinTicket(Action):
    """The resident joins a neighbour's open ticket instead of filing their own."""

    def name(self) -> str:
        return "action_join_ticket"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Domain
    ) -> Events:
        number = next(tracker.get_latest_entity_values("ticket_number"), None)
        if not number:
            dispatcher.utter_message(response="utter_join_failed")
            return []
        try:
            async with transaction() as session:
                resident = await current_resident(session, tracker)
                await follow(session, number=str(number), resident=resident)
        except (ServiceError, SQLAlchemyError):
            logger.info("ticket.join_failed ticket=%s", number)
            dispatcher.utter_message(response="utter_join_failed")
            return []
        dispatcher.utter_message(response="utter_joined_ticket", ticket_number=number)
        return [*clear_request(), SlotSet("ticket_number", number)]


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


_SETTLED = frozenset({"closed", "rejected", "cancelled", "merged"})


class ActionCancelRequest(Action):
    """Drops the request being filled in, or cancels the open ticket the words name,
    after a confirmation ("上午那个修水管的不用来了" → the repair ticket of this morning).
    A rating or a "not fixed" the classifier took for a cancel is offered as one."""

    def name(self) -> str:
        return "action_cancel_request"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Domain
    ) -> Events:
        in_progress = tracker.active_loop_name or tracker.get_slot("request_id")
        if in_progress:
            dispatcher.utter_message(response="utter_request_abandoned")
            return [ActiveLoop(None), SlotSet("requested_slot", None), *clear_request()]
        lang = language(tracker)
        text = latest_user_text(tracker) or ""
        chosen = next(tracker.get_latest_entity_values("ticket_number"), None)
        async with transaction() as session:
            resident = await current_resident(session, tracker)
            tickets = await list_resident_tickets(session, resident, limit=MAX_CHOICES * 3)
            categories = await list_categories(session)
        now = utcnow()
        timezone = get_settings().timezone
        done = [ticket for ticket in tickets if ticket.status == "done"]
        if done and not chosen and (sounds_like_rating(text) or sounds_not_fixed(text)):
            # "师傅修好了，给五星好评" / "又堵了，没修好" about a done ticket.
            offer_done(dispatcher, tracker, text, done, categories, lang, now)
            return []
        open_tickets = [ticket for ticket in tickets if ticket.status in CANCELLABLE]
        if not open_tickets:
            dispatcher.utter_message(response="utter_nothing_to_cancel")
            return []
        ranking = tracker.latest_message.get("intent_ranking") or []
        ranked = rank_named(str(chosen or text), ranking, open_tickets, categories, timezone, now)
        ticket = pick_named(ranked) or (ranked[0][1] if len(ranked) == 1 else None)
        if ticket is not None:
            number = ticket.number
            choice = ticket_choice(ticket, categories, lang, timezone, now)
            dispatcher.utter_message(
                text=t("cancel_confirm", lang, choice=choice, number=number),
                buttons=[
                    {"title": t("cancel_confirm_yes", lang), "payload": f"t:cancel:{number}"},
                    {"title": t("cancel_confirm_no", lang), "payload": f"t:keep:{number}"},
                ],
            )
            return []
        dispatcher.utter_message(
            text=t("cancel_which_named", lang),
            buttons=[
                {
                    "title": ticket_choice(ticket, categories, lang, timezone, now),
                    "payload": payload("cancel_request", ticket_number=ticket.number),
                }
                for _, ticket in ranked[:MAX_CHOICES]
            ],
        )
        return []


MAX_CHOICES = 4


def offer_done(
    dispatcher: CollectingDispatcher,
    tracker: Tracker,
    text: str,
    done: list[Ticket],
    categories: Mapping[str, Category],
    lang: str,
    now: datetime,
    *,
    not_fixed: bool | None = None,
) -> None:
    """Offers the rating or the reopening of the done ticket the words name (the newest
    when they name none), to be confirmed with a press."""
    timezone = get_settings().timezone
    ranking = tracker.latest_message.get("intent_ranking") or []
    ranked = rank_named(text, ranking, done, categories, timezone, now)
    ticket = pick_named(ranked) or ranked[0][1]
    number = ticket.number
    choice = ticket_choice(ticket, categories, lang, timezone, now)
    stars_buttons = [
        {"title": t("btn_stars", lang, stars=stars), "payload": f"r:rate:{number}:{stars}"}
        for stars in range(5, 0, -1)
    ]
    not_fixed_button = {"title": t("btn_not_fixed", lang), "payload": f"r:nf:{number}"}
    if not_fixed if not_fixed is not None else sounds_not_fixed(text):
        dispatcher.utter_message(
            text=t("not_fixed_confirm", lang, choice=choice, number=number),
            buttons=[{**not_fixed_button, "title": t("not_fixed_yes", lang)}, *stars_buttons],
        )
        return
    stars = stars_in(text)
    if stars is None:
        dispatcher.utter_message(
            text=t("rate_which", lang, choice=choice, number=number),
            buttons=[*stars_buttons, not_fixed_button],
        )
        return
    named = next(button for button in stars_buttons if button["payload"].endswith(f":{stars}"))
    others = [button for button in stars_buttons if button is not named]
    dispatcher.utter_message(
        text=t("rate_confirm", lang, choice=choice, number=number, stars=stars),
        buttons=[named, *others, not_fixed_button],
    )


class ActionRateInWords(Action):
    """A rating said in words ("师傅修好了，给五星好评"): offered for the done ticket
    it names, confirmed with a press of the stars."""

    def name(self) -> str:
        return "action_rate_in_words"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Domain
    ) -> Events:
        return await _about_done(self.name(), dispatcher, tracker)


class ActionNotFixedInWords(Action):
    """ "马桶又堵了，没修好" about a done ticket: offered to reopen it (with the same
    organisation), confirmed with a press; without a done ticket, a new request."""

    def name(self) -> str:
        return "action_not_fixed_in_words"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Domain
    ) -> Events:
        return await _about_done(self.name(), dispatcher, tracker)


async def _about_done(action: str, dispatcher: CollectingDispatcher, tracker: Tracker) -> Events:
    lang = language(tracker)
    text = latest_user_text(tracker) or ""
    async with transaction() as session:
        resident = await current_resident(session, tracker)
        tickets = await list_resident_tickets(session, resident, limit=MAX_CHOICES * 3)
        categories = await list_categories(session)
    done = [ticket for ticket in tickets if ticket.status == "done"]
    if done:
        # The intent says which, unless the words plainly say the other.
        not_fixed = (
            not sounds_like_rating(text) or sounds_not_fixed(text)
            if action == "action_not_fixed_in_words"
            else sounds_not_fixed(text) and stars_in(text) is None
        )
        offer_done(dispatcher, tracker, text, done, categories, lang, utcnow(), not_fixed=not_fixed)
        return []
    if action == "action_rate_in_words":
        dispatcher.utter_message(text=t("nothing_to_rate", lang))
        return []
    # Nothing was done for them yet: the problem is a new request.
    return offer_categories(dispatcher, tracker, lang, categories)
