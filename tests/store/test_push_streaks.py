"""Contract: the push deny streak (both backends): counted by one atomic
upsert, restarted after its window below the limit, kept at the limit
until cleared; pushes are found by their waiter."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from radmfa.core.admin_ports import Store
from radmfa.core.model import OobSession, Phase

START = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
WINDOW, LIMIT = 600, 3


async def note(store: Store, user: str, at: datetime) -> int:
    return await store.note_push_refusal(user, now=at, window_s=WINDOW, limit=LIMIT)


async def test_a_streak_counts_per_user_and_restarts_after_its_window(store: Store) -> None:
    assert [await note(store, "alice", START + timedelta(seconds=i)) for i in range(2)] == [1, 2]
    assert await note(store, "bob", START) == 1
    assert await store.push_streak("ALICE", now=START, window_s=WINDOW, limit=LIMIT) == 2  # any spelling
    later = START + timedelta(seconds=WINDOW + 1)
    assert await store.push_streak("alice", now=later, window_s=WINDOW, limit=LIMIT) == 0
    assert await note(store, "alice", later) == 1  # a new streak from here
    assert await note(store, "alice", later + timedelta(seconds=WINDOW - 1)) == 2


async def test_a_streak_at_the_limit_stays_until_cleared(store: Store) -> None:
    for i in range(LIMIT):
        await note(store, "alice", START + timedelta(seconds=i))
    much_later = START + timedelta(days=30)
    assert await store.push_streak("alice", now=much_later, window_s=WINDOW, limit=LIMIT) == LIMIT
    assert await note(store, "alice", much_later) == LIMIT + 1
    assert await store.clear_push_streak("Alice") is True
    assert await store.clear_push_streak("alice") is False
    assert await store.push_streak("alice", now=much_later, window_s=WINDOW, limit=LIMIT) == 0


async def test_concurrent_refusals_each_see_their_own_count(store: Store) -> None:
    counts = await asyncio.gather(*(note(store, "alice", START) for _ in range(8)))
    assert sorted(counts) == list(range(1, 9))  # exactly one sees the limit: one fraud report


async def test_a_push_is_found_by_its_waiter_until_taken_over(store: Store) -> None:
    held = OobSession("o1", "alice", "nas", "push", "topic", "w-1", START + timedelta(minutes=1),
                      calling_station_id="10.0.0.9")
    await store.hold_oob(held, now=START)
    assert (await store.get_oob_for_waiter("w-1")).id == "o1"
    await store.decide_oob("o1", Phase.APPROVED, "approved", now=START)
    assert (await store.get_oob_for_waiter("w-1")).phase is Phase.APPROVED  # decided: still found
    assert await store.get_oob_for_waiter("w-2") is None
