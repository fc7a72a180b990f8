"""Buttons and commands that carry a ticket after filing, for any chat channel.

Organisations (o:…), staff (s:…) and residents (r:…) press buttons whose data
carries the ticket number and the action, so a button works after a restart and
on any replica. Nothing here needs the engine: each press is one services call in
one transaction, then the notifier is woken for the messages it wrote.

A press on a ticket that has moved on answers with the ticket's state, never an error.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adapters.wakeup import Waker
from desk.frontdesk import Button, Reply, Sender, without_controls
from desk.render import standings_text
from i18n import t, ticket_status_name
from services import emergency, matching, notify, workflow
from services.errors import (
    AlreadyHolds,
    AlreadyTaken,
    BadCredentials,
    IllegalTransition,
    NotEligible,
    NotFound,
    NotYourTicket,
    ServiceError,
    TicketNotFound,
)
from services.lifecycle import HELD_OPEN, OPEN
from services.management import list_categories
from services.models import Category, Organisation, Resident, Staff, Ticket
from services.outbox import Button as OutboxButton
from services.outbox import message_replied_to
from services.parsing import resolve_language
from services.parties import get_organisation, party_of_chat, redeem_link_code
from services.payloads import WORK_PARTIES, Action, decode, encode, party_of
from services.tickets import get_or_create_resident, get_ticket

logger = logging.getLogger(__name__)

RELEASE_REASONS = ("reason_busy", "reason_far", "reason_skill", "reason_other")
REJECT_REASONS = ("reason_duplicate", "reason_scope", "reason_info", "reason_other")


@dataclass
class WorkResult:
    """What to show the presser: a short toast on the button and/or messages."""

    toast: str | None = None
    replies: list[Reply] = field(default_factory=list)


def handles(data: str) -> bool:
    """True for button data this desk answers."""
    return party_of(data) in WORK_PARTIES


def _reason(code: str, allowed: tuple[str, ...]) -> str:
    return code if code in allowed else "reason_other"


class WorkDesk:
    """Answers organisation, staff and resident buttons straight from the services."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], waker: Waker) -> None:
        self._sessionmaker = sessionmaker
        self._waker = waker

    # --- linking --------------------------------------------------------------------------

    async def link(self, sender: Sender, code: str) -> list[Reply]:
        """`/link CODE`: bind this chat to an organisation or a staff member."""
        language = resolve_language(
            choice=None, text=None, previous=None, client_code=sender.client_language
        )
        if not code.strip():
            return [Reply(t("link_usage", language))]
        try:
            async with self._sessionmaker() as session, session.begin():
                party = await redeem_link_code(
                    session, code=code, channel=sender.channel, chat_id=sender.chat
                )
        except BadCredentials:
            return [Reply(t("link_bad", language))]
        if party.organisation is not None:
            logger.info("chat.linked organisation=%s", party.organisation.id)
            return [
                Reply(t("linked_org", party.organisation.language, name=party.organisation.name))
            ]
        assert party.staff is not None
        logger.info("chat.linked staff=%s", party.staff.id)
        return [Reply(t("linked_staff", party.staff.language, name=party.staff.name))]

    async def standings(self, sender: Sender) -> list[Reply]:
        """`/orgs` in a staff chat: every organisation's rating, on-time rate, releases
        and open load (the 红黑榜 in one message)."""
        async with self._sessionmaker() as session:
            party = await party_of_chat(session, channel=sender.channel, chat_id=sender.chat)
            if party.staff is None:
                language = resolve_language(
                    choice=None, text=None, previous=None, client_code=sender.client_language
                )
                return [Reply(t("staff_only", language))]
            table = await matching.organisation_table(session)
        language = party.staff.language
        if not table:
            return [Reply(t("standings_none", language))]
        return [Reply(standings_text(table, language))]

    # --- presses --------------------------------------------------------------------------

    async def press(self, sender: Sender, data: str) -> WorkResult:
        """Act on an o:/s:/r: button (services.payloads)."""
        kind = party_of(data)
        found = decode(data)
        action = found.action if found is not None else None
        number, extra = (found.number, found.extra) if found is not None else ("", "")
        if kind == "r":
            return await self._resident_press(sender, action, number, extra)
        async with self._sessionmaker() as session:
            party = await party_of_chat(session, channel=sender.channel, chat_id=sender.chat)
        if kind == "o" and party.organisation is not None:
            return await self._org_press(party.organisation, action, number, extra)
        if kind == "s" and party.staff is not None:
            return await self._staff_press(party.staff, action, number, extra)
        language = resolve_language(
            choice=None, text=None, previous=None, client_code=sender.client_language
        )
        return WorkResult(replies=[Reply(t("not_linked", language))])

    async def _run(
        self,
        language: str,
        number: str,
        work: Callable[[AsyncSession], Awaitable[WorkResult]],
    ) -> WorkResult:
        """One transaction; service errors become the ticket's state in words."""
        try:
            async with self._sessionmaker() as session, session.begin():
                result = await work(session)
        except TicketNotFound:
            return WorkResult(replies=[Reply(t("ticket_not_found", language, number=number))])
        except AlreadyTaken as exc:
            if exc.holder:
                text = t("taken_by", language, number=number, holder=exc.holder)
            else:
                text = await self._state_text(language, number)
            return WorkResult(toast=text, replies=[Reply(text)])
        except IllegalTransition:
            text = await self._state_text(language, number)
            return WorkResult(toast=text, replies=[Reply(text)])
        except NotEligible:
            return WorkResult(replies=[Reply(t("not_eligible", language, number=number))])
        except (NotYourTicket, NotFound):
            return WorkResult(replies=[Reply(t("not_yours", language, number=number))])
        except ServiceError:
            logger.exception("work.press_failed ticket=%s", number)
            return WorkResult(replies=[Reply(t("engine_unavailable", language))])
        await self._waker.wake()
        return result

    async def _state_text(self, language: str, number: str) -> str:
        async with self._sessionmaker() as session:
            ticket = await get_ticket(session, number)
        return t("ticket_now", language, number=number, status=_status_of(ticket, language))

    async def _org_press(
        self, org: Organisation, action: Action | None, number: str, extra: str
    ) -> WorkResult:
        language = org.language

        async def claim(session: AsyncSession) -> WorkResult:
            await workflow.claim(session, number=number, organisation=org)
            return WorkResult(toast=t("ack_claimed", language, number=number))

        async def start(session: AsyncSession) -> WorkResult:
            await workflow.start(session, number=number, organisation=org)
            return WorkResult(
                replies=[
                    Reply(
                        t("ack_started", language, number=number),
                        rows=_rows(notify.working_buttons(number), language),
                    )
                ]
            )

        async def done(session: AsyncSession) -> WorkResult:
            await workflow.done(session, number=number, organisation=org)
            return WorkResult(replies=[Reply(t("ack_done", language, number=number))])

        async def release(session: AsyncSession) -> WorkResult:
            reason = _reason(extra, RELEASE_REASONS)
            await workflow.release(session, number=number, organisation=org, reason=reason)
            return WorkResult(replies=[Reply(t("ack_released", language, number=number))])

        if action is Action.RELEASE and not extra:
            return _reasons_menu(
                "ask_release_reason", Action.RELEASE, number, RELEASE_REASONS, language
            )
        handlers = {
            Action.CLAIM: claim,
            Action.START: start,
            Action.DONE: done,
            Action.RELEASE: release,
        }
        handler = handlers.get(action) if action is not None else None
        if handler is None:
            return WorkResult(replies=[Reply(t("button_expired", language))])
        return await self._run(language, number, handler)

    async def _staff_press(
        self, staff: Staff, action: Action | None, number: str, extra: str
    ) -> WorkResult:
        language = staff.language

        async def approve(session: AsyncSession) -> WorkResult:
            await workflow.approve(session, number=number, staff=staff)
            offers = await workflow.offer_count(session, number)
            return WorkResult(
                replies=[Reply(t("ack_approved", language, number=number, count=offers))]
            )

        async def reject(session: AsyncSession) -> WorkResult:
            reason = _reason(extra, REJECT_REASONS)
            await workflow.reject(session, number=number, staff=staff, reason=reason)
            return WorkResult(replies=[Reply(t("ack_rejected", language, number=number))])

        async def assign(session: AsyncSession) -> WorkResult:
            organisation = await get_organisation(session, int(extra))
            before = await get_ticket(session, number)
            previous = before.organisation_id if before.status in HELD_OPEN else None
            try:
                await workflow.assign(
                    session, number=number, staff=staff, organisation=organisation
                )
            except AlreadyHolds:  # a double press, or a stale menu
                text = t("already_holds", language, number=number, holder=organisation.name)
                return WorkResult(toast=text, replies=[Reply(text)])
            if previous is not None and previous != organisation.id:
                old = await get_organisation(session, previous)
                text = t(
                    "ack_reassigned",
                    language,
                    number=number,
                    previous=old.name,
                    organisation=organisation.name,
                )
            else:
                text = t("ack_assigned", language, number=number, organisation=organisation.name)
            return WorkResult(replies=[Reply(text)])

        async def close(session: AsyncSession) -> WorkResult:
            await workflow.close(session, number=number, staff=staff, reason="reason_handled")
            return WorkResult(replies=[Reply(t("ack_closed", language, number=number))])

        # Emergency and hand-off tickets (services.emergency): each answer carries the
        # steps still open, so the card's next press is at hand.
        async def acknowledge(session: AsyncSession) -> WorkResult:
            ticket = await emergency.acknowledge(session, number=number, staff=staff)
            return _next_steps(t("ack_acknowledged", language, number=number), ticket, language)

        async def called_back(session: AsyncSession) -> WorkResult:
            ticket = await emergency.called_back(session, number=number, staff=staff)
            return _next_steps(t("ack_called_back", language, number=number), ticket, language)

        async def help_arrived(session: AsyncSession) -> WorkResult:
            ticket = await emergency.help_arrived(session, number=number, staff=staff)
            return _next_steps(t("ack_help_arrived", language, number=number), ticket, language)

        async def resolve(session: AsyncSession) -> WorkResult:
            await emergency.resolve(session, number=number, staff=staff)
            return WorkResult(replies=[Reply(t("ack_resolved", language, number=number))])

        async def hand(session: AsyncSession) -> WorkResult:
            category = await session.get(Category, extra)
            if category is None:  # a menu of categories since changed
                return WorkResult(replies=[Reply(t("button_expired", language))])
            ticket = await emergency.hand_to_organisation(
                session, number=number, staff=staff, category_code=category.code
            )
            name = category.name_en if language == "en" else category.name_zh
            offers = await workflow.offer_count(session, ticket.number)
            return WorkResult(
                replies=[
                    Reply(t("ack_handed", language, number=number, category=name, count=offers))
                ]
            )

        if action is Action.REJECT and not extra:
            return _reasons_menu(
                "ask_reject_reason", Action.REJECT, number, REJECT_REASONS, language
            )
        if action is Action.ASSIGN and not extra.isdigit():
            return await self._assign_menu(language, number)
        if action is Action.HAND and not extra:
            return await self._category_menu(language, number)
        handlers = {
            Action.APPROVE: approve,
            Action.REJECT: reject,
            Action.ASSIGN: assign,
            Action.CLOSE: close,
            Action.ACKNOWLEDGE: acknowledge,
            Action.CALLED_BACK: called_back,
            Action.HELP_ARRIVED: help_arrived,
            Action.RESOLVE: resolve,
            Action.HAND: hand,
        }
        handler = handlers.get(action) if action is not None else None
        if handler is None:
            return WorkResult(replies=[Reply(t("button_expired", language))])
        return await self._run(language, number, handler)

    async def _category_menu(self, language: str, number: str) -> WorkResult:
        """Buttons of the services an emergency or hand-off can be handed on as."""
        try:
            async with self._sessionmaker() as session:
                ticket = await get_ticket(session, number)
                if emergency.AlertAction.HAND_TO_ORGANISATION not in emergency.alert_actions(
                    ticket
                ):
                    return _moved_on(ticket, language)
                categories = await list_categories(session)
        except TicketNotFound:
            return WorkResult(replies=[Reply(t("ticket_not_found", language, number=number))])
        return WorkResult(
            replies=[
                Reply(
                    t("ask_hand_category", language, number=number),
                    rows=[
                        [
                            Button(
                                c.name_en if language == "en" else c.name_zh,
                                encode(Action.HAND, number, c.code),
                            )
                        ]
                        for c in categories
                    ],
                )
            ]
        )

    async def _assign_menu(self, language: str, number: str) -> WorkResult:
        """Buttons of the organisations that could take the ticket, best first; for a
        claimed, in-progress or reopened ticket, those it could be handed on to."""
        try:
            async with self._sessionmaker() as session:
                ticket = await get_ticket(session, number)
                # An emergency or hand-off has no category: it is handed on with one
                # (s:hand), never assigned as it is.
                if ticket.status not in OPEN or emergency.awaiting_staff(ticket):
                    return _moved_on(ticket, language)
                organisations = await workflow.assignable(session, ticket)
                holder = (
                    await get_organisation(session, ticket.organisation_id)
                    if ticket.organisation_id is not None and ticket.status in HELD_OPEN
                    else None
                )
        except TicketNotFound:
            return WorkResult(replies=[Reply(t("ticket_not_found", language, number=number))])
        if not organisations:
            return WorkResult(replies=[Reply(t("no_organisations", language))])
        question = (
            t("ask_reassign", language, number=number, holder=holder.name)
            if holder is not None
            else t("ask_assign", language, number=number)
        )
        return WorkResult(
            replies=[
                Reply(
                    question,
                    rows=[
                        [Button(o.name, encode(Action.ASSIGN, number, o.id))]
                        for o in organisations[:8]
                    ],
                )
            ]
        )

    async def _resident_press(
        self, sender: Sender, action: Action | None, number: str, extra: str
    ) -> WorkResult:
        async with self._sessionmaker() as session, session.begin():
            resident = await get_or_create_resident(
                session, channel=sender.channel, external_id=sender.external_id
            )
        language = _resident_language(resident, sender)

        async def rate(session: AsyncSession) -> WorkResult:
            stars = int(extra) if extra.isdigit() else 0
            if not 1 <= stars <= 5:
                return WorkResult(replies=[Reply(t("button_expired", language))])
            await workflow.rate(session, number=number, resident=resident, stars=stars)
            return WorkResult(replies=[Reply(t("ack_rated", language, stars=stars))])

        async def not_fixed(session: AsyncSession) -> WorkResult:
            ticket = await workflow.not_fixed(session, number=number, resident=resident)
            name = "-"
            if ticket.organisation_id is not None:
                name = (await get_organisation(session, ticket.organisation_id)).name
            return WorkResult(
                replies=[Reply(t("ack_reopened", language, number=number, organisation=name))]
            )

        handlers = {Action.RATE: rate, Action.NOT_FIXED: not_fixed}
        handler = handlers.get(action) if action is not None else None
        if handler is None:
            return WorkResult(replies=[Reply(t("button_expired", language))])
        return await self._run(language, number, handler)

    # --- replies to notifications ---------------------------------------------------------

    async def reply_to_notice(
        self, sender: Sender, replied_message_id: str, text: str
    ) -> list[Reply] | None:
        """A resident's reply to a notification that asks for one (the rating comment);
        None when the reply is not to such a message and should go to the engine."""
        comment = without_controls(text).strip()
        if not comment:
            return None
        async with self._sessionmaker() as session, session.begin():
            notice = await message_replied_to(
                session,
                channel=sender.channel,
                chat_id=sender.chat,
                sent_message_id=replied_message_id,
            )
            if notice is None or notice.reply_kind != "rating_comment" or notice.ticket_id is None:
                return None
            resident = await get_or_create_resident(
                session, channel=sender.channel, external_id=sender.external_id
            )
            language = _resident_language(resident, sender)
            number = str(notice.params.get("number", ""))
            try:
                await workflow.comment_rating(
                    session, number=number, resident=resident, comment=comment[:2000]
                )
            except IllegalTransition:
                return [Reply(t("rate_first", language, number=number))]
            except ServiceError:
                return None
        return [Reply(t("ack_comment", language))]


