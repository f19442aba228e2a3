"""Contract: users' sessions on the NASes, from accounting (both backends)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from radmfa.core.admin_ports import Store
from radmfa.radius import accounting
from radmfa.radius.accounting import AccountingEvent

NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
START = AccountingEvent(accounting.START, "S-1", "Alice", "192.0.2.10", "10.8.0.5", "198.51.100.7", "vpn-1")


def at(seconds: float) -> datetime:
    return NOW + timedelta(seconds=seconds)


async def test_start_interim_stop(store: Store) -> None:
    await store.record_accounting("vpn", "192.0.2.1", START, now=NOW)
    [live] = await store.list_nas_sessions(username="alice")  # any spelling of the name
    assert (live.client, live.session_id, live.username, live.nas_address, live.nas_ip, live.framed_ip,
            live.calling_station_id, live.nas_identifier) == (
        "vpn", "S-1", "Alice", "192.0.2.1", "192.0.2.10", "10.8.0.5", "198.51.100.7", "vpn-1")
    assert (live.started_at, live.seen_at, live.stopped_at) == (NOW, NOW, None)

    # An Interim-Update without Framed-IP-Address keeps the one recorded, refreshes seen_at.
    interim = replace(START, status=accounting.INTERIM_UPDATE, framed_ip="")
    await store.record_accounting("vpn", "192.0.2.1", interim, now=at(60))
    [live] = await store.list_nas_sessions()
    assert (live.started_at, live.seen_at, live.framed_ip) == (NOW, at(60), "10.8.0.5")

    await store.record_accounting("vpn", "192.0.2.1", replace(START, status=accounting.STOP), now=at(90))
    assert await store.list_nas_sessions() == []
    [ended] = await store.list_nas_sessions(live=False)
    assert (ended.started_at, ended.stopped_at, ended.stop_reason) == (NOW, at(90), "stop")

    # A late Interim after the Stop does not bring it back; a new Start does.
    await store.record_accounting("vpn", "192.0.2.1", interim, now=at(95))
    assert await store.list_nas_sessions() == []
    await store.record_accounting("vpn", "192.0.2.1", START, now=at(100))
    [again] = await store.list_nas_sessions()
    assert (again.started_at, again.stopped_at) == (at(100), None)


async def test_sessions_are_per_client_and_accounting_on_ends_one_clients(store: Store) -> None:
    await store.record_accounting("vpn", "192.0.2.1", START, now=NOW)
    await store.record_accounting("wifi", "192.0.2.2", START, now=NOW)  # the same id on another NAS
    bob = replace(START, session_id="S-2", username="bob")
    await store.record_accounting("vpn", "192.0.2.1", bob, now=NOW)
    assert len(await store.list_nas_sessions()) == 3
    on = AccountingEvent(accounting.ACCOUNTING_ON, "", "", "", "", "", "")
    await store.record_accounting("vpn", "192.0.2.1", on, now=at(5))
    [left] = await store.list_nas_sessions()
    assert left.client == "wifi"
    ended = [s for s in await store.list_nas_sessions(live=False) if s.client == "vpn"]
    assert {s.stop_reason for s in ended} == {"accounting-on"}


async def test_end_and_purge(store: Store) -> None:
    await store.record_accounting("vpn", "192.0.2.1", START, now=NOW)
    [live] = await store.list_nas_sessions()
    assert await store.end_nas_session(live.id, "disconnected", now=at(1))
    assert not await store.end_nas_session(live.id, "disconnected", now=at(2))  # already over
    [ended] = await store.list_nas_sessions(live=False)
    assert ended.stop_reason == "disconnected"
    silent = replace(START, session_id="S-9")
    await store.record_accounting("vpn", "192.0.2.1", silent, now=at(10))
    assert await store.purge_nas_sessions(before=at(5)) == 1  # the ended one
    assert [s.session_id for s in await store.list_nas_sessions(live=False)] == ["S-9"]
    assert await store.purge_nas_sessions(before=at(11)) == 1  # not heard of since
    assert await store.list_nas_sessions(live=False) == []
