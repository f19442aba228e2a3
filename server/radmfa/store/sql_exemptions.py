"""The admin's controls, in the SQL both backends share: the request path's
side (core.ports.ExemptionCheckStore, LockoutStore) and the admin's
(core.admin_ports.ControlAdmin).

Bypasses are consumed by one UPDATE whose WHERE re-checks ``used_at IS NULL``:
on PostgreSQL a racing UPDATE waits for the row lock and then re-evaluates
that condition on the committed row (READ COMMITTED), on SQLite writers are
serialised, so either way exactly one login uses a bypass.
"""

# ruff: noqa: S608

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from radmfa.core.admin_model import RememberedDevice
from radmfa.core.model import AppPassword, Bypass, ExemptionView
from radmfa.core.policy import name_key
from radmfa.errors import AlreadyExists, LimitReached, no_such_user
from radmfa.store.codec import from_epoch, to_epoch
from radmfa.store.sql_base import Row, SqlBase

_BYPASS = (
    "id, user_id, username, reason, created_by, created_at, expires_at, cancelled_at, used_at, "
    "used_client, used_station"
)
_APP = "a.id, u.name, a.name, a.lookup, a.created_at, a.last_used_at, a.password_hash"
_USER_ID = "(SELECT id FROM users WHERE name_key = ?)"


def _time(value: float | None) -> datetime | None:
    return None if value is None else from_epoch(value)


def _bypass(row: Row) -> Bypass:
    return Bypass(
        id=int(row[0]),
        user_id=int(row[1]),
        username=row[2],
        reason=row[3],
        created_by=row[4],
        created_at=from_epoch(row[5]),
        expires_at=from_epoch(row[6]),
        cancelled_at=_time(row[7]),
        used_at=_time(row[8]),
        used_client=row[9],
        used_station=row[10],
    )


def _app(row: Row) -> AppPassword:
    return AppPassword(
        id=int(row[0]),
        username=row[1],
        name=row[2],
        lookup=row[3],
        created_at=from_epoch(row[4]),
        last_used_at=_time(row[5]),
        password_hash=row[6],
    )


CACHE_UPSERT = (
    "INSERT INTO mfa_cache (user_id, scope, passed_at) VALUES (?, ?, ?) "
    "ON CONFLICT (user_id, scope) DO UPDATE SET passed_at = excluded.passed_at"
)
DEVICE_UPSERT = (
    "INSERT INTO remembered_devices (user_id, station, client, remembered_at) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (user_id, station) DO UPDATE SET client = excluded.client, "
    "remembered_at = excluded.remembered_at"
)
FAILURES_CLEAR = "DELETE FROM mfa_failures WHERE user_id = ?"


def success_steps(
    user_id: int, scopes: Sequence[str], station: str, client: str, at: float
) -> list[tuple[str, Sequence[Sequence[object]]]]:
    """record_mfa_success's writes, as (statement, parameter rows) steps."""
    steps: list[tuple[str, Sequence[Sequence[object]]]] = []
    if scopes:
        steps.append((CACHE_UPSERT, [(user_id, scope, at) for scope in scopes]))
    if station:
        steps.append((DEVICE_UPSERT, [(user_id, station, client, at)]))
    steps.append((FAILURES_CLEAR, [(user_id,)]))
    return steps


