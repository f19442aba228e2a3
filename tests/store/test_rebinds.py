"""Contract: the LDAP front end's completed binds (both backends)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from radmfa.core.admin_ports import Store
from tests.store.conftest import Backend

NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
WINDOW = timedelta(seconds=10)


async def test_a_bind_is_found_within_its_window_only(store: Store) -> None:
    await store.remember_rebind("alice", "app1", b"\x01" * 32, now=NOW)
    assert await store.recent_rebind("alice", "app1", since=NOW - WINDOW, now=NOW) == b"\x01" * 32
    later = NOW + timedelta(seconds=9)
    assert await store.recent_rebind("alice", "app1", since=later - WINDOW, now=later) == b"\x01" * 32
    over = NOW + WINDOW
    assert await store.recent_rebind("alice", "app1", since=over - WINDOW, now=over) is None
    # a time from the future (the clock stepped back) is no hit
    before = NOW - timedelta(seconds=1)
    assert await store.recent_rebind("alice", "app1", since=before - WINDOW, now=before) is None


async def test_one_row_per_user_and_client(store: Store) -> None:
    await store.remember_rebind("alice", "app1", b"\x01" * 32, now=NOW)
    await store.remember_rebind("alice", "app1", b"\x02" * 32, now=NOW + timedelta(seconds=1))
    await store.remember_rebind("alice", "app2", b"\x03" * 32, now=NOW)
    await store.remember_rebind("bob", "app1", b"\x04" * 32, now=NOW)
    at = NOW + timedelta(seconds=2)
    assert await store.recent_rebind("alice", "app1", since=at - WINDOW, now=at) == b"\x02" * 32
    assert await store.recent_rebind("alice", "app2", since=at - WINDOW, now=at) == b"\x03" * 32
    await store.forget_rebind("alice", "app1")
    assert await store.recent_rebind("alice", "app1", since=at - WINDOW, now=at) is None
    assert await store.recent_rebind("bob", "app1", since=at - WINDOW, now=at) == b"\x04" * 32


async def test_purge_drops_old_rows_and_is_seen_by_another_process(store: Store, backend: Backend) -> None:
    await store.remember_rebind("alice", "app1", b"\x01" * 32, now=NOW)
    await store.remember_rebind("bob", "app1", b"\x02" * 32, now=NOW + timedelta(seconds=30))
    other = await backend.open()  # another worker on the same database
    at = NOW + timedelta(seconds=31)
    assert await other.recent_rebind("bob", "app1", since=at - WINDOW, now=at) == b"\x02" * 32
    assert await store.purge_rebinds(before=NOW + timedelta(seconds=10)) == 1
    assert await backend.raw("SELECT name_key FROM ldap_rebinds") == [("bob",)]
