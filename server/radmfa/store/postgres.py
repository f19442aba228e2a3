"""PostgresStore: the store when several nodes serve the same users.

asyncpg is natively async, so nothing here blocks the event loop. The SQL is
sql.py's, renumbered from ``?`` to ``$n``; the single-use statements are the
same UPDATE/DELETE … RETURNING, which PostgreSQL runs atomically per row.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from functools import lru_cache
from typing import Any

import asyncpg

from radmfa.core.model import AuditRecord, Claimed, CodeClaim, MfaSuccess, Session, Token, User
from radmfa.core.policy import name_key
from radmfa.errors import ConfigError, StoreError
from radmfa.store import schema
from radmfa.store.codec import to_epoch
from radmfa.store.seeds import SeedCipher
from radmfa.store.sql import Row, SqlStore, Statement
from radmfa.store.sql_audit import AUDIT_COLUMNS, daily_counts
from radmfa.store.sql_sessions import PUT_SESSION_SQL, SESSION_COLUMNS
from radmfa.store.sql_users import LOGIN_VIEW_SELECT

POOL_MIN = 1
POOL_MAX = 10
CONNECT_TIMEOUT = 10.0
# Seconds a statement may run, and a caller may wait for a free connection,
# before it fails as a StoreError: a hung server or an exhausted pool must fail
# the request, not hold the login until the NAS gives up and retransmits.
COMMAND_TIMEOUT = 10.0
ACQUIRE_TIMEOUT = 10.0
# Migrating may wait for another node's migration (the advisory lock below)
# and backfill whole tables; it happens once, at start-up.
MIGRATION_TIMEOUT = 600.0
# close() waits this long for connections in use to come back, then drops them.
CLOSE_TIMEOUT = 5.0
# pg_advisory_xact_lock key held while migrating ("radmfa" in ASCII), so nodes
# starting together apply each migration once.
_MIGRATION_LOCK = 0x7261646D6661

# asyncpg prepares each statement once per connection and keeps it; the hot
# path's few statements must never be pushed out by admin ones (asyncpg's
# default keeps 100) nor dropped after asyncpg's default 300 s (0: kept).
STATEMENT_CACHE_SIZE = 512
STATEMENT_LIFETIME = 0

# consume_otp_step with the login's MFA success, in one statement (one round
# trip, atomic): the step's compare-and-set, and only if it matched (every
# other part reads ``step``) the cache times, the remembered device and the
# cleared failure count — record_mfa_success's writes (sql_exemptions.py).
# Parameters: step, token id, user id, then (_CONSUME_STEP_AND_SUCCEED only)
# time, scopes (text[], NULL for none), station ("" for none), client.
# Without a cache scope or a station (_CONSUME_STEP_BARE), the step and the
# cleared count only, as claim_code.
_CONSUME_STEP_TAKE = (
    "WITH step AS (UPDATE tokens SET last_step = $1, fail_count = 0 "
    "WHERE id = $2 AND (last_step IS NULL OR last_step < $1) RETURNING id), "
)
_CONSUME_STEP_CLEAR = (
    "cleared AS (DELETE FROM mfa_failures WHERE user_id = $3::bigint AND EXISTS (SELECT 1 FROM step)) "
    "SELECT id FROM step"
)
_CONSUME_STEP_AND_SUCCEED = (
    _CONSUME_STEP_TAKE  # noqa: S608 (constant parts; values are parameters)
    + "cache AS (INSERT INTO mfa_cache (user_id, scope, passed_at) "
    "SELECT $3::bigint, scope, $4::double precision FROM step, unnest($5::text[]) AS scope "
    "ON CONFLICT (user_id, scope) DO UPDATE SET passed_at = excluded.passed_at), "
    "device AS (INSERT INTO remembered_devices (user_id, station, client, remembered_at) "
    "SELECT $3::bigint, $6::text, $7::text, $4::double precision FROM step WHERE $6::text <> '' "
    "ON CONFLICT (user_id, station) DO UPDATE SET client = excluded.client, "
    "remembered_at = excluded.remembered_at), "
    + _CONSUME_STEP_CLEAR
)
_CONSUME_STEP_BARE = _CONSUME_STEP_TAKE + _CONSUME_STEP_CLEAR

# claim_code in one statement (one round trip, atomic): sql.py's
# CLAIM_SESSION_SQL, then CLAIM_STEP_SQL only if it took the session, then the
# MFA success only if the step was taken (as _CONSUME_STEP_AND_SUCCEED). A
# session taken whose step was not stays taken, as on SQLite. One row (1 +
# whether the step was taken) when the session was taken, none when not.
# Parameters: state, ciphertext, time, step, token id, user id, max
# failures, failures since, user state, then (_CLAIM_CODE only) scopes
# (text[], NULL for none), station ("" for none) and client.
_CLAIM_TAKE = (
    "WITH s AS (DELETE FROM sessions WHERE state = $1 AND reply_enc = $2 AND expires_at > $3 RETURNING state), "
    "step AS (UPDATE tokens SET last_step = $4, fail_count = 0 WHERE id = $5 AND user_id = $6 "
    "AND (last_step IS NULL OR last_step < $4) AND (fail_count < $7 OR failed_at IS NULL OR failed_at <= $8) "
    "AND EXISTS (SELECT 1 FROM users WHERE id = $6 AND state = $9) AND EXISTS (SELECT 1 FROM s) RETURNING id), "
)
_CLAIM_CLEAR_AND_COUNT = (
    "cleared AS (DELETE FROM mfa_failures WHERE user_id = $6::bigint AND EXISTS (SELECT 1 FROM step)) "
    "SELECT 1 + (EXISTS (SELECT 1 FROM step))::int FROM s"
)
_CLAIM_CODE = (
    _CLAIM_TAKE  # noqa: S608 (constant parts; values are parameters)
    + "cache AS (INSERT INTO mfa_cache (user_id, scope, passed_at) "
    "SELECT $6::bigint, scope, $3::double precision FROM step, unnest($10::text[]) AS scope "
    "ON CONFLICT (user_id, scope) DO UPDATE SET passed_at = excluded.passed_at), "
    "device AS (INSERT INTO remembered_devices (user_id, station, client, remembered_at) "
    "SELECT $6::bigint, $11::text, $12::text, $3::double precision FROM step WHERE $11::text <> '' "
    "ON CONFLICT (user_id, station) DO UPDATE SET client = excluded.client, "
    "remembered_at = excluded.remembered_at), "
    + _CLAIM_CLEAR_AND_COUNT
)
# The usual claim, with no cache scope and no station (the [mfa] cache off,
# no remembered devices): without the two upserts, which wrote nothing then
# but whose setting up (two more tables to open and lock, their indexes, an
# ON CONFLICT each) cost the server more than a tenth of the statement's CPU.
_CLAIM_CODE_BARE = _CLAIM_TAKE + _CLAIM_CLEAR_AND_COUNT

# take_session_view in one statement: the session taken, and the user named
# by the answering request with their tokens (login_view's columns after the
# session's). Parameters: state, name_key.
_SESSION_WIDTH = len(SESSION_COLUMNS.split(","))
_TAKE_SESSION_VIEW = (
    f"WITH s AS (DELETE FROM sessions WHERE state = $1 RETURNING {SESSION_COLUMNS}) "  # noqa: S608 (column lists; values are parameters)
    f"SELECT {', '.join('s.' + c.strip() for c in SESSION_COLUMNS.split(','))}, {LOGIN_VIEW_SELECT} "
    "FROM s LEFT JOIN users u ON u.name_key = $2 LEFT JOIN tokens t ON t.user_id = u.id ORDER BY t.id"
)

# write_audit in one statement (one round trip, atomic): the batch's rows and
# the daily counts they add to. Each is sent as one JSON array of arrays (the
# audit columns in AUDIT_COLUMNS' order; day, client, factor, result, n):
# asyncpg checks every element of an array parameter against three abstract
# base classes, which cost more than the rest of the write. Read as jsonb,
# parsed once: ``->>`` on json text scans each row's array from its start
# for every column, which doubled the server's CPU per audit row. The
# values come out the same (jsonb keeps a number's digits and every string).
_AUDIT_TYPES = (
    "float8", "text", "text", "text", "text", "text", "text", "text", "text", "float8",
    "text", "text", "text", "text", "text", "text", "text", "text",
)
_WRITE_AUDIT = (
    f"WITH rows AS (INSERT INTO audit ({AUDIT_COLUMNS}) SELECT "  # noqa: S608 (column lists)
    + ", ".join(f"(r ->> {i})::{t}" for i, t in enumerate(_AUDIT_TYPES))
    + " FROM jsonb_array_elements($1::jsonb) AS a (r)) "
    "INSERT INTO audit_daily (day, client_name, factor, result, n) "
    "SELECT (d ->> 0)::int8, d ->> 1, d ->> 2, d ->> 3, (d ->> 4)::int8 "
    "FROM jsonb_array_elements($2::jsonb) WITH ORDINALITY AS x (d, k) ORDER BY k "
    "ON CONFLICT (day, client_name, factor, result) DO UPDATE SET n = audit_daily.n + excluded.n"
)

# Statements PostgreSQL commits without waiting for the WAL to reach the disk
# (synchronous_commit off for their own transaction only; set_config(…, true)
# is undone at its end), by how their text starts: a challenge session's
# upsert (put_session). Waiting for that flush was the larger part of the
# server's CPU for the write. Such a commit is seen by every other
# connection at once; only a server crash (or a failover) in the fraction of
# a second before the WAL writer flushes it (wal_writer_delay) can lose it,
# and a lost session only fails its challenge's answer, as an expired one
# does: it never accepts anything. Every statement that takes or consumes
# (a session, a TOTP step, a bypass) still commits durably, which flushes
# every earlier write with it. RETURNING runs the setting once per row
# written (one), before the commit.
_LAZY_COMMIT = ("INSERT INTO sessions (",)
_LAZY_RETURNING = " RETURNING set_config('synchronous_commit', 'off', true)"
# Upserts sent first as a plain INSERT (the text before " ON CONFLICT"): a
# challenge session's State is new (16 random bytes), so its row is not
# there, and ON CONFLICT's speculative insertion (a probe of the key's
# index, a lock on a speculative token, a second WAL record confirming the
# row) cost the server about a tenth of the write. Should the row be there
# (put_session overwrites), that INSERT fails alone, in its own
# transaction, and the upsert follows on the same connection.
_INSERT_FIRST = frozenset({PUT_SESSION_SQL})

# OSError covers refused connections and timeouts (TimeoutError is an OSError).
_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError)


class PostgresStore(SqlStore):
    """Store over a PostgreSQL database. Create with ``await PostgresStore.open(...)``."""

    _DAY_SQL = schema.POSTGRES["day"]
    _BYTEWISE = schema.POSTGRES["bytewise"]

    def __init__(self, pool: Any, cipher: SeedCipher, *, shown_url: str) -> None:
        super().__init__(cipher)
        self._pool = pool
        self._shown_url = shown_url  # password already redacted
        self._closed = False
        # Connections are leased from the pool and kept between statements:
        # asyncpg's acquire (with a time limit) and release each start a task
        # and reset the connection, several times the CPU of a point read.
        # ``_idle`` holds the leased ones not in use; ``_leased`` counts all
        # (at most POOL_MAX); callers find one idle, lease another, or wait
        # in ``_waiters`` for one to come back.
        self._idle: list[Any] = []
        self._leased = 0
        self._waiters: deque[asyncio.Future[Any]] = deque()

    @classmethod
    async def open(cls, url: str, cipher: SeedCipher, *, shown_url: str) -> PostgresStore:
        try:
            pool = await asyncpg.create_pool(
                url,
                min_size=POOL_MIN,
                max_size=POOL_MAX,
                timeout=CONNECT_TIMEOUT,
                command_timeout=COMMAND_TIMEOUT,
                statement_cache_size=STATEMENT_CACHE_SIZE,
                max_cached_statement_lifetime=STATEMENT_LIFETIME,
                reset=_keep_session,
            )
        except _ERRORS as exc:
            raise StoreError(f"cannot connect to PostgreSQL at {shown_url}: {_reason(exc)}") from exc
        except ValueError:
            # asyncpg's DSN parser. Its text is not shown: it may quote part of
            # a password whose unescaped '#' or '/' it took for the port.
            raise ConfigError(
                f"store url {shown_url!r} is not a PostgreSQL URL asyncpg can read: check "
                "that the port is a number, and write : / ? # @ in the user name or "
                "password as %3A %2F %3F %23 %40"
            ) from None
        return cls(pool, cipher, shown_url=shown_url)

    def __repr__(self) -> str:
        return f"PostgresStore({self._shown_url!r})"

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        idle, self._idle = self._idle, []
        for conn in idle:
            await self._discard(conn)
        try:
            # A connection held by a hung statement would keep close() waiting forever.
            await asyncio.wait_for(self._pool.close(), CLOSE_TIMEOUT)
        except TimeoutError:
            self._pool.terminate()

    async def migrate(self) -> None:
        async with self._errors(), self._connection() as conn, conn.transaction():
            await conn.execute(
                "SELECT pg_advisory_xact_lock($1)", _MIGRATION_LOCK, timeout=MIGRATION_TIMEOUT
            )
            await conn.execute(schema.version_table(schema.POSTGRES))
            current = await conn.fetchval("SELECT COALESCE(MAX(version), 0) FROM schema_version")
            for migration in schema.pending(current, schema.POSTGRES):
                for step in migration.statements:
                    await _migration_step(conn, step, MIGRATION_TIMEOUT)
                await conn.execute(
                    "INSERT INTO schema_version (version, applied_at) VALUES ($1, $2)",
                    migration.version,
                    time.time(),
                )

    async def consume_otp_step(self, token_id: int, step: int, *, success: MfaSuccess | None = None) -> bool:
        if success is None:
            return await super().consume_otp_step(token_id, step)
        if success.scopes or success.station:
            rows = await self._fetch(
                _CONSUME_STEP_AND_SUCCEED, step, token_id, success.user_id, to_epoch(success.now),
                _text_array(success.scopes), success.station, success.client,
            )
        else:
            rows = await self._fetch(_CONSUME_STEP_BARE, step, token_id, success.user_id)
        return bool(rows)

    async def claim_code(self, claim: CodeClaim) -> Claimed:
        opened = self._opened.pop(claim.state, None)
        if opened is None:
            return Claimed.UNKNOWN
        success = claim.success
        if success.user_id != claim.user_id:  # one user id in the statement
            self._opened[claim.state] = opened
            return await super().claim_code(claim)
        at = to_epoch(success.now)
        since = to_epoch(claim.failures_since)
        if success.scopes or success.station:
            rows = await self._fetch(
                _CLAIM_CODE, claim.state, opened[0], at, claim.step, claim.token_id, claim.user_id,
                claim.max_failures, since, str(claim.user_state),
                _text_array(success.scopes), success.station, success.client,
            )
        else:
            rows = await self._fetch(
                _CLAIM_CODE_BARE, claim.state, opened[0], at, claim.step, claim.token_id, claim.user_id,
                claim.max_failures, since, str(claim.user_state),
            )
        # One row when the session was taken: 1, or 2 with the step.
        return self._claimed(claim.state, opened, int(rows[0][0]) if rows else 0)

    async def write_audit(self, rows: Sequence[AuditRecord]) -> None:
        if not rows:
            return
        values = self._audit_values(rows)
        await self._execute(
            _WRITE_AUDIT,
            json.dumps(values, ensure_ascii=False),
            json.dumps(daily_counts(values), ensure_ascii=False),
        )

    async def take_session_view(
        self, state: bytes, *, now: datetime, username: str | None = None
    ) -> tuple[Session | None, User | None, list[Token]]:
        if username is None:
            return await super().take_session_view(state, now=now)
        # One statement: the DELETE … RETURNING (single use) and the named
        # user's view joined to what it returned; nothing when no session.
        rows = await self._fetch(_TAKE_SESSION_VIEW, state, name_key(username))
        if not rows:
            return None, None, []
        found = self._session(state, rows[0][:_SESSION_WIDTH], now=now)
        if found is None:
            return None, None, []
        view = [row[_SESSION_WIDTH:] for row in rows]
        if view[0][0] is None:  # no such user
            return found, None, []
        user, tokens = self._view(view)
        return found, user, tokens

    # -- primitives (sql.SqlStore) --------------------------------------------------

    async def _fetch(self, sql: str, *args: object) -> list[Row]:
        conn = self._idle.pop() if self._idle else None
        if conn is None or _closed(conn):
            conn = await self._usable(conn)
        try:
            rows: list[Row] = await conn.fetch(_numbered(sql), *args)
        except _ERRORS as exc:
            await self._discard(conn)
            raise self._error(exc) from exc
        except BaseException:  # cancelled
            await self._discard(conn)
            raise
        if self._closed or self._waiters:
            await self._return(conn)
        else:  # _return's usual case, without a coroutine per statement
            self._idle.append(conn)
        return rows

    async def _execute(self, sql: str, *args: object) -> int:
        conn = self._idle.pop() if self._idle else None
        if conn is None or _closed(conn):
            conn = await self._usable(conn)
        try:
            try:
                status: str = await conn.execute(_alone(sql), *args)
            except asyncpg.UniqueViolationError:
                if sql not in _INSERT_FIRST:
                    raise
                status = await conn.execute(_lazy(_numbered(sql)), *args)
        except _ERRORS as exc:
            await self._discard(conn)
            raise self._error(exc) from exc
        except BaseException:  # cancelled
            await self._discard(conn)
            raise
        if self._closed or self._waiters:
            await self._return(conn)
        else:
            self._idle.append(conn)
        return _rowcount(status)

    async def _execute_many(self, sql: str, rows: Sequence[Sequence[object]]) -> None:
        # executemany is atomic by itself (asyncpg 0.22+: the rows are sent in
        # one pipelined batch ending in one Sync, one implicit transaction), so
        # no BEGIN and COMMIT round trips around it.
        async with self._errors(), self._connection() as conn:
            await conn.executemany(_numbered(sql), rows)

    async def _execute_each(self, steps: Sequence[tuple[str, Sequence[Sequence[object]]]]) -> None:
        if len(steps) == 1:  # one statement, once or for many rows: atomic alone, no BEGIN and COMMIT
            sql, rows = steps[0]
            if len(rows) == 1:
                await self._execute(sql, *rows[0])
            else:
                await self._execute_many(sql, rows)
            return
        async with self._errors(), self._connection() as conn, conn.transaction():
            for sql, rows in steps:
                await conn.executemany(_numbered(sql), rows)

    async def _fetch_then(self, first: Statement, then: Callable[[Row], Sequence[Statement]]) -> Row | None:
        async with self._errors(), self._connection() as conn, conn.transaction():
            sql, args = first
            row: Row | None = await conn.fetchrow(_numbered(sql), *args)
            if row is not None:
                for sql, args in then(row):
                    await conn.execute(_numbered(sql), *args)
            return row

    async def _fetch_chain(self, steps: Sequence[Statement], then: Sequence[Statement]) -> int:
        async with self._errors(), self._connection() as conn, conn.transaction():
            for done, (sql, args) in enumerate(steps):
                if await conn.fetchrow(_numbered(sql), *args) is None:
                    return done
            for sql, args in then:
                await conn.execute(_numbered(sql), *args)
            return len(steps)

    async def _fetch_pair(
        self, first: Statement, second: Callable[[Row], Statement | None]
    ) -> tuple[Row | None, list[Row]]:
        async with self._errors(), self._connection() as conn:
            sql, args = first
            row: Row | None = await conn.fetchrow(_numbered(sql), *args)
            statement = second(row) if row is not None else None
            if statement is None:
                return row, []
            sql, args = statement
            return row, list(await conn.fetch(_numbered(sql), *args))

    # -- leased connections ---------------------------------------------------------

    async def _usable(self, stale: Any) -> Any:
        """An idle connection still open (one the server closed while idle,
        as at a restart, goes back to the pool to be dropped), else a new lease."""
        if stale is not None:
            await self._discard(stale)
        while self._idle:
            conn = self._idle.pop()
            if not _closed(conn):
                return conn
            await self._discard(conn)
        return await self._lease()

    async def _lease(self) -> Any:
        """A connection for one caller: a newly leased one while fewer than
        POOL_MAX are, else the next one a caller gives back (within
        ACQUIRE_TIMEOUT: an exhausted pool fails the request, not hold it)."""
        if self._closed:
            raise StoreError(f"{self!r} is closed")
        if self._leased < POOL_MAX:
            self._leased += 1
            try:
                return await self._pool.acquire(timeout=ACQUIRE_TIMEOUT)
            except BaseException as exc:
                self._leased -= 1
                self._wake()
                if isinstance(exc, _ERRORS):
                    raise self._error(exc) from exc
                raise
        waiter: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            conn = await asyncio.wait_for(waiter, ACQUIRE_TIMEOUT)
        except TimeoutError as exc:
            raise self._error(exc) from exc
        except BaseException:
            if waiter.done() and not waiter.cancelled() and waiter.result() is not None:
                await self._return(waiter.result())  # handed over as this caller gave up
            raise
        finally:
            if waiter in self._waiters:
                self._waiters.remove(waiter)
        # None: a lease ended while this caller waited, its place is free.
        return conn if conn is not None else await self._lease()

    async def _return(self, conn: Any) -> None:
        """A connection back after a statement that succeeded: to a waiting
        caller, else idle (handed back to the pool once the store is closed)."""
        if self._closed:
            await self._discard(conn)
            return
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(conn)
                return
        self._idle.append(conn)

    async def _discard(self, conn: Any) -> None:
        """End a lease: the pool resets the connection (rolls back, waits out
        a cancelled statement) or drops it if broken, and reconnects later."""
        self._leased -= 1
        try:
            await self._pool.release(conn)
        except _ERRORS:
            pass  # the reset failed: the pool has dropped the connection already
        finally:
            self._wake()

    def _wake(self) -> None:
        # A lease ended: the first caller still waiting may lease anew.
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def _error(self, exc: BaseException) -> StoreError:
        # Callers see one error type whichever backend is configured.
        return StoreError(f"PostgreSQL at {self._shown_url}: {_reason(exc)}")

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[Any]:
        """A leased connection for a block of statements (a transaction's)."""
        conn = self._idle.pop() if self._idle else None
        if conn is None or _closed(conn):
            conn = await self._usable(conn)
        try:
            yield conn
        except BaseException:
            await self._discard(conn)
            raise
        await self._return(conn)

    @asynccontextmanager
    async def _errors(self) -> AsyncIterator[None]:
        # Callers see one error type whichever backend is configured.
        if self._closed:
            raise StoreError(f"{self!r} is closed")
        try:
            yield
        except _ERRORS as exc:
            raise self._error(exc) from exc


async def _keep_session(_conn: Any) -> None:
    """What a connection going back to the pool needs beyond asyncpg's own
    step (it rolls back an open transaction first): nothing. asyncpg's default
    sends "SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL"
    on every release, a round trip after every statement; radmfa leaves no
    session state to undo (no SET, LISTEN, cursors or session advisory locks:
    the migration lock is transaction-scoped)."""


async def _migration_step(conn: Any, step: schema.Step, timeout: float) -> None:
    if isinstance(step, schema.Backfill):
        rows = await conn.fetch(step.select, timeout=timeout)
        await conn.executemany(_numbered(step.update), step.compute(rows), timeout=timeout)
    else:
        await conn.execute(step, timeout=timeout)


def _closed(conn: Any) -> bool:
    """Whether a leased connection can no longer be used: the server closed it
    (asyncpg has then handed it back to the pool itself, and says so)."""
    try:
        return bool(conn.is_closed())
    except asyncpg.InterfaceError:  # "released back to the pool"
        return True


def _reason(exc: BaseException) -> str:
    # A timeout's own text is empty.
    if isinstance(exc, TimeoutError):
        return "no answer in time (the server is hung or every pooled connection is busy)"
    return str(exc)


@lru_cache(maxsize=256)
def _numbered(sql: str) -> str:
    """``?`` → ``$1, $2, …`` (sql.py's statements hold no literal question marks)."""
    first, *rest = sql.split("?")
    return first + "".join(f"${n}{part}" for n, part in enumerate(rest, start=1))


@lru_cache(maxsize=256)
def _alone(sql: str) -> str:
    """A statement run in a transaction of its own (_execute), as PostgreSQL
    runs it: a write of _LAZY_COMMIT committed without waiting for the flush,
    an upsert of _INSERT_FIRST sent as its plain INSERT.
    Never within a transaction of several statements: the setting would hold
    for all of them."""
    text = _numbered(sql)
    if sql in _INSERT_FIRST:
        text = text.partition(" ON CONFLICT")[0]
    return _lazy(text) if sql.startswith(_LAZY_COMMIT) else text


def _lazy(text: str) -> str:
    return text + _LAZY_RETURNING


def _text_array(items: Sequence[str]) -> list[str] | None:
    """A text[] parameter; None (NULL: unnest gives no rows) for none, which
    asyncpg sends without encoding an array (over 10,000 instructions a
    login for the usual empty list of cache scopes)."""
    return list(items) if items else None


def _rowcount(status: str) -> int:
    # Command tags: "DELETE 3", "UPDATE 0", "INSERT 0 1".
    return int(status.rsplit(" ", 1)[-1])
