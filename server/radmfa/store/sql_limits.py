"""Send counters for the abuse limits, in the SQL both backends share."""

from __future__ import annotations

from datetime import datetime

from radmfa.store.codec import to_epoch
from radmfa.store.sql_base import SqlBase


class LimitsSql(SqlBase):
    async def count_send(self, scope: str, method: str, window_start: int, *, expires_at: datetime) -> int:
        # One upsert that returns the count it made: PostgreSQL locks the row
        # for the update and SQLite holds the write lock, so N concurrent
        # callers see 1..N exactly once each, from any worker or node.
        rows = await self._fetch(
            "INSERT INTO send_counters (scope, method, window_start, n, expires_at) VALUES (?, ?, ?, 1, ?) "
            "ON CONFLICT (scope, method, window_start) DO UPDATE SET n = send_counters.n + 1 RETURNING n",
            scope,
            method,
            window_start,
            to_epoch(expires_at),
        )
        return int(rows[0][0])

    async def uncount_send(self, scope: str, method: str, window_start: int) -> None:
        await self._execute(
            "UPDATE send_counters SET n = n - 1 WHERE scope = ? AND method = ? AND window_start = ? AND n > 0",
            scope,
            method,
            window_start,
        )

    async def purge_send_counters(self, *, now: datetime) -> int:
        return await self._execute("DELETE FROM send_counters WHERE expires_at <= ?", to_epoch(now))
