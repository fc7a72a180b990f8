"""The notification outbox: enqueue, lease, sent, retry, give up, replies."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from services.models import OutboxMessage, utcnow
from services.outbox import (
    BLOCKED,
    FAILED,
    LEASE,
    MAX_ATTEMPTS,
    PENDING,
    SENT,
    Button,
    Recipient,
    backoff,
    enqueue,
    lease_due,
    mark_retry,
    mark_sent,
    mark_undeliverable,
    message_replied_to,
)
from tests.services.helpers import file, resident, unique

# In the past: a message is due at the moment it is dated (or at once when dated ahead
# of the clock), so leasing by an explicit clock needs dates before the real one.
NOW = datetime(2024, 3, 1, 2, 0, tzinfo=UTC)

# A channel of our own, so rows other tests leave behind are never leased here.
CH = "test-outbox"


async def _enqueue(
    session: AsyncSession, chat: str, key: str = "n_test", *, now: datetime = NOW
) -> OutboxMessage:
    message = enqueue(session, Recipient(CH, chat, "en"), key, now=now)
    await session.flush()
    return message


async def _reload(session: AsyncSession, message: OutboxMessage) -> OutboxMessage:
    await session.refresh(message)
    return message


async def test_enqueue_stores_everything(session: AsyncSession) -> None:
    ticket = await file(session, await resident(session))
    message = enqueue(
        session,
        Recipient("telegram", "12345", "en"),
        "n_done",
        params={"number": ticket.number, "category": {"zh": "维修", "en": "Repairs"}},
        buttons=[
            [Button("btn_stars", "r:rate:1", {"stars": 1}), Button("btn_stars", "r:rate:2")],
            [Button("btn_not_fixed", "r:nf")],
        ],
        ticket=ticket,
        reply_kind="rating_comment",
        now=NOW,
    )
    await session.flush()
    session.expunge(message)
    stored = await session.get(OutboxMessage, message.id)
    assert stored is not None
    assert (stored.channel, stored.chat_id, stored.language) == ("telegram", "12345", "en")
    assert stored.message_key == "n_done"
    assert stored.params == {"number": ticket.number, "category": {"zh": "维修", "en": "Repairs"}}
    assert stored.buttons == [
        [
            {"key": "btn_stars", "data": "r:rate:1", "params": {"stars": 1}},
            {"key": "btn_stars", "data": "r:rate:2", "params": {}},
        ],
        [{"key": "btn_not_fixed", "data": "r:nf", "params": {}}],
    ]
    assert stored.ticket_id == ticket.id
    assert stored.reply_kind == "rating_comment"
    assert (stored.state, stored.attempts) == (PENDING, 0)
    assert stored.next_attempt_at == NOW == stored.created_at
    assert stored.sent_at is None and stored.sent_message_id is None


async def test_lease_due_hands_out_due_rows_oldest_first(session: AsyncSession) -> None:
    chat = unique("c")
    a = await _enqueue(session, chat, "a")
    b = await _enqueue(session, chat, "b")
    later = await _enqueue(session, chat, "later", now=NOW + timedelta(minutes=5))
    leased = await lease_due(session, channels=[CH], now=NOW)
    assert [m.id for m in leased] == [a.id, b.id]
    assert all(m.attempts == 1 for m in leased)
    assert all(m.next_attempt_at == NOW + LEASE for m in leased)
    assert all(m.state == PENDING for m in leased)
    # Leased rows are not handed out again while the lease lasts...
    assert await lease_due(session, channels=[CH], now=NOW + LEASE - timedelta(seconds=1)) == []
    # ...and come back (with the newer row, now due too) when it ends.
    again = await lease_due(session, channels=[CH], now=NOW + timedelta(minutes=5))
    assert [m.id for m in again] == [a.id, b.id, later.id]
    assert [m.attempts for m in again] == [2, 2, 1]


async def test_lease_due_respects_limit_and_channels(session: AsyncSession) -> None:
    chat = unique("c")
    first = await _enqueue(session, chat, "one")
    second = await _enqueue(session, chat, "two")
    other = enqueue(session, Recipient("test-other", chat, "zh"), "elsewhere", now=NOW)
    await session.flush()
    assert [m.id for m in await lease_due(session, channels=[CH], limit=1, now=NOW)] == [first.id]
    assert [m.id for m in await lease_due(session, channels=[CH], limit=5, now=NOW)] == [second.id]
    assert await lease_due(session, channels=["nobody"], now=NOW) == []
    both = await lease_due(session, channels=[CH, "test-other"], now=NOW)
    assert [m.id for m in both] == [other.id]


async def test_mark_sent(session: AsyncSession) -> None:
    message = await _enqueue(session, unique("c"))
    [leased] = await lease_due(session, channels=[CH], now=NOW)
    await mark_sent(session, leased.id, sent_message_id="991", now=NOW + timedelta(seconds=1))
    stored = await _reload(session, message)
    assert stored.state == SENT
    assert stored.sent_message_id == "991"
    assert stored.sent_at == NOW + timedelta(seconds=1)
    assert stored.last_error is None
    # Sent messages are never leased again.
    assert await lease_due(session, channels=[CH], now=NOW + timedelta(days=1)) == []


async def test_mark_retry_backs_off_then_fails(session: AsyncSession) -> None:
    message = await _enqueue(session, unique("c"))
    now = NOW
    for attempt in range(1, MAX_ATTEMPTS + 1):
        [leased] = await lease_due(session, channels=[CH], now=now)
        assert leased.id == message.id and leased.attempts == attempt
        await mark_retry(
            session, leased, error=f"timeout {attempt}", delay=backoff(attempt), now=now
        )
        stored = await _reload(session, message)
        assert stored.last_error == f"timeout {attempt}"
        if attempt < MAX_ATTEMPTS:
            assert stored.state == PENDING
            assert stored.next_attempt_at == now + backoff(attempt)
            # Not due before the backoff has passed.
            assert (
                await lease_due(
                    session, channels=[CH], now=now + backoff(attempt) - timedelta(seconds=1)
                )
                == []
            )
            now = now + backoff(attempt)
    assert (await _reload(session, message)).state == FAILED
    assert await lease_due(session, channels=[CH], now=now + timedelta(days=1)) == []


async def test_mark_retry_truncates_long_errors(session: AsyncSession) -> None:
    message = await _enqueue(session, unique("c"))
    [leased] = await lease_due(session, channels=[CH], now=NOW)
    await mark_retry(session, leased, error="x" * 5000, delay=timedelta(seconds=2), now=NOW)
    assert len((await _reload(session, message)).last_error or "") == 1000


async def test_message_dated_ahead_of_the_clock_is_due_at_once(session: AsyncSession) -> None:
    future = datetime(2031, 5, 6, 2, 0, tzinfo=UTC)
    before = utcnow()
    message = await _enqueue(session, unique("c"), now=future)
    assert message.created_at == future
    assert before <= message.next_attempt_at <= utcnow()
    leased = await lease_due(session, channels=[CH], now=utcnow())
    assert [m.id for m in leased] == [message.id]


def test_backoff_grows_and_is_capped() -> None:
    assert backoff(0) == timedelta(seconds=2)
    assert backoff(1) == timedelta(seconds=2)
    assert backoff(2) == timedelta(seconds=4)
    assert backoff(3) == timedelta(seconds=8)
    assert backoff(9) == timedelta(seconds=512)
    assert backoff(10) == backoff(50) == timedelta(minutes=10)


@pytest.mark.parametrize(("blocked", "state"), [(True, BLOCKED), (False, FAILED)])
async def test_mark_undeliverable(session: AsyncSession, blocked: bool, state: str) -> None:
    message = await _enqueue(session, unique("c"))
    [leased] = await lease_due(session, channels=[CH], now=NOW)
    await mark_undeliverable(session, leased.id, blocked=blocked, error="Forbidden: bot blocked")
    stored = await _reload(session, message)
    assert stored.state == state
    assert stored.last_error == "Forbidden: bot blocked"
    assert await lease_due(session, channels=[CH], now=NOW + timedelta(days=1)) == []


async def test_message_replied_to(session: AsyncSession) -> None:
    chat = unique("c")
    rating = enqueue(session, Recipient(CH, chat, "zh"), "n_done", reply_kind="rating_comment")
    other = await _enqueue(session, unique("c"))
    await session.flush()
    await mark_sent(session, rating.id, sent_message_id="77", now=NOW)
    await mark_sent(session, other.id, sent_message_id="77", now=NOW)
    found = await message_replied_to(session, channel=CH, chat_id=chat, sent_message_id="77")
    assert found is not None and found.id == rating.id
    assert found.reply_kind == "rating_comment"
    assert await message_replied_to(session, channel=CH, chat_id=chat, sent_message_id="78") is None
    assert (
        await message_replied_to(session, channel="web", chat_id=chat, sent_message_id="77") is None
    )
