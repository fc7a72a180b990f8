"""The ticket lifecycle as a pure table: status -> statuses it may move to."""

from __future__ import annotations

from enum import StrEnum

from services.errors import IllegalTransition


class TicketStatus(StrEnum):
    """Every status a ticket can be in."""

    SUBMITTED = "submitted"
    PUBLISHED = "published"
    CLAIMED = "claimed"
    IN_PROGRESS = "in_progress"
    DONE = "done"
    CLOSED = "closed"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    REOPENED = "reopened"
    MERGED = "merged"


S = TicketStatus

TERMINAL: frozenset[TicketStatus] = frozenset({S.CLOSED, S.REJECTED, S.CANCELLED, S.MERGED})

# Every open state before `done` may be cancelled by the resident, closed by
# staff with a reason, or merged into another ticket by staff.
_ENDINGS = frozenset({S.CANCELLED, S.CLOSED, S.MERGED})

ALLOWED: dict[TicketStatus, frozenset[TicketStatus]] = {
    S.SUBMITTED: frozenset({S.PUBLISHED, S.REJECTED}) | _ENDINGS,
    # Staff may assign directly, so published -> claimed covers both paths.
    S.PUBLISHED: frozenset({S.CLAIMED}) | _ENDINGS,
    # An organisation that cannot serve releases the ticket back to published.
    # Staff may also hand a claimed ticket to another organisation: the status stays
    # claimed, only the holder changes (workflow.assign), so it is not a move here.
    S.CLAIMED: frozenset({S.IN_PROGRESS, S.PUBLISHED}) | _ENDINGS,
    # Handed to another organisation by staff, work started is claimed again: the
    # new holder starts it afresh.
    S.IN_PROGRESS: frozenset({S.DONE, S.PUBLISHED, S.CLAIMED}) | _ENDINGS,
    # After done the resident confirms (closed) or says it is not fixed;
    # staff close and the 7-day auto-close are also done -> closed.
    S.DONE: frozenset({S.CLOSED, S.REOPENED}),
    # A reopened ticket goes back to the organisation that did it (or, by staff, to
    # another one), or is published again if that organisation releases it.
    S.REOPENED: frozenset({S.CLAIMED, S.PUBLISHED}) | _ENDINGS,
    S.CLOSED: frozenset(),
    S.REJECTED: frozenset(),
    S.CANCELLED: frozenset(),
    S.MERGED: frozenset(),
}


def check_transition(current: TicketStatus | str, new: TicketStatus | str) -> None:
    """Raise IllegalTransition unless the lifecycle allows current -> new."""
    try:
        allowed = ALLOWED[TicketStatus(current)]
        ok = TicketStatus(new) in allowed
    except ValueError:
        ok = False
    if not ok:
        raise IllegalTransition(str(current), str(new))
