"""Cancelling, rating and "not fixed" said in words, each offered for the ticket the
words name and confirmed with a press."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActiveLoop, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from adapters.engine_client import payload
from config.settings import get_settings
from i18n import t
from nlu.actions.clarify import offer_categories
from nlu.actions.common import (
    clear_request,
    current_resident,
    language,
    latest_user_text,
    transaction,
)
from nlu.actions.named import (
    pick_named,
    rank_named,
    sounds_like_rating,
    sounds_not_fixed,
    stars_in,
    ticket_choice,
)
from services import list_resident_tickets
from services.categories import list_categories
from services.lifecycle import OPEN
from services.models import Category, Ticket, utcnow

Events = list[dict[str, Any]]
Domain = dict[str, Any]
# At most this many tickets are offered as buttons; three times as many are read.
MAX_CHOICES = 4


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
        open_tickets = [ticket for ticket in tickets if ticket.status in OPEN]
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
