"""The Store in SQL both backends share; a backend supplies only how to run it.

Statements are written once with ``?`` parameters. SqliteStore runs them as
they are; PostgresStore renumbers them to ``$n``. Keeping one text for both is
what keeps the two backends' semantics identical.

Statements are composed only from the column lists below and literal
fragments; every value is a bound parameter, hence the S608 exemption.
"""

# ruff: noqa: S608

from __future__ import annotations

import abc
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from radmfa.core.model import AuditRecord, NewToken, NewUser, Phase, Session, Token, User
from radmfa.core.policy import name_key
from radmfa.errors import AlreadyExists, NotFound, StoreError
from radmfa.store.codec import from_epoch, pack_attrs, to_epoch, unpack_attrs
from radmfa.store.seeds import SeedCipher

Row = Sequence[Any]
Statement = tuple[str, Sequence[object]]

# Column lists, in the order _user() and SqlStore._token() read them.
_USERS = "u.id, u.name, u.email, u.phone, u.first_name, u.last_name, u.password_hash, u.created_at"
_TOKENS = (
    "t.id, t.kind, t.secret_enc, t.digits, t.period, t.algorithm, t.last_step, t.label, "
    "t.created_at, t.fail_count, t.failed_at"
)
_SESSIONS = "client, username, factor, attempts, expires_at, reply_enc, phase"
_AUDIT = (
    "time, request_id, client_name, client_ip, username, calling_station_id, factor, "
    "result, reason, duration_ms"
)
_KEY_CHECK = b"radmfa key check"
# purge_audit deletes this many rows per statement: SQLite holds its one write
# lock for a whole statement, and every login waits behind it.
AUDIT_PURGE_BATCH = 5000


def _token_aad(token_id: int) -> bytes:
    return b"tokens.secret_enc:%d" % token_id


def _session_aad(state: bytes) -> bytes:
    return b"sessions.reply_enc:" + state