def _resident_language(resident: Resident, sender: Sender) -> str:
    return resolve_language(
        choice=resident.language_choice,
        text=None,
        previous=resident.language,
        client_code=sender.client_language,
    )


def _status_of(ticket: Ticket, language: str) -> str:
    """The ticket's status in words (an emergency never reads "awaiting review")."""
    return ticket_status_name(
        ticket.status,
        language,
        kind=ticket.kind,
        acknowledged=ticket.acknowledged_at is not None,
    )


def _reasons_menu(
    question: str, action: Action, number: str, reasons: tuple[str, ...], language: str
) -> WorkResult:
    """The question of a release or a rejection, with one button per reason."""
    rows = [[Button(t(code, language), encode(action, number, code))] for code in reasons]
    return WorkResult(replies=[Reply(t(question, language, number=number), rows=rows)])


def _moved_on(ticket: Ticket, language: str) -> WorkResult:
    """The answer to a press on a ticket that has moved on: its state now."""
    text = t("ticket_now", language, number=ticket.number, status=_status_of(ticket, language))
    return WorkResult(toast=text, replies=[Reply(text)])


def _next_steps(text: str, ticket: Ticket, language: str) -> WorkResult:
    """The answer to an emergency step, with the buttons of the steps still open."""
    return WorkResult(replies=[Reply(text, rows=_rows(emergency.alert_buttons(ticket), language))])


def _rows(buttons: list[list[OutboxButton]], language: str) -> list[list[Button]]:
    return [[Button(t(b.key, language, **dict(b.params)), b.data) for b in row] for row in buttons]
