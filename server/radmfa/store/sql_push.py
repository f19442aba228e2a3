"""The push deny streak ([limits] push_deny_streak), in the SQL both backends share."""

from __future__ import annotations

from datetime import datetime

from radmfa.core.policy import name_key
from radmfa.store.codec import to_epoch
from radmfa.store.sql_base import SqlBase


class PushStreakSql(SqlBase):
    async def note_push_refusal(self, username: str, *, now: datetime, window_s: int, limit: int) -> int:
        # One upsert that returns the count it made (PostgreSQL locks the row,
        # SQLite holds the write lock): of N concurrent refusals each sees its
        # own count, so exactly one sees the limit and raises the report. A
        # streak below the limit whose window has passed starts again at 1;
        # one at the limit stays until cleared.
        start = to_epoch(now) - window_s
        rows = await self._fetch(
            "INSERT INTO push_streaks (username, first_at, n) VALUES (?, ?, 1) "
            "ON CONFLICT (username) DO UPDATE SET "
            "first_at = CASE WHEN push_streaks.n < ? AND push_streaks.first_at <= ? THEN excluded.first_at "
            "ELSE push_streaks.first_at END, "
            "n = CASE WHEN push_streaks.n < ? AND push_streaks.first_at <= ? THEN 1 "
            "ELSE push_streaks.n + 1 END RETURNING n",
            name_key(username), to_epoch(now), limit, start, limit, start,
        )
        return int(rows[0][0])

    async def push_streak(self, username: str, *, now: datetime, window_s: int, limit: int) -> int:
        rows = await self._fetch("SELECT first_at, n FROM push_streaks WHERE username = ?", name_key(username))
        if not rows:
            return 0
        first_at, n = float(rows[0][0]), int(rows[0][1])
        return n if n >= limit or first_at > to_epoch(now) - window_s else 0

    async def clear_push_streak(self, username: str) -> bool:
        return await self._execute("DELETE FROM push_streaks WHERE username = ?", name_key(username)) > 0
