"""What directory sync needs from the store: who owns a user, and one
scheduled run at a time across every worker and node."""

# ruff: noqa: S608

from __future__ import annotations

from datetime import datetime

from radmfa.core.policy import name_key
from radmfa.store.codec import to_epoch
from radmfa.store.sql_base import SqlBase


class DirectorySql(SqlBase):
    async def user_sources(self) -> dict[str, str | None]:
        rows = await self._fetch("SELECT name, source FROM users")
        return {str(r[0]): r[1] for r in rows}

    async def set_user_source(self, name: str, source: str | None) -> bool:
        return await self._execute("UPDATE users SET source = ? WHERE name_key = ?", source, name_key(name)) > 0

    async def claim_sync_run(self, name: str, *, now: datetime, interval_s: float) -> bool:
        """True for exactly one caller per interval: compare-and-set on next_at."""
        await self._execute(
            "INSERT INTO sync_runs (name, next_at) VALUES (?, ?) ON CONFLICT (name) DO NOTHING", name, 0.0
        )
        rows = await self._fetch(
            "UPDATE sync_runs SET next_at = ? WHERE name = ? AND next_at <= ? RETURNING name",
            to_epoch(now) + interval_s,
            name,
            to_epoch(now),
        )
        return bool(rows)
