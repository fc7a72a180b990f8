"""Property tests of ticket numbers: whatever the moments of filing, numbers are
unique, carry the Shanghai date, count up within a day, and pass the validation
every entry point applies (web API, dashboard search, chat text)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services import make_engine, make_sessionmaker, prepare_database
from services.numbers import is_number, numbers_in
from services.tickets import NUMBER_TIMEZONE, next_ticket_number

MOMENTS = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31), timezones=st.just(UTC)
)


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('numbers') / 'numbers.db'}"
    asyncio.run(prepare_database(url))
    yield url


async def _numbers(url: str, moments: list[datetime]) -> list[str]:
    engine = make_engine(url)
    try:
        async with make_sessionmaker(engine)() as session, session.begin():
            return [await next_ticket_number(session, moment) for moment in moments]
    finally:
        await engine.dispose()


@settings(max_examples=15, deadline=None)
@given(moments=st.lists(MOMENTS, min_size=1, max_size=10))
def test_numbers_are_unique_dated_and_valid(database: str, moments: list[datetime]) -> None:
    numbers = asyncio.run(_numbers(database, moments))
    assert len(set(numbers)) == len(numbers)
    last: dict[str, int] = {}
    for moment, number in zip(moments, numbers, strict=True):
        assert is_number(number), number
        assert numbers_in(f"status of {number}, please") == [number]
        _, day, sequence = number.split("-")
        assert day == moment.astimezone(NUMBER_TIMEZONE).strftime("%y%m%d")
        assert int(sequence) > last.get(day, 0)  # counts up within the day
        last[day] = int(sequence)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=30))
def test_number_validation_accepts_only_the_format(text: str) -> None:
    if is_number(text):
        assert re.fullmatch(r"RO-[0-9]{6}-[0-9]{4,8}", text, re.ASCII) or not text.isascii()
    else:
        assert not re.fullmatch(r"RO-[0-9]{6}-[0-9]{4,8}", text)


def test_the_fixture_is_used(database: str) -> None:
    assert Path(database.removeprefix("sqlite+aiosqlite:///")).exists()
