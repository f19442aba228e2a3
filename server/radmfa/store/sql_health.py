"""What each serve process last saw of its upstreams and providers (core.admin_ports.HealthStore)."""

# ruff: noqa: S608  (statements from a column list; every value is a parameter)

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from radmfa.core.admin_model import ComponentHealth
from radmfa.store.codec import from_epoch, to_epoch
from radmfa.store.sql_base import Row, SqlBase

_COLUMNS = "node, kind, name, up, reported_at, last_ok_at, last_failure_at, failure_reason, latency_s"
_UPSERT = (
    f"INSERT INTO component_health ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (node, kind, name) DO UPDATE SET up = excluded.up, reported_at = excluded.reported_at, "
    "last_ok_at = excluded.last_ok_at, last_failure_at = excluded.last_failure_at, "
    "failure_reason = excluded.failure_reason, latency_s = excluded.latency_s"
)


def _epoch(when: datetime | None) -> float | None:
    return None if when is None else to_epoch(when)


class HealthSql(SqlBase):
    async def report_health(self, rows: Sequence[ComponentHealth]) -> None:
        if rows:
            await self._execute_many(_UPSERT, [
                (h.node, h.kind, h.name, 1 if h.up else 0, to_epoch(h.reported_at),
                 _epoch(h.last_ok_at), _epoch(h.last_failure_at), h.failure_reason, h.latency_s)
                for h in rows
            ])

    async def list_health(self) -> list[ComponentHealth]:
        rows = await self._fetch(f"SELECT {_COLUMNS} FROM component_health ORDER BY node, kind, name")
        return [_health(r) for r in rows]

    async def purge_health(self, *, before: datetime) -> int:
        return await self._execute("DELETE FROM component_health WHERE reported_at < ?", to_epoch(before))


def _health(r: Row) -> ComponentHealth:
    return ComponentHealth(
        node=r[0], kind=r[1], name=r[2], up=bool(r[3]), reported_at=from_epoch(r[4]),
        last_ok_at=None if r[5] is None else from_epoch(r[5]),
        last_failure_at=None if r[6] is None else from_epoch(r[6]),
        failure_reason=r[7], latency_s=None if r[8] is None else float(r[8]),
    )
