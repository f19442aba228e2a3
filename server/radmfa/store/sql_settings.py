"""Settings kept in the store and the management portal's accounts
(core.admin_ports.SettingsStore, AdminAccounts), in the SQL both backends share.

A change, its version bump and its admin_events row (who, when, old → new)
are one transaction: a setting never changes unrecorded, and every process
polling the version sees it.
"""

# ruff: noqa: S608

from __future__ import annotations

from datetime import datetime

from radmfa.core.admin_model import AdminAccount
from radmfa.core.policy import name_key
from radmfa.errors import NotFound
from radmfa.store.codec import from_epoch, to_epoch
from radmfa.store.sql_base import Row, SqlBase, Statement

_EVENT = "INSERT INTO admin_events (time, actor, action, target, detail) VALUES (?, ?, ?, ?, ?)"
_BUMP = "UPDATE settings_version SET version = version + 1 WHERE id = 1"
_ADMIN_FROM = "admins a JOIN users u ON u.id = a.user_id"
_ADMIN_COLS = "u.name, a.role, a.created_at, a.created_by"


def _account(row: Row) -> AdminAccount:
    return AdminAccount(username=row[0], role=row[1], created_at=from_epoch(row[2]), created_by=row[3])


def change_detail(old: str | None, new: str | None) -> str:
    """``old → new`` as the admin log shows a setting's change (values are JSON)."""
    return f"{'(default)' if old is None else old} → {'(default)' if new is None else new}"


class SettingsSql(SqlBase):
    # -- settings ------------------------------------------------------------------

    async def settings_version(self) -> int:
        rows = await self._fetch("SELECT version FROM settings_version WHERE id = 1")
        return int(rows[0][0]) if rows else 0

    async def stored_settings(self) -> tuple[int, dict[str, str]]:
        """The version and every stored setting (name → JSON), read together."""

        def values(_row: Row) -> Statement:
            return ("SELECT name, value FROM settings", ())

        first, rows = await self._fetch_pair(("SELECT version FROM settings_version WHERE id = 1", ()), values)
        return (int(first[0]) if first else 0), {str(r[0]): str(r[1]) for r in rows}

    async def put_setting(self, name: str, value: str | None, *, actor: str, now: datetime) -> str | None:
        """Store ``value`` (JSON; None: back to the default) and log the change
        as ``actor``; returns the value before (None: it was the default)."""
        at = to_epoch(now)

        def then(row: Row) -> list[Statement]:
            old = None if row[1] is None else str(row[1])
            if old == value:
                return []
            change: Statement = (
                ("DELETE FROM settings WHERE name = ?", (name,)) if value is None else (
                    "INSERT INTO settings (name, value, changed_at, changed_by) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT (name) DO UPDATE SET value = excluded.value, changed_at = excluded.changed_at, "
                    "changed_by = excluded.changed_by", (name, value, at, actor))
            )
            return [change, (_BUMP, ()), (_EVENT, (at, actor, "setting.set", name, change_detail(old, value)))]

        row = await self._fetch_then(
            ("SELECT version, (SELECT value FROM settings WHERE name = ?) FROM settings_version WHERE id = 1",
             (name,)), then,
        )
        return None if row is None or row[1] is None else str(row[1])

    async def import_setting(self, name: str, value: str, *, actor: str, now: datetime) -> str:
        """Store ``value`` only when the setting was never stored; returns the
        value the store holds afterwards (of two nodes importing at once, one wins)."""
        at = to_epoch(now)
        inserted = await self._fetch(
            "INSERT INTO settings (name, value, changed_at, changed_by) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (name) DO NOTHING RETURNING name",
            name, value, at, actor,
        )
        if inserted:
            await self._execute_each([
                (_BUMP, [()]), (_EVENT, [(at, actor, "setting.import", name, change_detail(None, value))]),
            ])
            return value
        rows = await self._fetch("SELECT value FROM settings WHERE name = ?", name)
        return str(rows[0][0])

    # -- the management portal's accounts -------------------------------------------

    async def add_admin(self, username: str, role: str, *, created_by: str, now: datetime) -> AdminAccount:
        rows = await self._fetch(
            "INSERT INTO admins (user_id, role, created_at, created_by) "
            "SELECT id, ?, ?, ? FROM users WHERE name_key = ? ON CONFLICT (user_id) DO NOTHING RETURNING user_id",
            role, to_epoch(now), created_by, name_key(username),
        )
        if not rows:
            if await self.get_admin(username) is not None:
                raise NotFound(f'user "{username}" is an administrator already (see radmfa admin set-role)')
            raise NotFound(f'user "{username}" does not exist (add them with radmfa user add first)')
        found = await self.get_admin(username)
        assert found is not None
        return found

    async def get_admin(self, username: str) -> AdminAccount | None:
        rows = await self._fetch(f"SELECT {_ADMIN_COLS} FROM {_ADMIN_FROM} WHERE u.name_key = ?", name_key(username))
        return _account(rows[0]) if rows else None

    async def list_admins(self) -> list[AdminAccount]:
        return [_account(r) for r in await self._fetch(f"SELECT {_ADMIN_COLS} FROM {_ADMIN_FROM} ORDER BY u.name")]

    async def set_admin_role(self, username: str, role: str) -> AdminAccount | None:
        """The account before the change; None when NAME is no administrator."""
        before = await self.get_admin(username)
        if before is not None:
            await self._execute(
                "UPDATE admins SET role = ? WHERE user_id = (SELECT id FROM users WHERE name_key = ?)",
                role, name_key(username),
            )
        return before

    async def remove_admin(self, username: str) -> AdminAccount | None:
        before = await self.get_admin(username)
        if before is not None:
            await self._execute(
                "DELETE FROM admins WHERE user_id = (SELECT id FROM users WHERE name_key = ?)", name_key(username)
            )
        return before



