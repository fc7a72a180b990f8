"""The lifecycle table, without a database."""

from __future__ import annotations

import pytest

from services.errors import IllegalTransition, ServiceError
from services.lifecycle import ALLOWED, TERMINAL, TicketStatus, check_transition

S = TicketStatus
BEFORE_DONE = [S.SUBMITTED, S.PUBLISHED, S.CLAIMED, S.IN_PROGRESS, S.REOPENED]


def test_every_status_has_a_row() -> None:
    assert set(ALLOWED) == set(TicketStatus)


def test_every_target_is_a_status() -> None:
    for targets in ALLOWED.values():
        assert targets <= set(TicketStatus)


@pytest.mark.parametrize(
    ("current", "new"),
    [
        (S.SUBMITTED, S.PUBLISHED),
        (S.SUBMITTED, S.REJECTED),
        (S.PUBLISHED, S.CLAIMED),
        (S.CLAIMED, S.IN_PROGRESS),
        (S.CLAIMED, S.PUBLISHED),
        (S.IN_PROGRESS, S.DONE),
        (S.IN_PROGRESS, S.CLAIMED),
        (S.DONE, S.CLOSED),
        (S.DONE, S.REOPENED),
        (S.REOPENED, S.CLAIMED),
        (S.REOPENED, S.PUBLISHED),
    ],
)
def test_happy_path_moves_are_allowed(current: TicketStatus, new: TicketStatus) -> None:
    check_transition(current, new)


@pytest.mark.parametrize(
    ("current", "new"),
    [
        (S.SUBMITTED, S.CLAIMED),
        (S.PUBLISHED, S.DONE),
        (S.PUBLISHED, S.REJECTED),
        (S.CLAIMED, S.DONE),
        (S.CLAIMED, S.REJECTED),
        (S.DONE, S.IN_PROGRESS),
        (S.DONE, S.CANCELLED),
        (S.DONE, S.MERGED),
        (S.IN_PROGRESS, S.IN_PROGRESS),
        (S.SUBMITTED, S.SUBMITTED),
        # A hand-over changes the holder, not the status: no self-move in the table.
        (S.CLAIMED, S.CLAIMED),
        (S.DONE, S.CLAIMED),
    ],
)
def test_illegal_moves_raise(current: TicketStatus, new: TicketStatus) -> None:
    with pytest.raises(IllegalTransition) as info:
        check_transition(current, new)
    assert info.value.current == current
    assert info.value.new == new
    assert isinstance(info.value, ServiceError)


@pytest.mark.parametrize("current", BEFORE_DONE)
def test_cancel_close_and_merge_allowed_before_done(current: TicketStatus) -> None:
    check_transition(current, S.CANCELLED)
    check_transition(current, S.CLOSED)
    check_transition(current, S.MERGED)


@pytest.mark.parametrize("current", [S.DONE, *sorted(TERMINAL)])
def test_cancel_not_allowed_from_done_or_terminal(current: TicketStatus) -> None:
    with pytest.raises(IllegalTransition):
        check_transition(current, S.CANCELLED)


@pytest.mark.parametrize("terminal", sorted(TERMINAL))
def test_terminal_states_go_nowhere(terminal: TicketStatus) -> None:
    assert ALLOWED[terminal] == frozenset()
    for new in TicketStatus:
        with pytest.raises(IllegalTransition):
            check_transition(terminal, new)


def test_reject_only_from_submitted() -> None:
    sources = {status for status, targets in ALLOWED.items() if S.REJECTED in targets}
    assert sources == {S.SUBMITTED}


def test_strings_accepted_and_unknown_status_is_illegal() -> None:
    check_transition("published", "claimed")
    with pytest.raises(IllegalTransition):
        check_transition("published", "teleported")


# The lifecycle as DESIGN.md ("Ticket lifecycle") draws and describes it, written out
# by hand and deliberately not derived from ALLOWED:
#   submitted -> published (auto or staff approve) | rejected (staff reject)
#   published -> claimed (claim, or staff assign)
#   claimed -> in_progress; claimed/in_progress -> published (the organisation releases)
#   in_progress -> claimed (staff hand it to another organisation: issue 11, item 13;
#   a claimed ticket handed on stays claimed, only its holder changes)
#   in_progress -> done; done -> closed (rated, staff close, auto-close) | reopened
#   reopened -> claimed (back to the same organisation, or staff hand it to another)
#             | published (it releases)
#   every state before done (reopened included) -> cancelled | closed | merged
#   closed, rejected, cancelled, merged: terminal
DESIGN_TABLE: dict[str, set[str]] = {
    "submitted": {"published", "rejected", "cancelled", "closed", "merged"},
    "published": {"claimed", "cancelled", "closed", "merged"},
    "claimed": {"in_progress", "published", "cancelled", "closed", "merged"},
    "in_progress": {"done", "published", "claimed", "cancelled", "closed", "merged"},
    "done": {"closed", "reopened"},
    "reopened": {"claimed", "published", "cancelled", "closed", "merged"},
    "closed": set(),
    "rejected": set(),
    "cancelled": set(),
    "merged": set(),
}
ALL_PAIRS = [(current, new) for current in TicketStatus for new in TicketStatus]


def test_design_table_names_every_status() -> None:
    assert set(DESIGN_TABLE) == {status.value for status in TicketStatus}
    assert len(ALL_PAIRS) == len(TicketStatus) ** 2 == 100


@pytest.mark.parametrize(("current", "new"), ALL_PAIRS, ids=[f"{c}->{n}" for c, n in ALL_PAIRS])
def test_every_pair_matches_the_design(current: TicketStatus, new: TicketStatus) -> None:
    if new.value in DESIGN_TABLE[current.value]:
        check_transition(current, new)
        check_transition(current.value, new.value)
    else:
        with pytest.raises(IllegalTransition) as info:
            check_transition(current, new)
        assert (info.value.current, info.value.new) == (current.value, new.value)
        with pytest.raises(IllegalTransition):
            check_transition(current.value, new.value)
