"""Report aggregates over the audit log, computed by the database (GROUP BY),
so a year of rows is never shipped to Python to be counted."""

# ruff: noqa: S608

from __future__ import annotations

from collections.abc import Sequence

from radmfa.core.model import AUDIT_GROUPS, AuditFilter
from radmfa.store.sql_audit import audit_where
from radmfa.store.sql_base import SqlBase

_GROUP_COLUMNS = {
    "method": "factor",
    "result": "result",
    "client": "client_name",
    "user": "username",
}


class ReportsSql(SqlBase):
    # The UTC day of an epoch time, as whole days since 1970-01-01. SQLite's
    # CAST truncates (times are positive, so that is floor); PostgreSQL's
    # rounds, so its backend overrides this with FLOOR.
    _DAY_SQL = "CAST(time / 86400 AS INTEGER)"

    async def count_audit(
        self,
        filters: AuditFilter,
        by: Sequence[str],
        *,
        most_first: bool = False,
        limit: int | None = None,
    ) -> list[tuple[str | int, ...]]:
        if not by or any(key not in AUDIT_GROUPS for key in by):
            raise ValueError(f"group audit rows by some of {AUDIT_GROUPS}, not {tuple(by)}")
        keys = [self._DAY_SQL if key == "day" else _GROUP_COLUMNS[key] for key in by]
        where, args = audit_where(filters)
        clause = " WHERE " + " AND ".join(where) if where else ""
        group = ", ".join(keys)
        order = f"COUNT(*) DESC, {group}" if most_first else group
        sql = f"SELECT {group}, COUNT(*) FROM audit{clause} GROUP BY {group} ORDER BY {order}"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(limit)
        rows = await self._fetch(sql, *args)
        return [tuple(int(v) if isinstance(v, int | float) else str(v) for v in row) for row in rows]