_USER_SEARCH_LIMIT = 200


class UserSearchSql(SqlBase):
    _BYTEWISE = ""  # PostgreSQL: ' COLLATE "C"', as its prefix indexes are

    async def search_users(self, query: str, *, limit: int = 50) -> list[tuple[str, str, str, str]]:
        """(name, mobile, e-mail, state) of users whose name, mobile number or
        e-mail address starts with ``query``, by name; each a range over an index."""
        limit = max(1, min(limit, _USER_SEARCH_LIMIT))
        text = query.strip()
        if not text:
            rows = await self._fetch(
                f"SELECT name, mobile, email, state FROM users ORDER BY name_key{self._BYTEWISE} LIMIT ?", limit
            )
            return [_found(r) for r in rows]
        c = self._BYTEWISE
        key, mail = name_key(text), text.lower()
        digits = "".join(ch for ch in text if ch.isdigit())
        phone = "+" + digits if digits and all(ch.isdigit() or ch in "+ -()" for ch in text) else ""
        parts = [
            (f"SELECT id FROM users WHERE name_key{c} >= ? AND name_key{c} < ?", [key, key + _TOP]),
            (f"SELECT id FROM users WHERE (lower(email)){c} >= ? AND (lower(email)){c} < ?", [mail, mail + _TOP]),
        ]
        if phone:
            parts.append((f"SELECT id FROM users WHERE mobile{c} >= ? AND mobile{c} < ?", [phone, phone + _TOP]))
        inner = " UNION ".join(f"SELECT id FROM ({sql} LIMIT {limit}) p{i}" for i, (sql, _) in enumerate(parts))
        args = [a for _, part in parts for a in part]
        # Driven from the (at most 3 × limit) ids found: a join, not IN, so
        # that PostgreSQL does not scan users to test each row against them.
        rows = await self._fetch(
            f"SELECT u.name, u.mobile, u.email, u.state FROM ({inner}) f JOIN users u ON u.id = f.id "
            f"ORDER BY u.name_key{c} LIMIT ?",
            *args, limit,
        )
        return [_found(r) for r in rows]


_TOP = "\U0010ffff"  # above every character: [prefix, prefix + _TOP) holds every text starting with prefix


def _found(row: Row) -> tuple[str, str, str, str]:
    return (str(row[0]), row[1] or "", row[2] or "", str(row[3]))
