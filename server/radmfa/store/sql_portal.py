"""The portals' sessions and the enrollment links (core.admin_ports.PortalStore),
in the SQL both backends share."""

# ruff: noqa: S608

from __future__ import annotations

import json
from datetime import datetime

from radmfa.core.admin_model import EnrollmentLink, WebSession
from radmfa.core.policy import name_key
from radmfa.errors import NotFound
from radmfa.store.codec import from_epoch, to_epoch
from radmfa.store.sql_base import Row, SqlBase

_SESSION = "id_hash, portal, username, created_at, seen_at, expires_at, body_enc"
_LINK = "l.id, u.name, l.created_by, l.created_at, l.expires_at, l.used_at"
_LINK_FROM = "enrollment_links l JOIN users u ON u.id = l.user_id"


def _context(id_hash: bytes) -> bytes:
    return b"web_sessions.body_enc:" + id_hash


def _link(row: Row) -> EnrollmentLink:
    return EnrollmentLink(
        id=int(row[0]),
        username=row[1],
        created_by=row[2],
        created_at=from_epoch(row[3]),
        expires_at=from_epoch(row[4]),
        used_at=None if row[5] is None else from_epoch(row[5]),
    )


class PortalSql(SqlBase):
    # -- sessions ------------------------------------------------------------------

    def _seal(self, session: WebSession) -> bytes:
        body = {
            "csrf": session.csrf,
            "stage": session.stage,
            "verified_at": None if session.verified_at is None else to_epoch(session.verified_at),
            "data": dict(session.data),
        }
        return self._cipher.encrypt(json.dumps(body).encode(), context=_context(session.id_hash))

    def _web_session(self, row: Row) -> WebSession:
        id_hash = bytes(row[0])
        body = json.loads(self._cipher.decrypt(bytes(row[6]), context=_context(id_hash), what="a portal session"))
        verified = body.get("verified_at")
        return WebSession(
            id_hash=id_hash,
            portal=row[1],
            csrf=body["csrf"],
            created_at=from_epoch(row[3]),
            seen_at=from_epoch(row[4]),
            expires_at=from_epoch(row[5]),
            username=row[2],
            stage=body["stage"],
            verified_at=None if verified is None else from_epoch(verified),
            data={str(k): str(v) for k, v in body.get("data", {}).items()},
        )

    async def put_web_session(self, session: WebSession) -> None:
        await self._execute(
            f"INSERT INTO web_sessions ({_SESSION}, name_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (id_hash) DO UPDATE SET username = excluded.username, name_key = excluded.name_key, "
            "seen_at = excluded.seen_at, expires_at = excluded.expires_at, body_enc = excluded.body_enc",
            session.id_hash,
            session.portal,
            session.username,
            to_epoch(session.created_at),
            to_epoch(session.seen_at),
            to_epoch(session.expires_at),
            self._seal(session),
            name_key(session.username) if session.username else "",
        )

    async def get_web_session(self, id_hash: bytes, *, portal: str, now: datetime) -> WebSession | None:
        rows = await self._fetch(
            f"SELECT {_SESSION} FROM web_sessions WHERE id_hash = ? AND portal = ? AND expires_at > ?",
            id_hash,
            portal,
            to_epoch(now),
        )
        return self._web_session(rows[0]) if rows else None

    async def touch_web_session(self, id_hash: bytes, *, seen_at: datetime) -> None:
        await self._execute("UPDATE web_sessions SET seen_at = ? WHERE id_hash = ?", to_epoch(seen_at), id_hash)

    async def delete_web_session(self, id_hash: bytes) -> None:
        await self._execute("DELETE FROM web_sessions WHERE id_hash = ?", id_hash)

    async def delete_web_sessions_of(self, username: str, *, portal: str) -> int:
        return await self._execute(
            "DELETE FROM web_sessions WHERE name_key = ? AND portal = ?", name_key(username), portal
        )

    async def purge_web_sessions(self, *, idle_before: datetime, now: datetime) -> int:
        return await self._execute(
            "DELETE FROM web_sessions WHERE seen_at < ? OR expires_at <= ?", to_epoch(idle_before), to_epoch(now)
        )

    # -- enrollment links ------------------------------------------------------------

    async def create_enrollment_link(
        self, username: str, *, token_hash: bytes, created_by: str, now: datetime, expires_at: datetime
    ) -> EnrollmentLink:
        rows = await self._fetch(
            "INSERT INTO enrollment_links (token_hash, user_id, created_by, created_at, expires_at) "
            "SELECT ?, id, ?, ?, ? FROM users WHERE name_key = ? RETURNING id",
            token_hash,
            created_by,
            to_epoch(now),
            to_epoch(expires_at),
            name_key(username),
        )
        if not rows:
            raise NotFound(f'user "{username}" does not exist')
        found = await self._fetch(f"SELECT {_LINK} FROM {_LINK_FROM} WHERE l.id = ?", rows[0][0])
        return _link(found[0])

    async def peek_enrollment_link(self, token_hash: bytes, *, now: datetime) -> EnrollmentLink | None:
        rows = await self._fetch(
            f"SELECT {_LINK} FROM {_LINK_FROM} WHERE l.token_hash = ? AND l.used_at IS NULL AND l.expires_at > ?",
            token_hash,
            to_epoch(now),
        )
        return _link(rows[0]) if rows else None

    async def consume_enrollment_link(
        self, token_hash: bytes, *, username: str, now: datetime
    ) -> EnrollmentLink | None:
        at = to_epoch(now)
        # One statement: the WHERE re-checks used_at on the row it updates, so
        # of two racing uses (any worker, node or portal process) one wins.
        rows = await self._fetch(
            "UPDATE enrollment_links SET used_at = ? WHERE token_hash = ? AND used_at IS NULL AND expires_at > ? "
            "AND user_id = (SELECT id FROM users WHERE name_key = ?) RETURNING id",
            at,
            token_hash,
            at,
            name_key(username),
        )
        if not rows:
            return None
        found = await self._fetch(f"SELECT {_LINK} FROM {_LINK_FROM} WHERE l.id = ?", rows[0][0])
        return _link(found[0]) if found else None
