"""Contract: each serve process's view of its upstreams and providers (both backends)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from radmfa.core.admin_model import ComponentHealth
from radmfa.core.admin_ports import Store

NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
DEAD = ComponentHealth(
    node="node-a/101", kind="upstream", name="127.0.0.1:1812", up=False, reported_at=NOW,
    last_failure_at=NOW - timedelta(seconds=3), failure_reason="timed out", latency_s=2.5,
)
TWILIO = ComponentHealth(
    node="node-a/101", kind="provider", name="twilio", up=True, reported_at=NOW,
    last_ok_at=NOW - timedelta(seconds=1), latency_s=0.125,
)


async def test_reports_are_upserted_per_node_and_component(store: Store) -> None:
    assert await store.list_health() == []
    other = replace(DEAD, node="node-b/7", up=True, last_ok_at=NOW, last_failure_at=None, failure_reason="")
    await store.report_health([DEAD, TWILIO, other])
    assert await store.list_health() == [TWILIO, DEAD, other]  # by node, kind, name
    # The next report replaces the node's row: the server came back, and
    # the provider's failure is kept beside its earlier success.
    later = NOW + timedelta(seconds=15)
    back = replace(DEAD, up=True, reported_at=later, last_ok_at=later, latency_s=0.004)
    failing = replace(TWILIO, up=False, reported_at=later, last_failure_at=later, failure_reason="HTTP 503")
    await store.report_health([back, failing])
    rows = await store.list_health()
    assert rows == [failing, back, other]
    assert rows[0].last_ok_at == TWILIO.last_ok_at and rows[0].failure_reason == "HTTP 503"
    assert rows[1].last_failure_at == DEAD.last_failure_at and rows[1].latency_s == 0.004
    await store.report_health([])  # nothing to say changes nothing
    assert await store.list_health() == rows


async def test_purge_drops_nodes_gone_quiet(store: Store) -> None:
    old = replace(DEAD, node="gone/1", reported_at=NOW - timedelta(days=2))
    await store.report_health([old, TWILIO])
    assert await store.purge_health(before=NOW - timedelta(days=1)) == 1
    assert await store.list_health() == [TWILIO]
