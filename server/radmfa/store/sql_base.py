"""The SQL both backends share; a backend supplies only how to run it.

Statements are written once with ``?`` parameters. SqliteStore runs them as
they are; PostgresStore renumbers them to ``$n``. Keeping one text for both is
what keeps the two backends' semantics identical.

SqlBase holds the four primitives a backend provides; each domain of the
Store (users and tokens, challenge sessions, audit, …) is a mixin over it in
its own module (store/sql_*.py), and store/sql.py composes them. Statements are
composed only from column lists and literal fragments; every value is a bound
parameter, hence the S608 exemptions.
"""

from __future__ import annotations

import abc
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from radmfa.errors import StoreError
from radmfa.store.seeds import SeedCipher

Row = Sequence[Any]
Statement = tuple[str, Sequence[object]]

_KEY_CHECK = b"radmfa key check"


class SqlBase(abc.ABC):
    """The primitives a backend provides, and the key check every store runs."""

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
    async def _execute_each(self, steps: Sequence[tuple[str, Sequence[Sequence[object]]]]) -> None:
        """Like ``_execute_many`` for each (statement, rows) in turn, all in one
        transaction (none is opened for a single statement: it is atomic alone)."""

    @abc.abstractmethod
    async def _fetch_then(self, first: Statement, then: Callable[[Row], Sequence[Statement]]) -> Row | None:
        """In one transaction: run ``first``; if it returned a row, run the statements ``then(row)``."""

    @abc.abstractmethod
    async def _fetch_chain(self, steps: Sequence[Statement], then: Sequence[Statement]) -> int:
        """In one transaction: run each of ``steps`` in turn while each returns
        a row; when all did, run ``then`` too. How many of ``steps`` returned one."""

    @abc.abstractmethod
    async def _fetch_pair(
        self, first: Statement, second: Callable[[Row], Statement | None]
    ) -> tuple[Row | None, list[Row]]:
        """In one trip to the store: run ``first`` (atomic on its own); if it
        returned a row and ``second(row)`` gives a statement, a read, run that
        too and return its rows. No transaction spans the two: the read sees
        what ``first`` did, and a transaction would only add its BEGIN and
        COMMIT (two round trips on PostgreSQL) to every second leg of a login."""

    async def _read(self, sql: str, *args: object) -> list[Row]:
        """Run one read-only statement (a point read on the hot path) and
        return its rows. A backend may answer it without a trip to its store
        thread or pool; by default it is ``_fetch``."""
        return await self._fetch(sql, *args)

    def _write(self, sql: str, args: Sequence[object]) -> Awaitable[None]:
        """Run one statement (atomic on its own) for its effect alone: an
        awaitable, which a backend may make its trip's own future (no
        coroutine of the caller's in between); by default ``_execute``."""
        return self._written(sql, args)

    async def _written(self, sql: str, args: Sequence[object]) -> None:
        await self._execute(sql, *args)

    def _read_now(self, sql: str, args: Sequence[object]) -> list[Row] | None:
        """``_read`` answered at once, on the caller's thread, when the
        backend can (no coroutine made for it); None when it cannot (no
        such connection, or it met a lock): then ``_fetch`` answers."""
        return None

    @abc.abstractmethod
    async def migrate(self) -> None: ...

    @abc.abstractmethod
    async def close(self) -> None: ...

    # -- key check ---------------------------------------------------------------

    async def sealed_seeds(self) -> int | None:
        """None when no key_file was ever used with this database; otherwise how
        many token seeds (software and hardware) it holds sealed with that key."""
        used = await self._fetch("SELECT 1 FROM store_meta WHERE name = ?", "key_check")
        if not used:
            return None
        rows = await self._fetch("SELECT (SELECT COUNT(*) FROM tokens) + (SELECT COUNT(*) FROM hardware_tokens)")
        return int(rows[0][0])

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