class SqlStore(abc.ABC):
    """Implements core.ports.Store over four primitives a backend provides."""

    def __init__(self, cipher: SeedCipher) -> None:
        self._cipher = cipher

    # -- what a backend provides -------------------------------------------------

    @abc.abstractmethod
    async def _fetch(self, sql: str, *args: object) -> list[Row]:
        """Run one statement (atomically on its own) and return its rows."""

    @abc.abstractmethod
    async def _execute(self, sql: str, *args: object) -> int:
        """Run one statement and return how many rows it changed."""

    @abc.abstractmethod
    async def _execute_many(self, sql: str, rows: Sequence[Sequence[object]]) -> None:
        """Run one statement per parameter row, all in one transaction."""

    @abc.abstractmethod
    async def _fetch_then(self, first: Statement, then: Callable[[Row], Statement]) -> Row | None:
        """In one transaction: run ``first``; if it returned a row, run ``then(row)``."""

    @abc.abstractmethod
    async def migrate(self) -> None: ...

    @abc.abstractmethod
    async def close(self) -> None: ...

    # -- key check ---------------------------------------------------------------

    async def check_key(self) -> None:
        """Fail now, not at the first login, when key_file is not this database's key."""
        sealed = self._cipher.encrypt(_KEY_CHECK, context=b"store_meta.key_check")
        await self._execute(
            "INSERT INTO store_meta (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING",
            "key_check",
            sealed,
        )
        rows = await self._fetch("SELECT value FROM store_meta WHERE name = ?", "key_check")
        try:
            self._cipher.decrypt(bytes(rows[0][0]), context=b"store_meta.key_check")
        except StoreError:
            raise StoreError(
                f"{self._cipher.source} is not the key this database was created with, so its "
                "token seeds cannot be decrypted: restore the original key_file"
            ) from None

    # -- users -------------------------------------------------------------------
    # Users are looked up by name_key(name), never by the name as given: the
    # spellings a NAS may send for one person (ALICE, alice@corp.example,
    # CORP\alice) must all find that person, or they count as unknown users.

    async def add_user(self, user: NewUser) -> User:
        key = name_key(user.name)
        if not key:
            raise StoreError(
                f"user name {user.name!r} has nothing left once a DOMAIN\\ prefix and an "
                "@realm are removed, so no login could name it: choose another name"
            )
        rows = await self._fetch(
            "INSERT INTO users (name, name_key, email, phone, first_name, last_name, "
            "password_hash, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (name_key) DO NOTHING RETURNING id, created_at",
            user.name,
            key,
            user.email,
            user.phone,
            user.first_name,
            user.last_name,
            user.password_hash,
            time.time(),
        )
        if not rows:
            raise await self._taken(user.name, key)
        return User(
            id=rows[0][0],
            name=user.name,
            email=user.email,
            phone=user.phone,
            first_name=user.first_name,
            last_name=user.last_name,
            password_hash=user.password_hash,
            created_at=from_epoch(rows[0][1]),
        )

    async def _taken(self, name: str, key: str) -> AlreadyExists:
        rows = await self._fetch("SELECT name FROM users WHERE name_key = ?", key)
        if not rows or rows[0][0] == name:
            return AlreadyExists(f"user {name!r} already exists")
        return AlreadyExists(
            f"user {name!r} already exists as {rows[0][0]!r}: user names match whatever "
            "their case and any DOMAIN\\ prefix or @realm"
        )

    async def get_user(self, name: str) -> User | None:
        rows = await self._fetch(f"SELECT {_USERS} FROM users u WHERE u.name_key = ?", name_key(name))
        return _user(rows[0]) if rows else None

    async def list_users(self) -> list[User]:
        rows = await self._fetch(f"SELECT {_USERS} FROM users u ORDER BY u.name")
        return [_user(row) for row in rows]

    async def delete_user(self, name: str) -> bool:
        # Tokens go with the user: ON DELETE CASCADE, in the same statement.
        return await self._execute("DELETE FROM users WHERE name_key = ?", name_key(name)) > 0

    async def set_password_hash(self, name: str, password_hash: str | None) -> bool:
        changed = await self._execute(
            "UPDATE users SET password_hash = ? WHERE name_key = ?", password_hash, name_key(name)
        )
        return changed > 0

    # -- tokens ------------------------------------------------------------------

    async def add_token(self, username: str, token: NewToken) -> Token:
        created = time.time()

        # The seed's ciphertext is bound to the row id, which exists only after
        # the INSERT; the placeholder is replaced before the transaction commits.
        def seal(row: Row) -> Statement:
            token_id = int(row[0])
            sealed = self._cipher.encrypt(token.secret, context=_token_aad(token_id))
            return "UPDATE tokens SET secret_enc = ? WHERE id = ?", (sealed, token_id)

        # RETURNING the owner's stored name, so the Token shows it as list_tokens does.
        row = await self._fetch_then(
            (
                "INSERT INTO tokens (user_id, kind, secret_enc, digits, period, algorithm, "
                "label, created_at) SELECT id, ?, ?, ?, ?, ?, ?, ? FROM users WHERE name_key = ? "
                "RETURNING id, (SELECT name FROM users WHERE users.id = tokens.user_id)",
                (
                    token.kind,
                    b"",
                    token.digits,
                    token.period,
                    token.algorithm,
                    token.label,
                    created,
                    name_key(username),
                ),
            ),
            seal,
        )
        if row is None:
            raise NotFound(f"no user named {username!r}")
        return Token(
            id=int(row[0]),
            username=row[1],
            kind=token.kind,
            secret=token.secret,
            digits=token.digits,
            period=token.period,
            algorithm=token.algorithm,
            label=token.label,
            created_at=from_epoch(created),
        )

    async def list_tokens(self, username: str | None = None) -> list[Token]:
        sql = f"SELECT u.name, {_TOKENS} FROM tokens t JOIN users u ON u.id = t.user_id"
        if username is None:
            rows = await self._fetch(sql + " ORDER BY t.id")
        else:
            rows = await self._fetch(sql + " WHERE u.name_key = ? ORDER BY t.id", name_key(username))
        return [self._token(row, 1, row[0]) for row in rows]

    async def delete_token(self, token_id: int) -> bool:
        return await self._execute("DELETE FROM tokens WHERE id = ?", token_id) > 0

    async def login_view(self, username: str) -> tuple[User | None, list[Token]]:
        # One round trip on the hot path: the user row repeats once per token.
        rows = await self._fetch(
            f"SELECT {_USERS}, {_TOKENS} FROM users u LEFT JOIN tokens t ON t.user_id = u.id "
            "WHERE u.name_key = ? ORDER BY t.id",
            name_key(username),
        )
        if not rows:
            return None, []
        user = _user(rows[0])
        return user, [self._token(row, 8, user.name) for row in rows if row[8] is not None]

    async def consume_otp_step(self, token_id: int, step: int) -> bool:
        # Compare-and-set in one statement: of two racing workers only one
        # sees its UPDATE match (RFC 6238 §5.2: a code is accepted only once).
        # The same statement clears the wrong-code count: no second write on success.
        rows = await self._fetch(
            "UPDATE tokens SET last_step = ?, fail_count = 0 "
            "WHERE id = ? AND (last_step IS NULL OR last_step < ?) RETURNING id",
            step,
            token_id,
            step,
        )
        return bool(rows)

    async def note_code_failure(self, token_ids: Sequence[int], *, now: datetime) -> None:
        if not token_ids:
            return
        # fail_count + 1 in the UPDATE itself, not read-then-write: concurrent
        # wrong codes from other workers and nodes are all counted.
        marks = ", ".join(["?"] * len(token_ids))
        await self._execute(
            f"UPDATE tokens SET fail_count = fail_count + 1, failed_at = ? WHERE id IN ({marks})",
            to_epoch(now),
            *token_ids,
        )

    def _token(self, row: Row, i: int, username: str) -> Token:
        token_id = int(row[i])
        secret = self._cipher.decrypt(bytes(row[i + 2]), context=_token_aad(token_id))
        return Token(
            id=token_id,
            username=username,
            kind=row[i + 1],
            secret=secret,
            digits=row[i + 3],
            period=row[i + 4],
            algorithm=row[i + 5],
            last_step=row[i + 6],
            label=row[i + 7],
            created_at=from_epoch(row[i + 8]),
            fail_count=row[i + 9],
            failed_at=None if row[i + 10] is None else from_epoch(row[i + 10]),
        )

    # -- challenge sessions ------------------------------------------------------

    async def put_session(self, session: Session) -> None:
        sealed = self._cipher.encrypt(
            pack_attrs(session.reply_attrs), context=_session_aad(session.state)
        )
        # An upsert: the pipeline writes a session back after a wrong code.
        await self._execute(
            f"INSERT INTO sessions (state, {_SESSIONS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (state) DO UPDATE SET client = excluded.client, "
            "username = excluded.username, factor = excluded.factor, "
            "attempts = excluded.attempts, expires_at = excluded.expires_at, "
            "reply_enc = excluded.reply_enc, phase = excluded.phase",
            session.state,
            session.client,
            session.username,
            session.factor,
            session.attempts,
            to_epoch(session.expires_at),
            sealed,
            session.phase.value,
        )

    async def take_session(self, state: bytes, *, now: datetime) -> Session | None:
        # DELETE … RETURNING: whichever worker deletes the row owns the answer.
        rows = await self._fetch(
            f"DELETE FROM sessions WHERE state = ? RETURNING {_SESSIONS}", state
        )
        if not rows:
            return None
        client, username, factor, attempts, expires_at, reply_enc, phase = rows[0]
        if expires_at <= to_epoch(now):
            return None
        packed = self._cipher.decrypt(
            bytes(reply_enc), context=_session_aad(state), what="session reply attributes"
        )
        return Session(
            state=state,
            client=client,
            username=bytes(username),
            factor=factor,
            attempts=attempts,
            expires_at=from_epoch(expires_at),
            reply_attrs=unpack_attrs(packed),
            phase=Phase(phase),
        )

    async def purge_expired(self, *, now: datetime) -> int:
        return await self._execute("DELETE FROM sessions WHERE expires_at <= ?", to_epoch(now))

    # -- audit -------------------------------------------------------------------

    async def purge_audit(self, *, before: datetime) -> int:
        # In batches, each its own statement and transaction, so logins get the
        # write lock between them instead of waiting out millions of deletes.
        total = 0
        while True:
            deleted = await self._execute(
                "DELETE FROM audit WHERE id IN (SELECT id FROM audit WHERE time < ? LIMIT ?)",
                to_epoch(before),
                AUDIT_PURGE_BATCH,
            )
            total += deleted
            if deleted < AUDIT_PURGE_BATCH:
                return total

    async def write_audit(self, rows: Sequence[AuditRecord]) -> None:
        if not rows:
            return
        await self._execute_many(
            f"INSERT INTO audit ({_AUDIT}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    to_epoch(r.time),
                    r.request_id,
                    r.client_name,
                    r.client_ip,
                    r.username,
                    r.calling_station_id,
                    r.factor,
                    r.result,
                    r.reason,
                    float(r.duration_ms),
                )
                for r in rows
            ],
        )

    async def query_audit(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        username: str | None = None,
        limit: int | None = None,
    ) -> list[AuditRecord]:
        """Oldest first; ``since`` is inclusive, ``until`` exclusive; ``limit``
        keeps the newest N (what an admin asking for "the last 50" means)."""
        where: list[str] = []
        args: list[object] = []
        if since is not None:
            where.append("time >= ?")
            args.append(to_epoch(since))
        if until is not None:
            where.append("time < ?")
            args.append(to_epoch(until))
        if username is not None:
            where.append("username = ?")
            args.append(username)
        filters = " WHERE " + " AND ".join(where) if where else ""
        if limit is None:
            sql = f"SELECT {_AUDIT} FROM audit{filters} ORDER BY time, id"
        else:
            newest = f"SELECT id, {_AUDIT} FROM audit{filters} ORDER BY time DESC, id DESC LIMIT ?"
            sql = f"SELECT {_AUDIT} FROM ({newest}) AS newest ORDER BY time, id"
            args.append(limit)
        rows = await self._fetch(sql, *args)
        return [AuditRecord(from_epoch(r[0]), *tuple(r)[1:]) for r in rows]


def _user(row: Row) -> User:
    return User(
        id=row[0],
        name=row[1],
        email=row[2],
        phone=row[3],
        first_name=row[4],
        last_name=row[5],
        password_hash=row[6],
        created_at=from_epoch(row[7]),
    )