class ExemptionsSql(SqlBase):
    # -- one-time bypasses -------------------------------------------------------

    async def create_bypass(
        self, username: str, *, seconds: int, reason: str, created_by: str, now: datetime
    ) -> Bypass:
        rows = await self._fetch(
            "INSERT INTO bypasses (user_id, username, reason, created_by, created_at, expires_at) "
            f"SELECT id, name, ?, ?, ?, ? FROM users WHERE name_key = ? RETURNING {_BYPASS}",
            reason,
            created_by,
            to_epoch(now),
            to_epoch(now + timedelta(seconds=seconds)),
            name_key(username),
        )
        if not rows:
            raise no_such_user(username)
        return _bypass(rows[0])

    async def list_bypasses(self, username: str | None = None) -> list[Bypass]:
        if username is None:
            rows = await self._fetch(f"SELECT {_BYPASS} FROM bypasses ORDER BY id")
        else:
            rows = await self._fetch(
                f"SELECT {_BYPASS} FROM bypasses WHERE user_id = {_USER_ID} ORDER BY id", name_key(username)
            )
        return [_bypass(row) for row in rows]

    async def cancel_bypass(self, bypass_id: int, *, now: datetime) -> Bypass | None:
        rows = await self._fetch(
            "UPDATE bypasses SET cancelled_at = ? WHERE id = ? AND used_at IS NULL AND cancelled_at IS NULL "
            f"AND expires_at > ? RETURNING {_BYPASS}",
            to_epoch(now),
            bypass_id,
            to_epoch(now),
        )
        return _bypass(rows[0]) if rows else None

    async def consume_bypass(self, user_id: int, *, client: str, station: str, now: datetime) -> Bypass | None:
        at = to_epoch(now)
        rows = await self._fetch(
            "UPDATE bypasses SET used_at = ?, used_client = ?, used_station = ? "
            "WHERE id = (SELECT id FROM bypasses WHERE user_id = ? AND used_at IS NULL "
            "AND cancelled_at IS NULL AND created_at <= ? AND expires_at > ? ORDER BY id LIMIT 1) "
            f"AND used_at IS NULL AND cancelled_at IS NULL RETURNING {_BYPASS}",
            at,
            client,
            station,
            user_id,
            at,
            at,
        )
        return _bypass(rows[0]) if rows else None

    # -- cache and remembered devices --------------------------------------------

    async def exemption_view(
        self, user_id: int, *, scopes: Sequence[str], station: str, client: str, now: datetime
    ) -> ExemptionView:
        at = to_epoch(now)
        # One round trip: (kind, key, time) rows from the three tables.
        sql = (
            "SELECT 'b', '', expires_at FROM bypasses WHERE user_id = ? AND used_at IS NULL "
            "AND cancelled_at IS NULL AND created_at <= ? AND expires_at > ?"
        )
        args: list[object] = [user_id, at, at]
        if scopes:
            sql += (
                " UNION ALL SELECT 'c', scope, passed_at FROM mfa_cache WHERE user_id = ? "
                f"AND scope IN ({', '.join('?' * len(scopes))})"
            )
            args += [user_id, *scopes]
        if station:
            sql += (
                " UNION ALL SELECT 'd', station, remembered_at FROM remembered_devices "
                "WHERE user_id = ? AND station = ? AND client = ?"
            )
            # The NAS is part of the match: the same Calling-Station-Id
            # through another NAS may be a value the end user chose.
            args += [user_id, station, client]
        rows = await self._read(sql, *args)
        cache = {row[1]: from_epoch(row[2]) for row in rows if row[0] == "c"}
        device = next((from_epoch(row[2]) for row in rows if row[0] == "d"), None)
        return ExemptionView(any(row[0] == "b" for row in rows), cache, device)

    async def record_mfa_success(
        self, user_id: int, *, scopes: Sequence[str], station: str, client: str, now: datetime
    ) -> None:
        # One transaction (one store hop, one commit) for all three writes:
        # this runs on every complete MFA login whose code did not write it
        # already (CodeStore.consume_otp_step's ``success``).
        await self._execute_each(success_steps(user_id, scopes, station, client, to_epoch(now)))

    async def list_devices(self, username: str | None = None) -> list[RememberedDevice]:
        sql = (
            "SELECT u.name, d.station, d.client, d.remembered_at FROM remembered_devices d "
            "JOIN users u ON u.id = d.user_id"
        )
        if username is None:
            rows = await self._fetch(sql + " ORDER BY u.name, d.remembered_at, d.station")
        else:
            rows = await self._fetch(
                sql + " WHERE u.name_key = ? ORDER BY d.remembered_at, d.station", name_key(username)
            )
        return [RememberedDevice(row[0], row[1], row[2], from_epoch(row[3])) for row in rows]

    async def purge_exemptions(self, *, cache_before: datetime, devices_before: datetime) -> int:
        cache = await self._execute("DELETE FROM mfa_cache WHERE passed_at < ?", to_epoch(cache_before))
        devices = await self._execute(
            "DELETE FROM remembered_devices WHERE remembered_at < ?", to_epoch(devices_before)
        )
        return cache + devices

    async def forget_devices(self, username: str, station: str | None = None) -> int:
        key = name_key(username)
        if station is None:
            count = await self._execute(f"DELETE FROM remembered_devices WHERE user_id = {_USER_ID}", key)
        else:
            count = await self._execute(
                f"DELETE FROM remembered_devices WHERE user_id = {_USER_ID} AND station = ?", key, station
            )
            if not count:
                return 0  # nothing forgotten: the CLI reports it and changes nothing
        # Forgetting drops the user's cache too: "make this user do MFA again"
        # (from that station: a "user" or "user+station" cache entry would
        # still let it skip the code).
        await self._execute(f"DELETE FROM mfa_cache WHERE user_id = {_USER_ID}", key)
        return count

    # -- app passwords -----------------------------------------------------------

    async def add_app_password(
        self, username: str, *, name: str, lookup: str, password_hash: str, limit: int, now: datetime
    ) -> AppPassword:
        key = name_key(username)
        # The limit is part of the INSERT: no read-then-write window in one process.
        rows = await self._fetch(
            "INSERT INTO app_passwords (user_id, name, lookup, password_hash, created_at) "
            "SELECT u.id, ?, ?, ?, ? FROM users u WHERE u.name_key = ? "
            "AND (SELECT count(*) FROM app_passwords a WHERE a.user_id = u.id) < ? "
            "ON CONFLICT DO NOTHING RETURNING id",
            name,
            lookup,
            password_hash,
            to_epoch(now),
            key,
            limit,
        )
        if not rows:
            raise await self._why_not_added(username, name, limit)
        found = await self._fetch(
            f"SELECT {_APP} FROM app_passwords a JOIN users u ON u.id = a.user_id WHERE a.id = ?", rows[0][0]
        )
        return _app(found[0])

    async def _why_not_added(self, username: str, name: str, limit: int) -> Exception:
        existing = await self.list_app_passwords(username)
        if not existing and await self._fetch("SELECT id FROM users WHERE name_key = ?", name_key(username)) == []:
            return no_such_user(username)
        if len(existing) >= limit:
            return LimitReached(
                f'user "{username}" has {len(existing)} app passwords, the most allowed: delete one first'
            )
        if any(p.name == name for p in existing):
            return AlreadyExists(f'user "{username}" already has an app password named "{name}"')
        return AlreadyExists("that app password's lookup prefix is taken: try again")

    async def list_app_passwords(self, username: str | None = None) -> list[AppPassword]:
        sql = f"SELECT {_APP} FROM app_passwords a JOIN users u ON u.id = a.user_id"
        if username is None:
            rows = await self._fetch(sql + " ORDER BY a.id")
        else:
            rows = await self._fetch(sql + " WHERE u.name_key = ? ORDER BY a.id", name_key(username))
        return [_app(row) for row in rows]

    async def find_app_password(self, user_id: int, lookup: str) -> AppPassword | None:
        rows = await self._fetch(
            f"SELECT {_APP} FROM app_passwords a JOIN users u ON u.id = a.user_id WHERE a.user_id = ? AND a.lookup = ?",
            user_id,
            lookup,
        )
        return _app(rows[0]) if rows else None

    async def touch_app_password(self, password_id: int, *, now: datetime) -> None:
        await self._execute("UPDATE app_passwords SET last_used_at = ? WHERE id = ?", to_epoch(now), password_id)

    async def rehash_app_password(self, password_id: int, old_hash: str, new_hash: str) -> bool:
        # Only over the hash that was checked, in one statement.
        changed = await self._execute(
            "UPDATE app_passwords SET password_hash = ? WHERE id = ? AND password_hash = ?",
            new_hash, password_id, old_hash,
        )
        return changed > 0

    async def delete_app_passwords(self, username: str, name: str | None = None) -> int:
        key = name_key(username)
        if name is None:
            return await self._execute(f"DELETE FROM app_passwords WHERE user_id = {_USER_ID}", key)
        return await self._execute(f"DELETE FROM app_passwords WHERE user_id = {_USER_ID} AND name = ?", key, name)

    # -- lockout -----------------------------------------------------------------

    async def note_mfa_failure(self, user_id: int, *, now: datetime) -> int:
        # The increment happens in the statement: concurrent failures from
        # every worker and node are all counted.
        rows = await self._fetch(
            "INSERT INTO mfa_failures (user_id, failures, failed_at) VALUES (?, 1, ?) "
            "ON CONFLICT (user_id) DO UPDATE SET failures = mfa_failures.failures + 1, "
            "failed_at = excluded.failed_at RETURNING failures",
            user_id,
            to_epoch(now),
        )
        return int(rows[0][0]) if rows else 0

    async def block_user(self, username: str, *, until: datetime | None, reason: str) -> bool:
        # The guard is in the WHERE: a block racing an admin's (or another
        # node's) is decided by the database, and a longer block stays.
        longer = "blocked_until IS NULL" if until is None else "(blocked_until IS NULL OR blocked_until >= ?)"
        args: list[object] = [] if until is None else [to_epoch(until)]
        rows = await self._fetch(
            # The state before the first of several blocks is the one to restore.
            "UPDATE users SET state_before_block = CASE WHEN state = 'blocked' THEN state_before_block "
            "ELSE state END, state = 'blocked', blocked_until = ?, blocked_reason = ? "
            f"WHERE name_key = ? AND NOT (state = 'blocked' AND {longer}) RETURNING id",
            None if until is None else to_epoch(until),
            reason,
            name_key(username),
            *args,
        )
        return bool(rows)

    async def clear_mfa_failures(self, user_id: int) -> None:
        await self._execute("DELETE FROM mfa_failures WHERE user_id = ?", user_id)

    async def reset_user(self, username: str) -> int:
        key = name_key(username)
        for table in ("mfa_cache", "remembered_devices", "mfa_failures"):
            await self._execute(f"DELETE FROM {table} WHERE user_id = {_USER_ID}", key)
        await self._execute("UPDATE users SET push_enrolled = 0 WHERE name_key = ?", key)  # the old phone's push
        return await self._execute(f"DELETE FROM tokens WHERE user_id = {_USER_ID}", key)
