"""A clock that tests move by hand, for code that takes `clock: Callable[[], float]`."""

from __future__ import annotations


class ManualClock:
    """Seconds (monotonic or wall-clock, as the code under test reads them)."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now
