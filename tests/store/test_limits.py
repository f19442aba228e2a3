"""Contract: send counters (both backends), and limits.check_send's
boundaries and atomicity over a real store."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from radmfa.config import LimitsConfig, MethodLimit, load
from radmfa.core import limits
from radmfa.core.admin_ports import Store
from radmfa.service.app import purge_once
from tests.fakes.ports import RecordingLog
from tests.store.conftest import Backend

LOG = RecordingLog()  # the core's log lines (EventLog)
# 12:00:00 is the start of a 10-minute window and of a clock hour.
START = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
SETTINGS = LimitsConfig()  # 5 per user per 10 minutes; sms 500, voice 200 an hour


async def test_count_send_counts_per_scope_method_and_window(store: Store) -> None:
    end = START + timedelta(minutes=10)
    assert [await store.count_send("user:alice", "sms", 100, expires_at=end) for _ in range(3)] == [1, 2, 3]
    assert await store.count_send("user:alice", "voice", 100, expires_at=end) == 1
    assert await store.count_send("user:bob", "sms", 100, expires_at=end) == 1
    assert await store.count_send("user:alice", "sms", 700, expires_at=end) == 1
    await store.uncount_send("user:alice", "sms", 100)
    assert await store.count_send("user:alice", "sms", 100, expires_at=end) == 3
    await store.uncount_send("user:nobody", "sms", 100)  # nothing to take back: no error


async def test_purge_send_counters(store: Store, backend: Backend) -> None:
    await store.count_send("global", "sms", 1, expires_at=START)
    await store.count_send("global", "sms", 2, expires_at=START + timedelta(seconds=1))
    assert await store.purge_send_counters(now=START) == 1
    assert await backend.raw("SELECT window_start FROM send_counters") == [(2,)]
    assert await limits.purge(store, now=START + timedelta(hours=1)) == 1


async def test_housekeeping_purges_ended_windows(store: Store, backend: Backend, tmp_path: Path) -> None:
    await limits.allow_send(store, SETTINGS, user="alice", method="sms", now=START, log=LOG)
    (tmp_path / "housekeeping.toml").write_text("")
    cfg = load(tmp_path / "housekeeping.toml")
    await purge_once(store, cfg, now=START + timedelta(minutes=59))  # the hour's global row stays
    assert await backend.raw("SELECT scope FROM send_counters") == [("global",)]
    await purge_once(store, cfg, now=START + timedelta(hours=1))
    assert await backend.raw("SELECT scope FROM send_counters") == []


async def test_fifth_send_allowed_sixth_refused_until_the_window_ends(store: Store) -> None:
    for i in range(5):
        assert await limits.allow_send(store, SETTINGS, user="alice", method="sms",
                                       now=START + timedelta(minutes=i), log=LOG) is None
    refusal = await limits.check_send(store, SETTINGS, user="alice", method="sms",
                                      now=START + timedelta(minutes=2, seconds=30), log=LOG)
    assert refusal == limits.Refusal(
        limits.RATE_LIMITED_USER, "Too many codes sent; try again in 8 minutes.", 450
    )
    last_second = START + timedelta(minutes=9, seconds=59)
    assert await limits.allow_send(store, SETTINGS, user="alice", method="sms", now=last_second, log=LOG) == (
        "Too many codes sent; try again in 1 minute."
    )
    # The window rolls over at exactly its end.
    assert await limits.allow_send(store, SETTINGS, user="alice", method="sms",
                                   now=START + timedelta(minutes=10), log=LOG) is None


async def test_limits_are_per_user_and_per_method(store: Store) -> None:
    for _ in range(5):
        assert await limits.allow_send(store, SETTINGS, user="alice", method="voice", now=START, log=LOG) is None
    assert await limits.allow_send(store, SETTINGS, user="alice", method="voice", now=START, log=LOG) == (
        "Too many calls placed; try again in 10 minutes."
    )
    # Every spelling of a name is one user (core.policy.name_key).
    assert await limits.allow_send(store, SETTINGS, user="CORP\\Alice", method="voice", now=START, log=LOG) is not None
    assert await limits.allow_send(store, SETTINGS, user="alice", method="push", now=START, log=LOG) is None
    assert await limits.allow_send(store, SETTINGS, user="bob", method="voice", now=START, log=LOG) is None


async def test_global_cap_refuses_everyone_and_does_not_charge_the_user(store: Store) -> None:
    settings = LimitsConfig(sms=MethodLimit(per_user=2, per_hour=3))
    for user in ("u1", "u2", "u3"):
        assert await limits.allow_send(store, settings, user=user, method="sms", now=START, log=LOG) is None
    log = RecordingLog()
    refusal = await limits.check_send(store, settings, user="u4", method="sms", now=START + timedelta(minutes=45),
                                      log=log)
    assert refusal is not None and refusal.reason == limits.RATE_LIMITED_GLOBAL
    assert log.lines == [("warning", "send refused", {"user": "u4", "method": "sms", "reason": refusal.reason,
                                                      "count": 4})]
    assert refusal.message == (
        "Too many text messages are being sent right now; try again in 15 minutes or use another method."
    )
    # u4 got nothing, so u4's own count is untouched: after the hour, two more.
    next_hour = START + timedelta(hours=1)
    assert await limits.allow_send(store, settings, user="u4", method="sms", now=next_hour, log=LOG) is None
    assert await limits.allow_send(store, settings, user="u4", method="sms", now=next_hour, log=LOG) is None


async def test_zero_means_no_limit(store: Store) -> None:
    settings = LimitsConfig(email=MethodLimit(per_user=0, per_hour=0))
    for _ in range(20):
        assert await limits.allow_send(store, settings, user="alice", method="email", now=START, log=LOG) is None
    with pytest.raises(ValueError, match="not a send method"):
        await limits.allow_send(store, settings, user="alice", method="totp", now=START, log=LOG)


async def test_concurrent_sends_from_several_stores_allow_exactly_the_limit(backend: Backend) -> None:
    # Five store instances stand in for five workers or nodes on one database.
    stores = [await backend.open() for _ in range(5)]
    for s in stores:
        await s.count_send("warm-up", "sms", 0, expires_at=START)  # open every connection first
    results = await asyncio.gather(*(
        limits.allow_send(stores[i % 5], SETTINGS, user="alice", method="sms", now=START, log=LOG) for i in range(50)
    ))
    assert sum(r is None for r in results) == 5
    assert await backend.raw("SELECT n FROM send_counters WHERE scope = ?", "user:alice") == [(50,)]
    assert await backend.raw("SELECT n FROM send_counters WHERE scope = ?", "global") == [(5,)]
