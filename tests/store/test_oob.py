"""Contract: out-of-band sessions, sent codes and the callback key (both backends)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from radmfa.core.admin_ports import Store
from radmfa.core.model import OobSession, Phase
from tests.store.conftest import Backend
from tests.store.test_contract import session

NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


def oob(oob_id: str = "s1", **changes: object) -> OobSession:
    base = OobSession(
        id=oob_id,
        username="alice",
        client="vpn1",
        method="voice",
        destination="+14155550100",
        waiter="r1",
        expires_at=NOW + timedelta(seconds=50),
        calling_station_id="198.51.100.7",
    )
    return replace(base, **changes)  # type: ignore[arg-type]


async def test_hold_opens_then_a_second_request_joins(store: Store) -> None:
    first, opened = await store.hold_oob(oob("s1"), now=NOW)
    assert opened and first.id == "s1"
    joined, opened = await store.hold_oob(oob("s2", waiter="r2", method="push"), now=NOW)
    assert not opened and joined.id == "s1" and joined.waiter == "r2" and joined.method == "voice"
    assert await store.get_oob("s2") is None
    # another client or user is another session
    _, opened = await store.hold_oob(oob("s3", client="vpn2"), now=NOW)
    assert opened


async def test_a_request_from_another_station_does_not_take_over(store: Store) -> None:
    await store.hold_oob(oob("s1"), now=NOW)
    other, opened = await store.hold_oob(oob("s2", waiter="r2", calling_station_id="203.0.113.66"), now=NOW)
    assert not opened and other.id == "s1" and other.waiter == "r1"
    kept = await store.get_oob("s1")
    assert kept is not None and kept.waiter == "r1"
    assert await store.get_oob("s2") is None


async def test_decide_is_single_and_atomic(store: Store) -> None:
    await store.hold_oob(oob(), now=NOW)
    results = await asyncio.gather(
        store.decide_oob("s1", Phase.APPROVED, "approved", now=NOW),
        store.decide_oob("s1", Phase.DENIED, "denied", now=NOW),
    )
    won = [r for r in results if r is not None]
    assert len(won) == 1
    stored = await store.get_oob("s1")
    assert stored is not None and stored.phase is won[0].phase and stored.reason == won[0].reason
    assert await store.decide_oob("s1", Phase.APPROVED, "approved", now=NOW) is None
    assert await store.decide_oob("nope", Phase.APPROVED, "approved", now=NOW) is None


async def test_expired_session_cannot_be_approved_and_frees_the_slot(store: Store) -> None:
    await store.hold_oob(oob(), now=NOW)
    late = NOW + timedelta(seconds=51)
    assert await store.decide_oob("s1", Phase.APPROVED, "approved", now=late) is None
    fresh, opened = await store.hold_oob(oob("s2", expires_at=late + timedelta(seconds=50)), now=late)
    assert opened and fresh.id == "s2"
    old = await store.get_oob("s1")
    assert old is not None and old.phase is Phase.EXPIRED
    expired = await store.expire_oob("s2")
    assert expired is not None and expired.phase is Phase.EXPIRED
    assert await store.expire_oob("s2") is None


async def test_pending_for_destination_and_purge(store: Store) -> None:
    await store.hold_oob(oob("s1", method="sms", code_hash=b"h" * 32), now=NOW)
    await store.hold_oob(oob("s2", client="vpn2"), now=NOW)
    found = await store.pending_oob_for("+14155550100", "sms", now=NOW)
    assert [s.id for s in found] == ["s1"] and found[0].code_hash == b"h" * 32
    assert await store.pending_oob_for("+14155550100", "sms", now=NOW + timedelta(seconds=60)) == []
    assert await store.purge_oob(before=NOW + timedelta(seconds=60)) == 2
    assert await store.get_oob("s1") is None


async def test_sent_code_is_taken_once_and_expires(store: Store) -> None:
    await store.put_code(b"s" * 16, b"hash", expires_at=NOW + timedelta(seconds=300))
    taken = await store.take_code(b"s" * 16, now=NOW)
    assert taken == (b"hash", NOW + timedelta(seconds=300))
    assert await store.take_code(b"s" * 16, now=NOW) is None
    await store.put_code(b"t" * 16, b"hash", expires_at=NOW + timedelta(seconds=300))
    assert await store.take_code(b"t" * 16, now=NOW + timedelta(seconds=301)) is None


async def test_callback_key_is_shared_by_every_instance(store: Store, backend: Backend) -> None:
    key = await store.callback_key()
    other = await backend.open()
    assert len(key) == 32 and await other.callback_key() == key
    raw = await backend.raw("SELECT value FROM store_meta WHERE name = ?", "callback_key")
    assert key not in bytes(raw[0][0])  # sealed at rest


async def test_count_pending_counts_open_challenges_and_held_requests(store: Store) -> None:
    assert await store.count_pending(now=NOW) == (0, 0)
    for n in range(3):
        await store.put_session(session(bytes([n]) * 16, expires_at=NOW + timedelta(seconds=n)))
    await store.hold_oob(oob("s1"), now=NOW)
    await store.hold_oob(oob("s2", username="bob", waiter="r2", calling_station_id="198.51.100.8"), now=NOW)
    await store.hold_oob(oob("s3", username="carol", waiter="r3", expires_at=NOW), now=NOW)  # expired
    await store.decide_oob("s2", Phase.APPROVED, "approved", now=NOW)  # answered: no longer held
    assert await store.count_pending(now=NOW) == (2, 1)  # the session expiring at NOW is not pending
    assert await store.count_pending(now=NOW + timedelta(seconds=60)) == (0, 0)
