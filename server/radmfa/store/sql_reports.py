"""Report aggregates over the audit log, computed by the database (GROUP BY),
so a year of rows is never shipped to Python to be counted."""

# ruff: noqa: S608

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from radmfa.core.admin_model import AUDIT_GROUPS, AuditFilter
from radmfa.store import schema
from radmfa.store.sql_audit import audit_where, epoch_day
from radmfa.store.sql_base import SqlBase

_GROUP_COLUMNS = {
    "method": "factor",
    "result": "result",
    "client": "client_name",
    "user": "username",
}


class ReportsSql(SqlBase):
    # The UTC day of the time column (whole days since 1970-01-01); the
    # PostgreSQL backend sets its own (schema.POSTGRES["day"]).
    _DAY_SQL = schema.SQLITE["day"]

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

    async def count_daily(
        self,
        by: Sequence[str],
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        client: str | None = None,
        method: str | None = None,
        result: str | None = None,
    ) -> list[tuple[str | int, ...]]:
        if not by or any(key not in _DAILY_GROUPS for key in by):
            raise ValueError(f"daily counts group by some of {tuple(_DAILY_GROUPS)}, not {tuple(by)}")
        where: list[str] = []
        args: list[object] = []
        if since is not None:
            where.append("day >= ?")
            args.append(epoch_day(since))
        if until is not None:  # a day until falls in counts whole (widened, never cut)
            where.append("day < ?")
            args.append(epoch_day(until - timedelta(microseconds=1)) + 1)
        for column, value in (("client_name", client), ("factor", method), ("result", result)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        clause = " WHERE " + " AND ".join(where) if where else ""
        group = ", ".join(_DAILY_GROUPS[key] for key in by)
        # CAST: PostgreSQL sums a BIGINT into a NUMERIC.
        sql = f"SELECT {group}, CAST(SUM(n) AS BIGINT) FROM audit_daily{clause} GROUP BY {group} ORDER BY {group}"
        rows = await self._fetch(sql, *args)
        return [tuple(int(v) if isinstance(v, int | float) else str(v) for v in row) for row in rows]


_DAILY_GROUPS = {"day": "day", "method": "factor", "result": "result", "client": "client_name"}
