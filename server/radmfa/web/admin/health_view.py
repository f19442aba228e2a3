"""The dashboard's Health card: what each serve node last reported of its
upstream servers and providers (store table ``component_health``, written
by service/health.py), grouped by node. A node whose last report is older
than ``STALE_AFTER_S`` is stale: its process stopped or cannot reach the store."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from radmfa.core.admin_model import ComponentHealth
from radmfa.service.health import STALE_AFTER_S


@dataclass(frozen=True, slots=True)
class ComponentView:
    kind: str  # upstream, provider
    name: str
    up: bool
    reported_s: int  # seconds since the node reported it
    last_ok_s: int | None
    last_failure_s: int | None
    failure_reason: str
    latency: str  # "4 ms", "2.50 s", "" when none measured


@dataclass(frozen=True, slots=True)
class NodeView:
    name: str
    stale: bool
    reported_s: int  # seconds since the node's newest report
    components: tuple[ComponentView, ...]


def _age(now: datetime, then: datetime | None) -> int | None:
    return None if then is None else max(0, int((now - then).total_seconds()))


def latency(seconds: float | None) -> str:
    if seconds is None:
        return ""
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.2f} s"


def nodes(rows: Sequence[ComponentHealth], *, now: datetime) -> list[NodeView]:
    """Live nodes first, each node's upstream servers before its providers."""
    by_node: dict[str, list[ComponentHealth]] = {}
    for row in rows:
        by_node.setdefault(row.node, []).append(row)
    views = []
    for node, found in by_node.items():
        newest = max(r.reported_at for r in found)
        reported = _age(now, newest) or 0
        components = tuple(
            ComponentView(r.kind, r.name, r.up, _age(now, r.reported_at) or 0, _age(now, r.last_ok_at),
                          _age(now, r.last_failure_at), r.failure_reason, latency(r.latency_s))
            for r in sorted(found, key=lambda r: (r.kind != "upstream", r.name))
        )
        views.append(NodeView(node, reported > STALE_AFTER_S, reported, components))
    return sorted(views, key=lambda v: (v.stale, v.name))
