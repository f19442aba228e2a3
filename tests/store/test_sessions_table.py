"""The sessions table as migration sessions_by_state leaves it: kept by its
State alone (SQLite: WITHOUT ROWID), no index on the expiry, and the
sessions open when it ran carried over."""

from __future__ import annotations

from datetime import timedelta

from radmfa.core.admin_ports import Store
from radmfa.store import schema
from tests.store.conftest import Backend
from tests.store.test_contract import NOW, session


async def _indexes(backend: Backend) -> list[str]:
    if backend.name == "sqlite":
        rows = await backend.raw("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'sessions'")
    else:
        rows = await backend.raw("SELECT indexname FROM pg_indexes WHERE tablename = 'sessions'")
    return sorted(str(name) for (name,) in rows)


async def test_the_table_is_kept_by_state_alone(backend: Backend, store: Store) -> None:
    indexes = await _indexes(backend)
    assert "sessions_expires_at" not in indexes
    if backend.name == "sqlite":
        # the primary key is the table: no automatic index beside it
        assert indexes == []
        [(sql,)] = await backend.raw("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'sessions'")
        assert "WITHOUT ROWID" in sql
    else:
        assert len(indexes) == 1  # the primary key's


async def test_the_migration_carries_open_sessions_over(backend: Backend, store: Store) -> None:
    kept = session(b"K" * 16, attempts=1, reply_attrs=((25, b"class"), (18, b"hello")))
    await store.put_session(kept)
    await store.put_session(session(b"E" * 16, expires_at=NOW - timedelta(seconds=1)))
    dialect = schema.SQLITE if backend.name == "sqlite" else schema.POSTGRES
    [migration] = [m for m in schema.migrations(dialect) if m.name == "sessions_by_state"]
    for step in migration.statements:  # again, over the table as it is: the same rebuild
        assert isinstance(step, str)
        await backend.raw(step)
    other = await backend.open()  # not the instance that stored it: the ciphertext is opened
    got = await other.take_session(kept.state, now=NOW)
    assert got is not None
    assert (got.client, got.username, got.attempts, got.expires_at, got.reply_attrs) == (
        kept.client, kept.username, 1, kept.expires_at, kept.reply_attrs,
    )
    assert await other.take_session(kept.state, now=NOW) is None  # still single use
    assert await other.count_pending(now=NOW) == (0, 0)
    assert await other.purge_expired(now=NOW) == 1
