"""What directory sync needs from the store: who owns a user, and one
scheduled run at a time across every worker and node."""

# ruff: noqa: S608

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import datetime

from radmfa.core.model import USER_FIELDS, NewUser
from radmfa.core.policy import name_key
from radmfa.store.codec import from_epoch, to_epoch
from radmfa.store.sql_base import SqlBase
from radmfa.store.sql_users import _column_value


class DirectorySql(SqlBase):
    async def user_sources(self) -> dict[str, str | None]:
        rows = await self._fetch("SELECT name, source FROM users")
        return {str(r[0]): r[1] for r in rows}

    async def set_user_source(self, name: str, source: str | None) -> bool:
        return await self._execute("UPDATE users SET source = ? WHERE name_key = ?", source, name_key(name)) > 0

    async def apply_directory_changes(
        self, create: Sequence[NewUser], updates: Sequence[tuple[str, Mapping[str, object]]],
        block: Sequence[str], *, source: str, reason: str,
    ) -> None:
        """One sync's changes in one transaction: all of them or none (a
        failure half-way must not leave some leavers blocked and others not).
        A user another node created meanwhile is left alone (ON CONFLICT);
        ``block`` is blocked for good as block_user(until=None) does."""
        steps: list[tuple[str, list[list[object]]]] = []
        created = time.time()
        for user in create:
            steps.append((
                "INSERT INTO users (name, name_key, email, mobile, first_name, last_name, created_at, "
                "office_phone, language, state, source) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (name_key) DO NOTHING",
                [[user.name, name_key(user.name), user.email, user.mobile, user.first_name, user.last_name,
                  created, user.office_phone, user.language, str(user.state), source]],
            ))
        for name, changes in updates:
            unknown = set(changes) - set(USER_FIELDS)
            if unknown:
                raise ValueError(f"not user fields: {', '.join(sorted(unknown))}")
            if changes:
                columns = ", ".join(f"{column} = ?" for column in changes)
                values = [_column_value(v) for v in changes.values()]
                steps.append((f"UPDATE users SET {columns} WHERE name_key = ?", [[*values, name_key(name)]]))
        for name in block:
            # As block_user(until=None): the state before the first block is
            # kept for a return; a block for good already in place stays.
            steps.append((
                "UPDATE users SET state_before_block = CASE WHEN state = 'blocked' THEN state_before_block "
                "ELSE state END, state = 'blocked', blocked_until = NULL, blocked_reason = ? "
                "WHERE name_key = ? AND NOT (state = 'blocked' AND blocked_until IS NULL)",
                [[reason, name_key(name)]],
            ))
        if steps:
            await self._execute_each(steps)

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

    async def record_sync_result(self, name: str, *, at: datetime, actor: str, result: str) -> None:
        await self._execute(
            "INSERT INTO sync_results (name, ran_at, actor, result) VALUES (?, ?, ?, ?) ON CONFLICT (name) "
            "DO UPDATE SET ran_at = excluded.ran_at, actor = excluded.actor, result = excluded.result",
            name, to_epoch(at), actor, result,
        )

    async def last_sync_result(self, name: str) -> tuple[datetime, str, str] | None:
        rows = await self._fetch("SELECT ran_at, actor, result FROM sync_results WHERE name = ?", name)
        if not rows:
            return None
        ran_at, actor, result = rows[0]
        return from_epoch(float(ran_at)), str(actor), str(result)
