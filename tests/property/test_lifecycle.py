"""Property tests of the lifecycle table: random walks only ever visit statuses the
table allows, terminal statuses are dead ends, and check_transition agrees with
ALLOWED on every pair and on any string."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.errors import IllegalTransition
from services.lifecycle import ALLOWED, TERMINAL, TicketStatus, check_transition

STATUSES = list(TicketStatus)
BOUNDED = settings(max_examples=200, deadline=None)


@BOUNDED
@given(st.lists(st.integers(min_value=0, max_value=1000), max_size=40))
def test_random_walks_stay_legal(choices: list[int]) -> None:
    current = TicketStatus.SUBMITTED
    for choice in choices:
        options = sorted(ALLOWED[current])
        if not options:
            assert current in TERMINAL  # only terminal statuses are dead ends
            break
        new = options[choice % len(options)]
        check_transition(current, new)  # never raises on an allowed step
        assert new in STATUSES
        current = new


@BOUNDED
@given(st.sampled_from(STATUSES), st.sampled_from(STATUSES))
def test_check_transition_agrees_with_the_table(current: TicketStatus, new: TicketStatus) -> None:
    if new in ALLOWED[current]:
        check_transition(current, new)
        check_transition(current.value, new.value)  # strings work as well
    else:
        with pytest.raises(IllegalTransition):
            check_transition(current, new)


@BOUNDED
@given(st.text(max_size=20), st.text(max_size=20))
def test_unknown_statuses_are_illegal_never_a_crash(current: str, new: str) -> None:
    known = {status.value for status in STATUSES}
    if current in known and new in known and TicketStatus(new) in ALLOWED[TicketStatus(current)]:
        check_transition(current, new)
    else:
        with pytest.raises(IllegalTransition):
            check_transition(current, new)


def test_every_status_is_reachable_and_every_open_one_can_end() -> None:
    reachable = {TicketStatus.SUBMITTED}
    frontier = [TicketStatus.SUBMITTED]
    while frontier:
        for new in ALLOWED[frontier.pop()]:
            if new not in reachable:
                reachable.add(new)
                frontier.append(new)
    assert reachable == set(STATUSES)
    assert {status for status in STATUSES if not ALLOWED[status]} == set(TERMINAL)
    for status in set(STATUSES) - TERMINAL:
        seen, todo = {status}, [status]
        while todo:
            for new in ALLOWED[todo.pop()]:
                if new not in seen:
                    seen.add(new)
                    todo.append(new)
        assert seen & TERMINAL, f"{status} can never end"
    # DESIGN: cancel in every state before done (reopened included), never after.
    for status in STATUSES:
        cancellable = TicketStatus.CANCELLED in ALLOWED[status]
        assert cancellable == (status not in TERMINAL and status is not TicketStatus.DONE)


def test_every_held_status_can_be_handed_to_another_organisation() -> None:
    # Staff reassignment (workflow.assign): a held ticket ends up claimed by the new
    # holder, so every held status either is claimed or may move to claimed; work
    # reported done or ended is never handed on.
    held = {TicketStatus.CLAIMED, TicketStatus.IN_PROGRESS, TicketStatus.REOPENED}
    for status in held:
        assert status is TicketStatus.CLAIMED or TicketStatus.CLAIMED in ALLOWED[status]
    takers = {status for status in STATUSES if TicketStatus.CLAIMED in ALLOWED[status]}
    assert takers == (held - {TicketStatus.CLAIMED}) | {TicketStatus.PUBLISHED}
