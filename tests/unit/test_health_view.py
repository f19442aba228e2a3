"""The dashboard's grouping of health rows: live nodes first, stale after a minute."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from radmfa.core.admin_model import ComponentHealth
from radmfa.web.admin.health_view import latency, nodes

NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


def row(node: str, kind: str, name: str, age_s: float, **kw: object) -> ComponentHealth:
    return ComponentHealth(node=node, kind=kind, name=name, up=True,  # type: ignore[arg-type]
                           reported_at=NOW - timedelta(seconds=age_s), **kw)  # type: ignore[arg-type]


def test_nodes_group_and_mark_stale() -> None:
    views = nodes([
        row("a-gone", "upstream", "10.0.0.1:1812", 61),
        row("b", "provider", "twilio", 5, last_ok_at=NOW - timedelta(seconds=7), latency_s=0.0042),
        row("b", "upstream", "10.0.0.2:1812", 3, latency_s=2.5),
    ], now=NOW)
    assert [(v.name, v.stale, v.reported_s) for v in views] == [("b", False, 3), ("a-gone", True, 61)]
    b = views[0]
    assert [(c.kind, c.name, c.reported_s, c.last_ok_s, c.latency) for c in b.components] == [
        ("upstream", "10.0.0.2:1812", 3, None, "2.50 s"), ("provider", "twilio", 5, 7, "4 ms")]
    assert not nodes([row("c", "upstream", "x", 60)], now=NOW)[0].stale  # a minute exactly is not stale yet


def test_latency_text() -> None:
    assert (latency(None), latency(0.0004), latency(0.999), latency(1.0)) == ("", "0 ms", "999 ms", "1.00 s")
