"""Contract: fraud reports (both backends), and raise_alert's block."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from radmfa import fraud
from radmfa.config import FraudConfig
from radmfa.core.model import FraudReport, NewUser, UserState
from radmfa.core.ports import Store

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

    stored = await fraud.raise_alert(store, FraudConfig(block_days=90), report(), now=NOW, notify=notify)
    assert stored is not None and notified == [stored]
    user = await store.get_user("alice")
    assert user is not None and user.state is UserState.BLOCKED
    assert user.blocked_until == NOW + timedelta(days=90) and user.blocked_reason == "fraud"


async def test_raise_alert_without_block_or_reports(store: Store) -> None:
    await store.add_user(NewUser("alice"))
    assert await fraud.raise_alert(store, FraudConfig(block_user=False), report(), now=NOW) is not None
    user = await store.get_user("alice")
    assert user is not None and user.state is UserState.ENABLED

    assert await fraud.raise_alert(store, FraudConfig(allow_reports=False), report(1), now=NOW) is None
    assert len(await store.list_fraud_reports()) == 1

    await fraud.raise_alert(store, FraudConfig(block_days=0), report(2), now=NOW)
    user = await store.get_user("alice")
    assert user is not None and user.state is UserState.BLOCKED and user.blocked_until is None
