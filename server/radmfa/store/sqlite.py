"""SqliteStore: the embedded default (one file, WAL, shared by worker processes).

sqlite3 calls block, and the event loop must never block, so every write and
every transaction runs on one dedicated worker thread that owns the writing
connection. One thread also means statements of one process never interleave
inside a transaction. The hot path's point reads (``_read``: a login's user
and tokens, its exemptions) run on the event loop's thread instead, on a
second, read-only connection: in WAL mode a reader never waits for a writer,
an indexed read of a few rows costs tens of microseconds, and handing it to
the thread and waking the loop for its answer cost more than that. If that
connection ever meets a lock (SQLITE_BUSY: a checkpoint restarting the WAL,
another process recovering it), the read goes to the thread, which waits.
Other processes use their own connections; the atomic statements in sql.py
and SQLite's write lock keep single-use things single-use between them.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TypeVar

from radmfa.core.model import Attr, Claimed, CodeClaim, MfaSuccess
from radmfa.errors import StoreError
from radmfa.store import schema
from radmfa.store.codec import to_epoch
from radmfa.store.dbthread import DbThread
from radmfa.store.seeds import SeedCipher
from radmfa.store.sql import Row, SqlStore, Statement, claim_steps
from radmfa.store.sql_exemptions import success_steps
from radmfa.store.sql_users import CONSUME_STEP_SQL

T = TypeVar("T")

# RETURNING (used for every single-use operation) arrived in SQLite 3.35.0.
MIN_SQLITE = (3, 35, 0)
BUSY_TIMEOUT_S = 5.0
# SQLite's own busy handler sleeps at least 1 ms, then 2, 5, 10 … ms. Worker
# processes sharing the file collide on the write lock thousands of times a
# second, and each collision parked a worker's whole store for a millisecond
# or more. We wait ourselves instead, starting at 50 µs (on the store thread,
# never the event loop), up to the same 5 s overall.
_FIRST_WAIT_S = 0.00005
_MAX_WAIT_S = 0.005


class SqliteStore(SqlStore):
    """Store over one SQLite file. Create with ``await SqliteStore.open(...)``."""

    def __init__(self, path: str, cipher: SeedCipher) -> None:
        super().__init__(cipher)
        self._path = path
        self._db_thread = DbThread("radmfa-sqlite")
        self._conn: sqlite3.Connection | None = None
        self._reader: sqlite3.Connection | None = None  # the event loop's, for _read
        self._closed = False

    @classmethod
    async def open(cls, path: Path | str, cipher: SeedCipher) -> SqliteStore:
        if sqlite3.sqlite_version_info < MIN_SQLITE:
            raise StoreError(
                f"the SQLite store needs SQLite 3.35 or newer (for RETURNING); "
                f"this Python uses SQLite {sqlite3.sqlite_version}"
            )
        store = cls(str(path), cipher)
        try:
            await store._call(store._connect)
            store._packed_view_sql = await store._call(store._has_json)
            store._reader = store._open_reader()
        except BaseException:
            await store.close()
            raise
        return store

    def __repr__(self) -> str:
        return f"SqliteStore({self._path!r})"

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        if self._conn is not None:
            await self._run(self._conn.close)
        self._db_thread.stop()

    async def migrate(self) -> None:
        await self._call(self._transaction, self._migrate)

    # -- primitives (sql.SqlStore) --------------------------------------------------

    async def _fetch(self, sql: str, *args: object) -> list[Row]:
        return await self._call(lambda: self._db.execute(sql, args).fetchall())

    async def _read(self, sql: str, *args: object) -> list[Row]:
        rows = self._read_now(sql, args)
        # None: no reader, or it met a lock; the thread waits for it, the loop must not
        return rows if rows is not None else await self._fetch(sql, *args)

    def _read_now(self, sql: str, args: Sequence[object]) -> list[Row] | None:
        reader = self._reader
        if reader is None:
            return None
        try:
            return reader.execute(sql, args).fetchall()
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode & 0xFF not in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
                raise StoreError(f"SQLite database {self._path}: {exc}") from exc
        except sqlite3.Error as exc:
            raise StoreError(f"SQLite database {self._path}: {exc}") from exc
        return None

    async def _execute(self, sql: str, *args: object) -> int:
        return await self._call(lambda: self._db.execute(sql, args).rowcount)

    def _write(self, sql: str, args: Sequence[object]) -> asyncio.Future[None]:
        return self._call(self._statement, sql, args)

    async def _execute_many(self, sql: str, rows: Sequence[Sequence[object]]) -> None:
        # One transaction: a thousand audit rows cost one commit, not a thousand.
        await self._call(self._transaction, lambda: self._db.executemany(sql, rows))

    async def _execute_each(self, steps: Sequence[tuple[str, Sequence[Sequence[object]]]]) -> None:
        if len(steps) == 1 and len(steps[0][1]) == 1:  # one statement: its own transaction
            sql, (row,) = steps[0]
            await self._call(lambda: self._db.execute(sql, row))
            return

        def each() -> None:
            for sql, rows in steps:
                self._db.executemany(sql, rows)

        await self._call(self._transaction, each)

    async def _fetch_then(self, first: Statement, then: Callable[[Row], Sequence[Statement]]) -> Row | None:
        return await self._call(self._transaction, lambda: self._then(first, then))

    async def _fetch_chain(self, steps: Sequence[Statement], then: Sequence[Statement]) -> int:
        return await self._call(self._transaction, lambda: self._chain(steps, then))

    async def _fetch_pair(
        self, first: Statement, second: Callable[[Row], Statement | None]
    ) -> tuple[Row | None, list[Row]]:
        def both() -> tuple[Row | None, list[Row]]:
            row: Row | None = self._db.execute(*first).fetchone()
            statement = second(row) if row is not None else None
            if statement is None:
                return row, []
            # Waits here if the read meets a lock: retrying both would run ``first`` twice.
            return row, self._patiently(lambda: self._db.execute(*statement).fetchall())

        return await self._call(both)

    # -- the decision's write: the trip's own future ------------------------------------
    # A correct code's step (and the login's MFA success), and a challenge's
    # claim, are every login's one write. The loop awaits the store thread's
    # future itself: the result is worked out on the thread, so no coroutine
    # layers (this method's and the primitive's) are made and resumed on the
    # loop for each. The statements and transactions are sql.py's.

    def consume_otp_step(
        self, token_id: int, step: int, *, success: MfaSuccess | None = None
    ) -> asyncio.Future[bool]:
        return self._call(self._consume_step, token_id, step, success)

    def _consume_step(self, token_id: int, step: int, success: MfaSuccess | None) -> bool:
        """On the worker thread (retried whole by _patiently: one statement,
        or one transaction that rolled back)."""
        taken = (CONSUME_STEP_SQL, (step, token_id, step))
        if success is None:  # one statement, atomic alone
            return bool(self._db.execute(*taken).fetchall())

        def then(_row: Row) -> list[Statement]:  # only if the step was taken
            steps = success_steps(
                success.user_id, success.scopes, success.station, success.client, to_epoch(success.now)
            )
            return [(sql, row) for sql, rows in steps for row in rows]

        return self._transaction(lambda: self._then(taken, then)) is not None

    def claim_code(self, claim: CodeClaim) -> Awaitable[Claimed]:
        opened = self._opened.pop(claim.state, None)
        if opened is None:
            return _known(Claimed.UNKNOWN)
        steps, then = claim_steps(claim, opened[0])
        return self._call(self._claim, claim.state, opened, steps, then)

    def _claim(
        self, state: bytes, opened: tuple[bytes, tuple[Attr, ...]], steps: list[Statement], then: list[Statement]
    ) -> Claimed:
        """On the worker thread: claim_code's transaction, then what it means
        (a session left in place is put back for whoever takes it, before the
        loop hears the answer)."""
        return self._claimed(state, opened, self._transaction(lambda: self._chain(steps, then)))

    # -- on the worker thread ----------------------------------------------------------

    @property
    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StoreError(f"{self!r} is closed")
        return self._conn

    def _connect(self) -> None:
        # isolation_level=None: no implicit BEGIN; a lone statement is its own
        # transaction and multi-statement work says BEGIN IMMEDIATE itself.
        _create_private(self._path)
        conn = sqlite3.connect(self._path, isolation_level=None, timeout=0)
        try:
            conn.execute("PRAGMA busy_timeout = 0")  # see _patiently
            conn.execute("PRAGMA journal_mode = WAL")
            # WAL + NORMAL: a power cut may lose the last commits but never
            # corrupts the file; single-use guarantees hold within what survived.
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA foreign_keys = ON")  # off by default; CASCADE needs it
        except BaseException:
            conn.close()
            raise
        self._conn = conn

    def _has_json(self) -> bool:
        """Whether this SQLite has its JSON functions (built in since 3.38,
        an option before): the login reads' packed columns need json_array."""
        try:
            self._db.execute("SELECT json_array(1)").fetchone()
        except sqlite3.OperationalError:
            return False
        return True

    def _open_reader(self) -> sqlite3.Connection | None:
        """The event loop's read-only connection (None for an in-memory
        database, which a second connection would not see)."""
        if self._path == ":memory:" or self._path.startswith("file:"):
            return None
        conn = sqlite3.connect(self._path, isolation_level=None, timeout=0, check_same_thread=False)
        try:
            conn.execute("PRAGMA busy_timeout = 0")  # never wait on the event loop: fall back to the thread
            conn.execute("PRAGMA query_only = ON")
        except BaseException:
            conn.close()
            raise
        return conn

    def _statement(self, sql: str, args: Sequence[object]) -> None:
        """_write's work: one statement, its own transaction."""
        self._db.execute(sql, args)

    def _then(self, first: Statement, then: Callable[[Row], Sequence[Statement]]) -> Row | None:
        """_fetch_then's work, inside its transaction."""
        row: Row | None = self._db.execute(*first).fetchone()
        if row is not None:
            for statement in then(row):
                self._db.execute(*statement)
        return row

    def _chain(self, steps: Sequence[Statement], then: Sequence[Statement]) -> int:
        """_fetch_chain's work, inside its transaction."""
        for done, statement in enumerate(steps):
            if self._db.execute(*statement).fetchone() is None:
                return done
        for statement in then:
            self._db.execute(*statement)
        return len(steps)

    def _transaction(self, work: Callable[[], T]) -> T:
        # IMMEDIATE takes the write lock up front; a DEFERRED transaction that
        # later upgrades can fail with SQLITE_BUSY without waiting busy_timeout.
        self._db.execute("BEGIN IMMEDIATE")
        try:
            result = work()
            self._db.execute("COMMIT")
        except BaseException:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise
        return result

    def _migrate(self) -> None:
        db = self._db
        db.execute(schema.version_table(schema.SQLITE))
        current = db.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version").fetchone()[0]
        for migration in schema.pending(current, schema.SQLITE):
            for step in migration.statements:
                if isinstance(step, schema.Backfill):
                    db.executemany(step.update, step.compute(db.execute(step.select).fetchall()))
                else:
                    db.execute(step)
            db.execute(
                "INSERT INTO schema_version (version, applied_at) VALUES (?, ?)",
                (migration.version, time.time()),
            )

    def _call(self, fn: Callable[..., T], *args: object) -> asyncio.Future[T]:
        if self._closed:
            raise StoreError(f"{self!r} is closed")
        return self._run(fn, *args)

    @staticmethod
    def _patiently(fn: Callable[..., T], *args: object) -> T:
        """Run ``fn``, retrying while another process holds the lock. Safe:
        every call is one statement or one transaction that rolled back."""
        wait, deadline = _FIRST_WAIT_S, 0.0
        while True:
            try:
                return fn(*args)
            except sqlite3.OperationalError as exc:
                if exc.sqlite_errorcode & 0xFF not in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
                    raise
                now = time.monotonic()
                deadline = deadline or now + BUSY_TIMEOUT_S
                if now >= deadline:
                    raise
                time.sleep(wait)
                wait = min(wait * 2, _MAX_WAIT_S)

    def _run(self, fn: Callable[..., T], *args: object) -> asyncio.Future[T]:
        # A plain function handing back the thread's future: no coroutine of
        # its own to create and step through on every trip.
        return self._db_thread.call(self._guarded, fn, *args)

    def _guarded(self, fn: Callable[..., T], *args: object) -> T:
        """_patiently, with SQLite's errors as StoreError (raised on the thread,
        delivered to whoever awaits the call)."""
        try:
            return self._patiently(fn, *args)
        except sqlite3.Error as exc:
            raise StoreError(f"SQLite database {self._path}: {exc}") from exc


async def _known(claimed: Claimed) -> Claimed:
    return claimed


def _create_private(path: str) -> None:
    """Create the database file 0600 (owner only) unless it exists, whatever
    the umask: it holds password hashes and the audit log. SQLite gives the
    -wal and -shm files it creates the database file's mode."""
    if path == ":memory:":
        return
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:
        return
    except OSError:
        return  # sqlite3.connect fails on the same path and says why, naming it
    os.fchmod(fd, 0o600)  # open's mode passes through the umask; 0277 would leave even the owner read-only
    os.close(fd)
