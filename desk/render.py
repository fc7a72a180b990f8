"""Turning tickets into the sentences residents read (catalogue-driven, zh/en)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from i18n import t, ticket_status_name
from services.lifecycle import OPEN
from services.matching import Standing
from services.models import Category, Organisation, Ticket
from services.payloads import Action, encode


def category_name(categories: Mapping[str, Category], code: str | None, language: str) -> str:
    """A category's name in the reader's language (its code if unknown)."""
    category = categories.get(code or "")
    if category is None:
        return code or "-"
    return category.name_en if language == "en" else category.name_zh


def local_time(moment: datetime, timezone: str) -> str:
    """A short local date and time, e.g. 11-22 18:30."""
    return moment.astimezone(ZoneInfo(timezone)).strftime("%m-%d %H:%M")


def age(moment: datetime, now: datetime, language: str) -> str:
    """How long ago, in the reader's words: "3 小时前" / "3 hours ago"."""
    minutes = max(0, int((now - moment).total_seconds() // 60))
    for unit, size in (("day", 24 * 60), ("hour", 60), ("minute", 1)):
        count = minutes // size
        if count == 1:
            return t(f"age_{unit}", language)
        if count > 1:
            return t(f"age_{unit}s", language, count=count)
    return t("age_now", language)


def place(community: str, building: str | None, language: str) -> str:
    """A ticket's place as a neighbour may see it: the community and the building
    number, never the flat or the resident's own words of the address."""
    if building is None:
        return t("duplicate_place_community", language, community=community)
    return t("duplicate_place", language, community=community, building=building)


def ticket_lines(
    tickets: Sequence[Ticket],
    categories: Mapping[str, Category],
    language: str,
    timezone: str,
) -> str:
    """One line per ticket: number, category, status, filed at."""
    return "\n".join(
        t(
            "status_line",
            language,
            number=ticket.number,
            category=(
                category_name(categories, ticket.category_code, language)
                if ticket.category_code
                else t(f"kind_{ticket.kind}", language)
            ),
            status=ticket_status_name(
                ticket.status,
                language,
                kind=ticket.kind,
                acknowledged=ticket.acknowledged_at is not None,
            ),
            created=local_time(ticket.created_at, timezone),
        )
        for ticket in tickets
    )


def cancel_buttons(tickets: Sequence[Ticket], language: str) -> list[tuple[str, str]]:
    """(title, callback data) of a cancel button for each ticket that can be cancelled."""
    return [
        (t("cancel_button", language, number=ticket.number), encode(Action.CANCEL, ticket.number))
        for ticket in tickets
        if ticket.status in OPEN
    ]


def standings_text(table: Sequence[tuple[Organisation, Standing]], language: str) -> str:
    """`/orgs` for staff: every organisation's rating, on-time rate, releases and open
    load, one line each (the 红黑榜 in one message)."""
    lines = [t("standings_header", language)]
    for organisation, standing in table:
        rating = (
            t(
                "standings_rating",
                language,
                average=standing.average_rating,
                count=standing.ratings,
            )
            if standing.average_rating is not None
            else t("standings_unrated", language)
        )
        on_time = (
            t(
                "standings_on_time",
                language,
                percent=100 * standing.on_time_rate,
                done=standing.completed,
            )
            if standing.on_time_rate is not None
            else t("standings_no_done", language)
        )
        lines.append(
            t(
                "standings_line",
                language,
                name=organisation.name,
                suspended="" if organisation.active else t("standings_suspended", language),
                rating=rating,
                on_time=on_time,
                releases=standing.releases,
                open=standing.open_load,
            )
        )
    return "\n".join(lines)
