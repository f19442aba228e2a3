"""The LDAP front end's completed binds, by user and client (core.admin_ports.RebindStore)."""

from __future__ import annotations

from datetime import datetime

from radmfa.store.codec import to_epoch
from radmfa.store.sql_base import SqlBase


class RebindsSql(SqlBase):
    async def remember_rebind(self, name_key: str, client: str, mac: bytes, *, now: datetime) -> None:
        await self._execute(
            "INSERT INTO ldap_rebinds (name_key, client, mac, completed_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (name_key, client) DO UPDATE SET mac = excluded.mac, completed_at = excluded.completed_at",
            name_key, client, mac, to_epoch(now),
        )

    async def recent_rebind(self, name_key: str, client: str, *, since: datetime, now: datetime) -> bytes | None:
        rows = await self._fetch(
            "SELECT mac FROM ldap_rebinds WHERE name_key = ? AND client = ? AND completed_at > ? AND completed_at <= ?",
            name_key, client, to_epoch(since), to_epoch(now),
        )
        return bytes(rows[0][0]) if rows else None

    async def forget_rebind(self, name_key: str, client: str) -> None:
        await self._execute("DELETE FROM ldap_rebinds WHERE name_key = ? AND client = ?", name_key, client)

    async def purge_rebinds(self, *, before: datetime) -> int:
        return await self._execute("DELETE FROM ldap_rebinds WHERE completed_at <= ?", to_epoch(before))
