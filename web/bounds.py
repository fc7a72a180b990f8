"""The ranges a value must be in before it goes to the database.

PostgreSQL refuses what SQLite stores: integers past int4 (2^31 - 1), timestamps
that overflow after a timezone shift (9999-12-31T23:59:59-14:00 is year 10000 in
UTC). Dates here are business dates, so years outside 2000..2100 are mistakes or
probes and are refused with the parameter's name. The characters a request may not
carry at all are refused earlier, by web/edge.py.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

INT_MAX = 2**31 - 1
MIN_YEAR = 2000
MAX_YEAR = 2100


class OutOfBounds(ValueError):
    """A parameter's value is outside what the app accepts; the message names it."""

    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(message)
        self.parameter = parameter
        self.message = message


class DateOutOfBounds(OutOfBounds):
    """A date or datetime parameter outside the years MIN_YEAR..MAX_YEAR."""


def _year_problem(parameter: str) -> DateOutOfBounds:
    return DateOutOfBounds(
        parameter, f"{parameter} must be a date in the years {MIN_YEAR}-{MAX_YEAR}."
    )


def bounded_datetime(value: datetime, parameter: str) -> datetime:
    """`value` in UTC (read as UTC when naive), if its year is MIN_YEAR..MAX_YEAR."""
    if not MIN_YEAR <= value.year <= MAX_YEAR:
        raise _year_problem(parameter)
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    # Within these years a shift of at most a day cannot overflow.
    utc = aware.astimezone(UTC)
    if not MIN_YEAR <= utc.year <= MAX_YEAR:
        raise _year_problem(parameter)
    return utc


def bounded_date(value: date, parameter: str) -> date:
    """`value`, if its year is MIN_YEAR..MAX_YEAR."""
    if not MIN_YEAR <= value.year <= MAX_YEAR:
        raise _year_problem(parameter)
    return value


def bounded_int(value: int, parameter: str, *, low: int = 1, high: int = INT_MAX) -> int:
    """`value`, if it is low..high (by default a positive PostgreSQL integer)."""
    if not low <= value <= high:
        raise OutOfBounds(parameter, f"{parameter} must be between {low} and {high}.")
    return value
