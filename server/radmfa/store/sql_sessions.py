"""Challenge sessions (the State attribute's server side), in shared SQL."""

# ruff: noqa: S608

from __future__ import annotations

from collections.abc import Awaitable
from datetime import datetime

from radmfa.core.model import Attr, Phase, Session
from radmfa.store.codec import from_epoch, pack_attrs, to_epoch, unpack_attrs
from radmfa.store.seeds import SeedCipher
from radmfa.store.sql_base import Row, SqlBase

SESSION_COLUMNS = _SESSIONS = "client, username, factor, attempts, expires_at, reply_enc, phase"


# An upsert: the pipeline writes a session back after a wrong code. One
# string for every call (not an f-string built each time): the driver's
# statement cache finds it by the same object. PostgreSQL sends its INSERT
# alone first (postgres._INSERT_FIRST): the upsert only if the row is there.
PUT_SESSION_SQL = (
    f"INSERT INTO sessions (state, {_SESSIONS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (state) DO UPDATE SET client = excluded.client, "
    "username = excluded.username, factor = excluded.factor, "
    "attempts = excluded.attempts, expires_at = excluded.expires_at, "
    "reply_enc = excluded.reply_enc, phase = excluded.phase"
)
TAKE_SESSION_SQL = f"DELETE FROM sessions WHERE state = ? RETURNING {_SESSIONS}"


def _session_aad(state: bytes) -> bytes:
    return b"sessions.reply_enc:" + state


_PHASES = {phase.value: phase for phase in Phase}  # a dict lookup, not Enum's __call__, per session taken
# Sessions this process stored and may take back, at most this many.
OPENED_CACHE_SIZE = 4096


class SessionsSql(SqlBase):
    # -- challenge sessions ------------------------------------------------------

    def __init__(self, cipher: SeedCipher) -> None:
        super().__init__(cipher)
        # The ciphertext and reply attributes of sessions this process
        # stored, by State: the answer usually comes back to the process
        # that asked, and opening the blob it sealed itself (AES-GCM) was a
        # fixed cost of every answered challenge. Only exactly the blob
        # written here is a hit, so a row changed or moved meanwhile is
        # decrypted and authenticated as before; the database still holds
        # only the ciphertext. The ciphertext also names the row claim_code
        # may take (sql.py). Bounded: when full it starts over.
        self._opened: dict[bytes, tuple[bytes, tuple[Attr, ...]]] = {}

    def put_session(self, session: Session) -> Awaitable[None]:
        sealed = self._cipher.encrypt(
            pack_attrs(session.reply_attrs), context=_session_aad(session.state)
        )
        if len(self._opened) >= OPENED_CACHE_SIZE:
            self._opened.clear()  # thread-safe, unlike evicting one entry
        self._opened[session.state] = (sealed, session.reply_attrs)
        return self._write(
            PUT_SESSION_SQL,
            (
                session.state,
                session.client,
                session.username,
                session.factor,
                session.attempts,
                to_epoch(session.expires_at),
                sealed,
                session.phase.value,
            ),
        )

    async def count_pending(self, *, now: datetime) -> tuple[int, int]:
        """Open challenges, and requests held for a call or push, not expired."""
        rows = await self._fetch(
            "SELECT (SELECT COUNT(*) FROM sessions WHERE expires_at > ?), "
            "(SELECT COUNT(*) FROM oob_sessions WHERE phase = ? AND expires_at > ?)",
            to_epoch(now), Phase.AWAITING_APPROVAL.value, to_epoch(now),
        )
        return int(rows[0][0]), int(rows[0][1])

    async def take_session(self, state: bytes, *, now: datetime) -> Session | None:
        # DELETE … RETURNING: whichever worker deletes the row owns the answer.
        rows = await self._fetch(TAKE_SESSION_SQL, state)
        return self._session(state, rows[0], now=now) if rows else None

    def _session(self, state: bytes, row: Row, *, now: datetime) -> Session | None:
        """A taken row (_SESSIONS columns) as a Session; None when expired."""
        client, username, factor, attempts, expires_at, reply_enc, phase = row
        sealed = bytes(reply_enc)
        opened = self._opened.pop(state, None)  # taken once: it is deleted from the store
        attrs = opened[1] if opened is not None and opened[0] == sealed else None
        if expires_at <= to_epoch(now):
            return None
        if attrs is None:
            attrs = unpack_attrs(
                self._cipher.decrypt(sealed, context=_session_aad(state), what="session reply attributes")
            )
        return Session(
            state=state,
            client=client,
            username=bytes(username),
            factor=factor,
            attempts=attempts,
            expires_at=from_epoch(expires_at),
            reply_attrs=attrs,
            phase=_PHASES.get(phase) or Phase(phase),
        )

    async def purge_expired(self, *, now: datetime) -> int:
        return await self._execute("DELETE FROM sessions WHERE expires_at <= ?", to_epoch(now))
