"""adapters.ratelimit.FixedWindowCounter in one process (no Redis), with a clock moved by
hand: counts per key per window, the time left, undo and clear, bounded memory.
(Redis, shared by two web apps, and a Redis outage: tests/web/test_login_throttle.py.)"""

from __future__ import annotations

import pytest

from adapters.ratelimit import FixedWindowCounter
from tests.clock import ManualClock


async def test_counts_per_key_and_starts_again_in_the_next_window() -> None:
    clock = ManualClock(9_000.0)  # the start of a 900 s window
    counter = FixedWindowCounter("t:", 900, clock=clock)
    counts = [(await counter.add("a")).count for _ in range(3)]
    assert counts == [1, 2, 3]
    assert (await counter.add("b")).count == 1
    clock.now += 899.5
    last = await counter.add("a")
    assert (last.count, last.retry_after_s, last.in_redis) == (4, 1, False)
    clock.now += 0.5
    fresh = await counter.add("a")
    assert (fresh.count, fresh.retry_after_s) == (1, 900)


async def test_undo_and_clear() -> None:
    clock = ManualClock(0.0)
    counter = FixedWindowCounter("t:", 60, clock=clock)
    first = await counter.add("k")
    second = await counter.add("k")
    await counter.undo(second)
    assert (await counter.add("k")).count == 2
    await counter.clear("k")
    assert (await counter.add("k")).count == 1
    clock.now += 60
    await counter.undo(first)  # a past window's event: nothing to take back
    assert (await counter.add("k")).count == 1


async def test_memory_is_bounded() -> None:
    clock = ManualClock(0.0)
    counter = FixedWindowCounter("t:", 60, clock=clock, max_keys=10)
    for i in range(10):
        await counter.add(f"old-{i}")
    clock.now += 60
    await counter.add("new")  # the past window's keys make room
    assert len(counter._local) == 1
    for i in range(30):
        await counter.add(f"busy-{i}")
    assert len(counter._local) <= 10


def test_a_window_lasts_at_least_a_second() -> None:
    with pytest.raises(ValueError):
        FixedWindowCounter("t:", 0)
