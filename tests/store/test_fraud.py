"""Contract: fraud reports (both backends), and raise_alert's block."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from radmfa.config import FraudConfig
from radmfa.core import fraud
from radmfa.core.admin_ports import Store
from radmfa.core.model import FraudReport, NewUser, UserState
from tests.fakes.ports import RecordingLog

LOG = RecordingLog()  # the core's log lines (EventLog)
NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


def report(minutes: int = 0, **changes: object) -> FraudReport:
    fields: dict[str, object] = {
        "time": NOW + timedelta(minutes=minutes),
        "username": "alice",
        "source": "voice",
        "client_name": "vpn1",
        "calling_station_id": "198.51.100.7",
        "phone": "+14155550100",
    }
    fields.update(changes)
    return FraudReport(**fields)  # type: ignore[arg-type]


async def test_add_list_and_filter(store: Store) -> None:
    first = await store.add_fraud_report(report(0, username="CORP\\Alice"))
    second = await store.add_fraud_report(report(5, source="push", phone="", device="ntfy:alice-7f3"))
    await store.add_fraud_report(report(10, username="bob", phone="+14155550111"))
    assert first.id is not None and second.id is not None and first.id != second.id
    assert first.username == "alice"  # stored by name key, so every spelling finds it

    everything = await store.list_fraud_reports()
    assert [r.id for r in everything] == sorted(r.id for r in everything if r.id is not None)
    assert everything[0] == first and everything[1].device == "ntfy:alice-7f3"
    assert [r.source for r in await store.list_fraud_reports(username="ALICE")] == ["voice", "push"]
    assert [r.username for r in await store.list_fraud_reports(phone="+14155550111")] == ["bob"]
    ranged = await store.list_fraud_reports(since=NOW + timedelta(minutes=5), until=NOW + timedelta(minutes=10))
    assert [r.source for r in ranged] == ["push"]


async def test_set_status(store: Store) -> None:
    stored = await store.add_fraud_report(report())
    assert stored.id is not None
    assert await store.set_fraud_status(stored.id, "false-alarm")
    assert [r.status for r in await store.list_fraud_reports(status="false-alarm")] == ["false-alarm"]
    assert await store.list_fraud_reports(status="new") == []
    assert not await store.set_fraud_status(stored.id + 100, "reviewed")
    with pytest.raises(ValueError, match="not a fraud status"):
        await store.set_fraud_status(stored.id, "closed")


async def test_raise_alert_blocks_for_the_configured_days(store: Store) -> None:
    await store.add_user(NewUser("alice"))
    notified: list[FraudReport] = []

    async def notify(r: FraudReport) -> None:
        notified.append(r)

    log = RecordingLog()
    stored = await fraud.raise_alert(store, FraudConfig(block_days=90), report(), now=NOW, notify=notify, log=log)
    assert stored is not None and notified == [stored]
    assert log.events() == ["fraud reported"]  # the operator guide's log line
    user = await store.get_user("alice")
    assert user is not None and user.state is UserState.BLOCKED
    assert user.blocked_until == NOW + timedelta(days=90) and user.blocked_reason == "fraud"


async def test_raise_alert_without_block_or_reports(store: Store) -> None:
    await store.add_user(NewUser("alice"))
    assert await fraud.raise_alert(store, FraudConfig(block_user=False), report(), now=NOW, log=LOG) is not None
    user = await store.get_user("alice")
    assert user is not None and user.state is UserState.ENABLED

    log = RecordingLog()
    assert await fraud.raise_alert(store, FraudConfig(allow_reports=False), report(1), now=NOW, log=log) is None
    assert log.events() == ["fraud report ignored (allow_reports = false)"]
    assert len(await store.list_fraud_reports()) == 1

    await fraud.raise_alert(store, FraudConfig(block_days=0), report(2), now=NOW, log=LOG)
    user = await store.get_user("alice")
    assert user is not None and user.state is UserState.BLOCKED and user.blocked_until is None


async def test_raise_alert_never_shortens_a_longer_block(store: Store) -> None:
    # A leaver blocked by directory sync (or a user an admin blocked until
    # unblocked) must not come back after [fraud] block_days: their app
    # passwords skip the upstream that would otherwise stop them.
    await store.add_user(NewUser("alice"))
    await store.update_user("alice", {"state": UserState.BLOCKED, "blocked_until": None, "blocked_reason": "left"})
    await fraud.raise_alert(store, FraudConfig(block_days=90), report(), now=NOW, log=LOG)
    user = await store.get_user("alice")
    assert user is not None and user.state is UserState.BLOCKED
    assert (user.blocked_until, user.blocked_reason) == (None, "left")
    # A shorter block (a 15-minute lockout) is extended to the fraud block.
    lockout_end = NOW + timedelta(minutes=15)
    await store.update_user("alice", {"blocked_until": lockout_end, "blocked_reason": "lockout"})
    await fraud.raise_alert(store, FraudConfig(block_days=90), report(1), now=NOW, log=LOG)
    user = await store.get_user("alice")
    assert user is not None and (user.blocked_until, user.blocked_reason) == (NOW + timedelta(days=90), "fraud")


async def test_raise_alert_block_forgets_devices_and_cached_logins(store: Store) -> None:
    # Seed 000: restore MFA on remembered devices when the account is compromised.
    user = await store.add_user(NewUser("alice"))
    await store.record_mfa_success(user.id, scopes=["0:user"], station="198.51.100.7", client="vpn1", now=NOW)
    await fraud.raise_alert(store, FraudConfig(block_days=90), report(), now=NOW, log=LOG)
    assert await store.list_devices("alice") == []
    view = await store.exemption_view(user.id, scopes=["0:user"], station="198.51.100.7", client="vpn1", now=NOW)
    assert view.cache == {} and view.remembered_at is None
