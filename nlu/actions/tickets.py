"""Summary, category, submission, duplicates and joining: the actions that file a ticket."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from adapters.engine_client import payload
from config.settings import get_settings
from desk.render import age, category_name, local_time, place
from i18n import has_key, status_name, t
from nlu.actions.common import (
    CATEGORIES,
    clear_request,
    current_resident,
    language,
    transaction,
    wake_notifier,
)
from services import NewTicket, file_ticket
from services.categories import list_categories
from services.communities import building_of
from services.errors import ServiceError
from services.models import Community, Ticket, utcnow
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
                ticket = (
                    await file_ticket(
                        session,
                        resident=resident,
                        request=NewTicket(
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
                        ),
                    )
                ).ticket
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
