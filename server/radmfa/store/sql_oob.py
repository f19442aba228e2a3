"""Out-of-band sessions, sent codes and the callback signing key, in the SQL
both backends share."""

# ruff: noqa: S608

from __future__ import annotations

import secrets
from datetime import datetime

from radmfa.core.model import OobSession, Phase
from radmfa.store.codec import from_epoch, to_epoch
from radmfa.store.sql_base import Row, SqlBase

_OOB = "id, username, client, method, destination, waiter, expires_at, phase, reason, code_hash, calling_station_id"
_PENDING = Phase.AWAITING_APPROVAL.value


def _oob(row: Row) -> OobSession:
    return OobSession(
        id=row[0],
        username=row[1],
        client=row[2],
        method=row[3],
        destination=row[4],
        waiter=row[5],
        expires_at=from_epoch(row[6]),
        phase=Phase(row[7]),
        reason=row[8],
        code_hash=None if row[9] is None else bytes(row[9]),
        calling_station_id=row[10],
    )


class OobSql(SqlBase):
    async def hold_oob(self, oob: OobSession, *, now: datetime) -> tuple[OobSession, bool]:
        # An undecided session past its time blocks nobody: expire it first.
        await self._execute(
            "UPDATE oob_sessions SET phase = ?, reason = 'no answer' "
            "WHERE username = ? AND client = ? AND phase = ? AND expires_at <= ?",
            Phase.EXPIRED.value, oob.username, oob.client, _PENDING, to_epoch(now),
        )
        for _ in range(3):  # lost races with a decision or an expiry: try again
            rows = await self._fetch(
                f"INSERT INTO oob_sessions ({_OOB}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT DO NOTHING RETURNING id",
                oob.id, oob.username, oob.client, oob.method, oob.destination, oob.waiter,
                to_epoch(oob.expires_at), oob.phase.value, oob.reason, oob.code_hash, oob.calling_station_id,
            )
            if rows:
                return oob, True
            # The partial unique index says one is running: take it over, but
            # only from the same Calling-Station-Id (the same NAS user asking
            # again). A request from elsewhere must not become the one the
            # user's "Approve" accepts: it gets the running session unchanged
            # (waiter still the other request) and is refused by the caller.
            rows = await self._fetch(
                f"UPDATE oob_sessions SET waiter = ? WHERE username = ? AND client = ? AND phase = ? "
                f"AND expires_at > ? AND calling_station_id = ? RETURNING {_OOB}",
                oob.waiter, oob.username, oob.client, _PENDING, to_epoch(now), oob.calling_station_id,
            )
            if not rows:
                rows = await self._fetch(
                    f"SELECT {_OOB} FROM oob_sessions WHERE username = ? AND client = ? AND phase = ? "
                    "AND expires_at > ?",
                    oob.username, oob.client, _PENDING, to_epoch(now),
                )
            if rows:
                return _oob(rows[0]), False
        raise RuntimeError("could not open or join an out-of-band session")

    async def get_oob(self, oob_id: str) -> OobSession | None:
        rows = await self._fetch(f"SELECT {_OOB} FROM oob_sessions WHERE id = ?", oob_id)
        return _oob(rows[0]) if rows else None

    async def get_oob_for_waiter(self, waiter: str) -> OobSession | None:
        rows = await self._fetch(f"SELECT {_OOB} FROM oob_sessions WHERE waiter = ?", waiter)
        return _oob(rows[0]) if rows else None

    async def decide_oob(self, oob_id: str, phase: Phase, reason: str, *, now: datetime) -> OobSession | None:
        # Atomic: of all the callbacks, retries and timeouts racing on one
        # session, exactly one finds it undecided.
        rows = await self._fetch(
            f"UPDATE oob_sessions SET phase = ?, reason = ? WHERE id = ? AND phase = ? AND expires_at > ? "
            f"RETURNING {_OOB}",
            phase.value, reason, oob_id, _PENDING, to_epoch(now),
        )
        return _oob(rows[0]) if rows else None

    async def expire_oob(self, oob_id: str) -> OobSession | None:
        rows = await self._fetch(
            f"UPDATE oob_sessions SET phase = ?, reason = 'no answer' WHERE id = ? AND phase = ? RETURNING {_OOB}",
            Phase.EXPIRED.value, oob_id, _PENDING,
        )
        return _oob(rows[0]) if rows else None

    async def pending_oob_for(self, destination: str, method: str, *, now: datetime) -> list[OobSession]:
        rows = await self._fetch(
            f"SELECT {_OOB} FROM oob_sessions WHERE destination = ? AND phase = ? AND method = ? AND expires_at > ?",
            destination, _PENDING, method, to_epoch(now),
        )
        return [_oob(r) for r in rows]

    async def purge_oob(self, *, before: datetime) -> int:
        n = await self._execute("DELETE FROM oob_sessions WHERE expires_at <= ?", to_epoch(before))
        return n + await self._execute("DELETE FROM sent_codes WHERE expires_at <= ?", to_epoch(before))

    # -- codes texted or e-mailed for a challenge ---------------------------------

    async def put_code(self, state: bytes, code_hash: bytes, *, expires_at: datetime) -> None:
        await self._execute(
            "INSERT INTO sent_codes (state, code_hash, expires_at) VALUES (?, ?, ?)",
            state, code_hash, to_epoch(expires_at),
        )

    async def take_code(self, state: bytes, *, now: datetime) -> tuple[bytes, datetime] | None:
        rows = await self._fetch("DELETE FROM sent_codes WHERE state = ? RETURNING code_hash, expires_at", state)
        if not rows or rows[0][1] <= to_epoch(now):
            return None
        return bytes(rows[0][0]), from_epoch(rows[0][1])

    # -- the key that signs callback URLs and hashes codes --------------------------

    async def callback_key(self) -> bytes:
        """Made once by whichever process asks first, then shared by every
        worker and node through the store (sealed with the seed key)."""
        sealed = self._cipher.encrypt(secrets.token_bytes(32), context=b"store_meta.callback_key")
        await self._execute(
            "INSERT INTO store_meta (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING", "callback_key", sealed
        )
        rows = await self._fetch("SELECT value FROM store_meta WHERE name = ?", "callback_key")
        return self._cipher.decrypt(bytes(rows[0][0]), context=b"store_meta.callback_key", what="callback key")
