"""PostgresStore commits a challenge session without waiting for the WAL
flush, and nothing else: the setting is the session write's own."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from radmfa.core.model import Session
from radmfa.errors import StoreError
from radmfa.store import postgres
from radmfa.store.postgres import PostgresStore
from radmfa.store.seeds import SeedCipher

from .conftest import Backend

NOW = datetime(2030, 1, 1, tzinfo=UTC)
LAZY = "set_config('synchronous_commit', 'off', true)"


class RecordingPool:
    """A pool whose one connection records the statements sent to it."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    async def acquire(self, *, timeout: float | None = None) -> Any:
        return self

    async def release(self, conn: Any) -> None:
        pass

    def is_closed(self) -> bool:
        return False

    async def fetch(self, sql: str, *args: object) -> list[Any]:
        self.sent.append(sql)
        return []

    async def execute(self, sql: str, *args: object) -> str:
        self.sent.append(sql)
        return "INSERT 0 1"

    async def executemany(self, sql: str, rows: object) -> None:
        self.sent.append(sql)

    async def close(self) -> None:
        pass


def _session(state: bytes = b"s" * 16) -> Session:
    return Session(state, "vpn", b"alice", "totp", 0, NOW + timedelta(minutes=2))


async def test_only_the_session_write_skips_the_flush(tmp_path: Path) -> None:
    pool = RecordingPool()
    store = PostgresStore(pool, SeedCipher.from_file(tmp_path / "k", create=True), shown_url="postgresql://u@h/db")
    await store.put_session(_session())
    (written,) = pool.sent
    assert written.startswith("INSERT INTO sessions (") and written.endswith(" RETURNING " + LAZY)
    assert " ON CONFLICT" not in written  # a new State's row is not there: a plain INSERT
    pool.sent.clear()
    await store.take_session(b"s" * 16, now=NOW)
    await store.consume_otp_step(1, 5)
    await store.note_code_failure([1], now=NOW)
    assert pool.sent and not any(LAZY in sql for sql in pool.sent)
    await store.close()


def test_the_rewrite_keeps_every_other_statement() -> None:
    assert postgres._alone("UPDATE sessions SET attempts = ? WHERE state = ?") == (
        "UPDATE sessions SET attempts = $1 WHERE state = $2"
    )


async def test_never_within_a_transaction_of_several_statements(tmp_path: Path) -> None:
    # The setting would hold for the whole transaction, its other writes too.
    pool = RecordingPool()
    store = PostgresStore(pool, SeedCipher.from_file(tmp_path / "k", create=True), shown_url="postgresql://u@h/db")
    put = "INSERT INTO sessions (state) VALUES (?)"
    await store._execute_each([(put, [(b"a",), (b"b",)])])  # one statement, many rows: one transaction
    await store._execute_many(put, [(b"c",)])
    assert pool.sent == ["INSERT INTO sessions (state) VALUES ($1)"] * 2
    await store._execute(put, b"d")
    assert pool.sent[-1].endswith(" RETURNING " + LAZY)
    await store.close()


@pytest.mark.integration
async def test_the_setting_ends_with_the_session_write(
    fresh_postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = Backend("postgres", fresh_postgres_url, tmp_path, tmp_path / "seed.key")
    store = await backend.open()
    try:
        assert isinstance(store, PostgresStore)
        during: list[tuple[Any, ...]] = []

        async def execute(sql: str, *args: object) -> int:  # the write as _execute sends it, its RETURNING kept
            async with store._connection() as conn:
                during.extend(tuple(row) for row in await conn.fetch(postgres._alone(sql), *args))
            return len(during)

        monkeypatch.setattr(store, "_execute", execute)
        await store.put_session(_session())
        assert during == [("off",)]  # the write's own transaction commits without the flush
        # The same leased connection answers the next statement: durable again.
        rows = await store._fetch("SELECT current_setting('synchronous_commit')")
        assert [tuple(row) for row in rows] == [("on",)]
        other = await backend.open()  # another node sees the session at once
        taken = await other.take_session(b"s" * 16, now=NOW)
        assert taken is not None and taken.username == b"alice"
    finally:
        for opened in backend.opened:
            await opened.close()


class TakenPool(RecordingPool):
    """A pool whose connection finds the first session's row already there."""

    async def execute(self, sql: str, *args: object) -> str:
        self.sent.append(sql)
        if " ON CONFLICT" not in sql and sql.startswith("INSERT INTO sessions ("):
            raise asyncpg.UniqueViolationError("duplicate key value violates unique constraint")
        return "INSERT 0 1"


async def test_a_session_already_there_is_overwritten_on_the_same_connection(tmp_path: Path) -> None:
    pool = TakenPool()
    store = PostgresStore(pool, SeedCipher.from_file(tmp_path / "k", create=True), shown_url="postgresql://u@h/db")
    await store.put_session(_session())
    plain, upsert = pool.sent
    assert " ON CONFLICT" not in plain and " ON CONFLICT (state) DO UPDATE" in upsert
    assert plain.endswith(" RETURNING " + LAZY) and upsert.endswith(" RETURNING " + LAZY)
    assert store._idle == [pool] and store._leased == 1  # kept, not discarded
    pool.sent.clear()
    with pytest.raises(StoreError):  # any other statement's unique violation is the caller's
        await store._execute("INSERT INTO sessions (state) VALUES (?)", b"x")
    (sent,) = pool.sent  # not sent again as the upsert
    assert sent.startswith("INSERT INTO sessions (state) VALUES ($1) RETURNING ")
    await store.close()


@pytest.mark.integration
async def test_put_session_overwrites_after_the_plain_insert_fails(fresh_postgres_url: str, tmp_path: Path) -> None:
    backend = Backend("postgres", fresh_postgres_url, tmp_path, tmp_path / "seed.key")
    store = await backend.open()
    try:
        await store.put_session(_session())
        await store.put_session(Session(b"s" * 16, "vpn", b"bob", "totp", 1, NOW + timedelta(minutes=2)))
        rows = await backend.raw("SELECT username, attempts FROM sessions")
        assert [(bytes(name), attempts) for name, attempts in rows] == [(b"bob", 1)]
        assert isinstance(store, PostgresStore) and store._leased == 1  # the connection kept
    finally:
        for opened in backend.opened:
            await opened.close()
