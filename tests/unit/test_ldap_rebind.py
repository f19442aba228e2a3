"""Repeated binds: a keyed hash of client, DN and password, kept in the store
per user and client, found only for the very same bind within the window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from radmfa.front.ldap.rebind import Rebinds, mac
from radmfa.store import open_store

NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
DN = "uid=alice,ou=people,dc=example,dc=org"


def test_the_hash_covers_every_part_without_ambiguity():
    key = b"k" * 32
    one = mac(key, client="app", dn=DN, password=b"pw")
    assert len(one) == 32 and b"pw" not in one
    assert one == mac(key, client="app", dn=DN, password=b"pw")
    others = {
        mac(key, client="app2", dn=DN, password=b"pw"),
        mac(key, client="app", dn=DN + "x", password=b"pw"),
        mac(key, client="app", dn=DN, password=b"pw2"),
        mac(b"j" * 32, client="app", dn=DN, password=b"pw"),
        # the same bytes split differently between the parts
        mac(key, client="app" + DN[:3], dn=DN[3:], password=b"pw"),
    }
    assert one not in others and len(others) == 5


async def test_only_the_same_bind_within_the_window_is_reused(tmp_path):
    store = await open_store("sqlite:///radmfa.db", key_file=tmp_path / "k", base_dir=tmp_path)
    try:
        rebinds = Rebinds(store, 10)
        await rebinds.remember("alice", "app", DN, b"pw", now=NOW)
        soon = NOW + timedelta(seconds=9)
        assert await rebinds.completed("alice", "app", DN, b"pw", now=soon)
        assert not await rebinds.completed("alice", "app", DN, b"other", now=soon)
        assert not await rebinds.completed("alice", "app2", DN, b"pw", now=soon)
        assert not await rebinds.completed("alice", "app", DN, b"pw", now=NOW + timedelta(seconds=10))
        # another process with the same store computes the same hash
        assert await Rebinds(store, 10).completed("alice", "app", DN, b"pw", now=soon)
        raw = await store.recent_rebind("alice", "app", since=NOW - timedelta(seconds=1), now=soon)
        assert raw is not None and b"pw" not in raw  # a keyed hash, never the password
        await rebinds.forget("alice", "app")
        assert not await rebinds.completed("alice", "app", DN, b"pw", now=soon)
        off = Rebinds(store, 0)
        await off.remember("alice", "app", DN, b"pw", now=NOW)
        assert not await off.completed("alice", "app", DN, b"pw", now=NOW)
    finally:
        await store.close()
