"""Property tests of the Open311 parameter parsing and of what it shows of a
request: bad input is a 400 with a sentence, never a crash; good input reads back
as given; contact details never survive scrubbing."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, timezone
from urllib.parse import urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.api_clients import valid_media_url
from services.lifecycle import TicketStatus
from services.public_tickets import coarse_address, coarse_coordinate, scrub_text
from web.open311.params import Open311Error
from web.open311.params import coordinate_param as _coordinate
from web.open311.params import datetime_param as _parse_datetime
from web.open311.params import list_param as _split
from web.open311.params import text_param as _text
from web.open311.views import open311_status, statuses_for

BOUNDED = settings(max_examples=200, deadline=None)
OFFSETS = [UTC, timezone(timedelta(hours=8)), timezone(-timedelta(hours=5, minutes=30))]
MOBILE = st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True)


@BOUNDED
@given(st.one_of(st.none(), st.text(max_size=60)))
def test_datetime_parameter_is_an_aware_datetime_or_a_400(value: str | None) -> None:
    try:
        parsed = _parse_datetime(value, "start_date")
    except Open311Error as exc:
        assert exc.status_code == 400 and "start_date" in exc.description
        return
    assert parsed is None or parsed.tzinfo is not None


@BOUNDED
@given(
    st.datetimes(
        min_value=datetime(2000, 1, 2),
        max_value=datetime(2100, 12, 30),
        timezones=st.sampled_from(OFFSETS),
    )
)
def test_datetime_parameter_round_trips(when: datetime) -> None:
    assert _parse_datetime(when.isoformat(), "end_date") == when
    naive = when.replace(tzinfo=None)
    assert _parse_datetime(naive.isoformat(), "end_date") == naive.replace(tzinfo=UTC)


@BOUNDED
@given(st.one_of(st.none(), st.text(max_size=50)))
def test_coordinate_parameter_is_a_bounded_number_or_a_400(value: str | None) -> None:
    try:
        number = _coordinate(value, "lat", 90)
    except Open311Error as exc:
        assert exc.status_code == 400 and "lat" in exc.description
        return
    assert number is None or (math.isfinite(number) and abs(number) <= 90)


@BOUNDED
@given(st.floats(min_value=-180, max_value=180, allow_nan=False))
def test_coordinate_parameter_reads_any_longitude(value: float) -> None:
    assert _coordinate(repr(value), "long", 180) == value


@BOUNDED
@given(st.one_of(st.none(), st.text(max_size=80)), st.integers(min_value=1, max_value=60))
def test_text_parameter(value: str | None, limit: int) -> None:
    try:
        text = _text(value, "description", limit)
    except Open311Error as exc:
        assert exc.status_code == 400
        assert value is not None and ("\x00" in value or len(value.strip()) > limit)
        return
    assert text is None or (text == text.strip() and 0 < len(text) <= limit)


@BOUNDED
@given(st.one_of(st.none(), st.text(max_size=80)))
def test_list_parameter(value: str | None) -> None:
    parts = _split(value)
    assert all(part and part == part.strip() and "," not in part for part in parts)


@BOUNDED
@given(st.lists(st.sampled_from(["open", "closed", "other", ""]), max_size=4))
def test_status_filter_agrees_with_the_status_shown(wanted: list[str]) -> None:
    ours = statuses_for(wanted)
    for status in TicketStatus:
        assert (status.value in ours) == (open311_status(status.value) in wanted)


@BOUNDED
@given(st.text(max_size=30), MOBILE, st.text(max_size=30))
def test_phone_numbers_never_survive_scrubbing(before: str, mobile: str, after: str) -> None:
    assert mobile not in scrub_text(f"{before} {mobile} {after}")
    shown = coarse_address(f"{before} {mobile} {after}", "幸福里社区")
    assert shown is None or (mobile not in shown and len(shown) <= 200)


@BOUNDED
@given(st.text(max_size=200), st.one_of(st.none(), st.text(max_size=20)))
def test_coarse_address_never_crashes(address: str, community: str | None) -> None:
    shown = coarse_address(address, community)
    assert shown is None or 0 < len(shown) <= 200


@BOUNDED
@given(st.one_of(st.none(), st.floats()))
def test_coarse_coordinate(value: float | None) -> None:
    shown = coarse_coordinate(value)
    if value is None or not math.isfinite(value):
        assert shown is None
    else:
        assert shown is not None and abs(shown - value) <= 0.001


@BOUNDED
@given(
    st.sampled_from(["http", "https", "HTTPS"]),
    st.from_regex(r"[a-z0-9]{1,12}(\.[a-z0-9]{1,10}){0,3}(:[0-9]{1,5})?", fullmatch=True),
    st.from_regex(r"(/[A-Za-z0-9._~%-]{0,12}){0,4}(\?[a-z]=[a-z0-9]{0,6})?", fullmatch=True),
)
def test_an_http_url_with_a_host_is_a_media_url(scheme: str, host: str, path: str) -> None:
    url = f"{scheme}://{host}{path}"
    port = host.partition(":")[2]
    assert valid_media_url(url) == (not port or int(port) <= 65535)


@BOUNDED
@given(st.text(max_size=120))
def test_a_media_url_is_always_an_http_url_with_a_host(url: str) -> None:
    if valid_media_url(url):
        parts = urlsplit(url)
        assert parts.scheme.lower() in ("http", "https") and parts.hostname
        assert not any(c.isspace() or ord(c) < 32 for c in url)


@BOUNDED
@given(st.sampled_from(["javascript:", "data:", "vbscript:", "file://", "//", ""]), st.text())
def test_no_other_scheme_is_a_media_url(scheme: str, rest: str) -> None:
    assert not valid_media_url(scheme + rest)


def test_pytest_sees_open311_error_as_an_exception() -> None:
    with pytest.raises(Open311Error):
        _coordinate("north", "lat", 90)
