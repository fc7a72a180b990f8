"""Carrying a ticket from filing to its end, one module per party that moves it.

`filing` (a resident's request filed and routed, duplicates, following), `offers`
(which organisations are offered it), `staff`, `organisation` and `resident` (the
moves each party makes), `sweep` (what time does: escalation, auto-close) and `events`
(actors, telling the holder, the event log). Every step writes its event and its
notifications (outbox) in the caller's transaction.

Actors in the event log: `resident:<channel>:<id>`, `org:<id>`, `staff:<id>`, `system`.
Each move is safe to repeat: pressing the same button twice, or an update delivered
twice, returns the ticket as it is instead of acting again.
"""

from __future__ import annotations

from services.tickets import org_actor, staff_actor
from services.workflow.events import ticket_events
from services.workflow.filing import file_ticket, find_duplicates, follow
from services.workflow.offers import assignable, offer, offer_count
from services.workflow.organisation import claim, done, release, start
from services.workflow.resident import cancel, comment_rating, not_fixed, rate
from services.workflow.staff import HANDED_OVER, approve, assign, close, escalate, merge, reject
from services.workflow.sweep import SweepResult, sweep

__all__ = [
    "HANDED_OVER",
    "SweepResult",
    "approve",
    "assign",
    "assignable",
    "cancel",
    "claim",
    "close",
    "comment_rating",
    "done",
    "escalate",
    "file_ticket",
    "find_duplicates",
    "follow",
    "merge",
    "not_fixed",
    "offer",
    "offer_count",
    "org_actor",
    "rate",
    "reject",
    "release",
    "staff_actor",
    "start",
    "sweep",
    "ticket_events",
]
