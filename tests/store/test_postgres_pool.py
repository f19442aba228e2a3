"""PostgresStore never waits forever: statements, free connections and close()."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from radmfa.errors import StoreError
from radmfa.store import open_store, postgres
from radmfa.store.postgres import PostgresStore
from radmfa.store.seeds import SeedCipher


class FakePool:
    """Records how the store uses its pool; close() can be made to hang."""

    def __init__(self, *, close_hangs: bool = False) -> None:
        self.close_hangs = close_hangs
        self.acquire_timeouts: list[float | None] = []
        self.terminated = False
        self.released = 0

    async def acquire(self, *, timeout: float | None = None) -> Any:
        self.acquire_timeouts.append(timeout)
        return self

    async def release(self, conn: Any) -> None:
        self.released += 1

    def is_closed(self) -> bool:
        return False

    async def fetch(self, sql: str, *args: object) -> list[Any]:
        return []

    async def execute(self, sql: str, *args: object) -> str:
        return "UPDATE 0"

    async def close(self) -> None:
        if self.close_hangs:
            await asyncio.Event().wait()  # a connection that is never released

    def terminate(self) -> None:
        self.terminated = True


def _store(pool: FakePool, tmp_path: Path) -> PostgresStore:
    cipher = SeedCipher.from_file(tmp_path / "k", create=True)
    return PostgresStore(pool, cipher, shown_url="postgresql://u@h/db")


async def test_pool_is_created_with_a_statement_timeout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: dict[str, Any] = {}

    async def create_pool(url: str, **options: Any) -> FakePool:
        seen.update(options)
        return FakePool()

    monkeypatch.setattr(asyncpg, "create_pool", create_pool)
    cipher = SeedCipher.from_file(tmp_path / "k", create=True)
    store = await PostgresStore.open("postgresql://u@h/db", cipher, shown_url="postgresql://u@h/db")
    await store.close()
    assert seen["command_timeout"] == 10
    assert seen["timeout"] == 10


async def test_every_statement_waits_a_bounded_time_for_a_connection(tmp_path: Path) -> None:
    pool = FakePool()
    store = _store(pool, tmp_path)
    await store.get_user("alice")
    await store.delete_token(1)
    await store.note_code_failure([1], now=datetime(2030, 1, 1, tzinfo=UTC))
    # The connection is kept between statements: leased once, with a time limit.
    assert pool.acquire_timeouts == [10]
    await store.close()
    assert pool.released == 1  # given back on close


async def test_close_drops_connections_that_are_never_released(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(postgres, "CLOSE_TIMEOUT", 0.05)
    pool = FakePool(close_hangs=True)
    store = _store(pool, tmp_path)
    await asyncio.wait_for(store.close(), 30)  # a graceful close would wait forever
    assert pool.terminated


async def test_close_is_graceful_when_it_can_be(tmp_path: Path) -> None:
    pool = FakePool()
    await _store(pool, tmp_path).close()
    assert not pool.terminated


# -- against a real server ------------------------------------------------------------


@pytest.mark.integration
async def test_a_hung_statement_is_a_store_error(
    fresh_postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(postgres, "COMMAND_TIMEOUT", 0.2)
    store = await open_store(fresh_postgres_url, key_file=Path("k"), base_dir=tmp_path)
    assert isinstance(store, PostgresStore)
    try:
        with pytest.raises(StoreError, match="no answer in time"):
            await store._fetch("SELECT pg_sleep(5)")  # noqa: SLF001
        assert await store.get_user("alice") is None  # the pool is still usable
    finally:
        await store.close()


@pytest.mark.integration
async def test_an_exhausted_pool_is_a_store_error(
    fresh_postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(postgres, "POOL_MAX", 1)
    monkeypatch.setattr(postgres, "ACQUIRE_TIMEOUT", 0.2)
    store = await open_store(fresh_postgres_url, key_file=Path("k"), base_dir=tmp_path)
    assert isinstance(store, PostgresStore)
    try:
        async with store._connection():  # noqa: SLF001  (the only connection, held)
            with pytest.raises(StoreError, match="no answer in time"):
                await store.get_user("alice")
        assert await store.get_user("alice") is None
    finally:
        await store.close()


@pytest.mark.integration
async def test_a_caller_waits_for_a_busy_connection_then_gets_it(
    fresh_postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(postgres, "POOL_MAX", 1)
    store = await open_store(fresh_postgres_url, key_file=Path("k"), base_dir=tmp_path)
    assert isinstance(store, PostgresStore)
    try:
        slow = asyncio.ensure_future(store._fetch("SELECT pg_sleep(0.3)"))  # noqa: SLF001
        await asyncio.sleep(0.05)
        assert await store.get_user("alice") is None  # waited for the one connection
        await slow
    finally:
        await store.close()


@pytest.mark.integration
async def test_waiting_for_a_busy_connection_is_bounded(
    fresh_postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(postgres, "POOL_MAX", 1)
    monkeypatch.setattr(postgres, "ACQUIRE_TIMEOUT", 0.2)
    store = await open_store(fresh_postgres_url, key_file=Path("k"), base_dir=tmp_path)
    assert isinstance(store, PostgresStore)
    try:
        slow = asyncio.ensure_future(store._fetch("SELECT pg_sleep(1)"))  # noqa: SLF001
        await asyncio.sleep(0.05)
        with pytest.raises(StoreError, match="no answer in time"):
            await store.get_user("alice")
        await slow
        assert await store.get_user("alice") is None
    finally:
        await store.close()


@pytest.mark.integration
async def test_a_cancelled_statement_leaves_a_usable_store(
    fresh_postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(postgres, "POOL_MAX", 1)
    store = await open_store(fresh_postgres_url, key_file=Path("k"), base_dir=tmp_path)
    assert isinstance(store, PostgresStore)
    try:
        slow = asyncio.ensure_future(store._fetch("SELECT pg_sleep(5)"))  # noqa: SLF001
        await asyncio.sleep(0.1)
        slow.cancel()
        with pytest.raises(asyncio.CancelledError):
            await slow
        assert await asyncio.wait_for(store.get_user("alice"), 5) is None
    finally:
        await store.close()


@pytest.mark.integration
async def test_connections_the_server_closed_while_idle_are_replaced(
    fresh_postgres_url: str, tmp_path: Path
) -> None:
    # As when PostgreSQL restarts between two logins: no statement fails.
    store = await open_store(fresh_postgres_url, key_file=Path("k"), base_dir=tmp_path)
    assert isinstance(store, PostgresStore)
    try:
        await asyncio.gather(*(store._fetch("SELECT pg_sleep(0.05)") for _ in range(3)))  # noqa: SLF001
        admin = await asyncpg.connect(fresh_postgres_url)
        try:
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        finally:
            await admin.close()
        for _ in range(50):  # until the store's side has seen every connection close
            if all(postgres._closed(conn) for conn in store._idle):  # noqa: SLF001
                break
            await asyncio.sleep(0.02)
        assert await store.get_user("alice") is None
    finally:
        await store.close()
