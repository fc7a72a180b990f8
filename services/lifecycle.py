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

# The statuses in which an organisation holds the ticket: it claimed it or was assigned it,
# works on it, has done it (until the resident confirms), or has it back as not fixed.
# The holder reads the resident's contact in these, and only in these.
HOLDER_STATUSES = frozenset({S.CLAIMED, S.IN_PROGRESS, S.DONE, S.REOPENED})

# Every other group is derived from the two facts above, so that a new status or move
# changes them all at once.
#: Ended: nothing moves on from here.
TERMINAL: frozenset[TicketStatus] = frozenset(s for s, moves in ALLOWED.items() if not moves)
#: Not ended: shown in the staff queue and the resident's list.
ACTIVE: frozenset[TicketStatus] = frozenset(ALLOWED) - TERMINAL
#: Still to be served: the resident may cancel it, staff may close, merge or assign it, and
#: its deadlines run (everything active but `done`, which waits for the resident).
OPEN: frozenset[TicketStatus] = frozenset(s for s, moves in ALLOWED.items() if S.CANCELLED in moves)
#: Held and still to be served: staff may hand it on from its holder; it counts in the
#: holder's load.
HELD_OPEN: frozenset[TicketStatus] = HOLDER_STATUSES & OPEN
#: In the holder's hands now: it may start or finish the work (a reopened ticket is
#: claimed again first).
IN_HAND: frozenset[TicketStatus] = frozenset(
    s for s in HELD_OPEN if ALLOWED[s] & {S.IN_PROGRESS, S.DONE}
)


def values(statuses: frozenset[TicketStatus]) -> list[str]:
    """The statuses as stored, sorted, for `Ticket.status.in_(...)`."""
    return sorted(status.value for status in statuses)


def check_transition(current: TicketStatus | str, new: TicketStatus | str) -> None:
    """Raise IllegalTransition unless the lifecycle allows current -> new."""
    try:
        allowed = ALLOWED[TicketStatus(current)]
        ok = TicketStatus(new) in allowed
    except ValueError:
        ok = False
    if not ok:
        raise IllegalTransition(str(current), str(new))
