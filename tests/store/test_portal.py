"""Contract: portal sessions and enrollment links (both backends)."""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from radmfa.core.admin_model import WebSession
from radmfa.core.admin_ports import Store
from radmfa.core.model import NewUser
from radmfa.errors import NotFound
from tests.store.conftest import Backend

NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


def session(id_hash: bytes = b"\x01" * 32, **changes: object) -> WebSession:
    base = WebSession(
        id_hash=id_hash, portal="user", csrf="csrf-token", created_at=NOW, seen_at=NOW,
        expires_at=NOW + timedelta(hours=8), username="Alice", stage="signed-in",
        verified_at=NOW, data={"w.seed": "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"},
    )
    return replace(base, **changes)  # type: ignore[arg-type]


async def test_session_round_trip_and_sealed_at_rest(store: Store, backend: Backend) -> None:
    await store.put_web_session(session())
    found = await store.get_web_session(b"\x01" * 32, portal="user", now=NOW)
    assert found == session()
    rows = await backend.raw("SELECT body_enc FROM web_sessions")
    assert b"JBSWY3DP" not in bytes(rows[0][0]) and b"csrf-token" not in bytes(rows[0][0])
    assert await store.get_web_session(b"\x01" * 32, portal="admin", now=NOW) is None


async def test_session_ends_at_its_absolute_end_and_by_purge(store: Store) -> None:
    await store.put_web_session(session())
    assert await store.get_web_session(b"\x01" * 32, portal="user", now=NOW + timedelta(hours=8)) is None
    await store.put_web_session(session(b"\x02" * 32, seen_at=NOW - timedelta(minutes=30)))
    await store.touch_web_session(b"\x01" * 32, seen_at=NOW + timedelta(minutes=1))
    assert await store.purge_web_sessions(idle_before=NOW - timedelta(minutes=15), now=NOW) == 1
    found = await store.get_web_session(b"\x01" * 32, portal="user", now=NOW)
    assert found is not None and found.seen_at == NOW + timedelta(minutes=1)


async def test_a_users_sessions_end_together(store: Store) -> None:
    await store.put_web_session(session(b"\x01" * 32))
    await store.put_web_session(session(b"\x02" * 32, username="ALICE"))
    await store.put_web_session(session(b"\x03" * 32, username="bob"))
    assert await store.delete_web_sessions_of("alice", portal="user") == 2
    assert await store.get_web_session(b"\x03" * 32, portal="user", now=NOW) is not None


async def test_enrollment_link_is_used_once_by_its_user(store: Store, backend: Backend) -> None:
    await store.add_user(NewUser("alice"))
    await store.add_user(NewUser("bob"))
    token_hash = hashlib.sha256(b"the-token").digest()
    link = await store.create_enrollment_link("Alice", token_hash=token_hash, created_by="root", now=NOW,
                                              expires_at=NOW + timedelta(hours=1))
    assert link.username == "alice" and link.used_at is None
    assert await store.peek_enrollment_link(token_hash, now=NOW) == link
    assert await store.consume_enrollment_link(token_hash, username="bob", now=NOW) is None  # not bob's
    used = await asyncio.gather(*(
        store.consume_enrollment_link(token_hash, username="ALICE", now=NOW) for _ in range(10)
    ))
    assert sum(u is not None for u in used) == 1
    assert await store.peek_enrollment_link(token_hash, now=NOW) is None
    rows = await backend.raw("SELECT token_hash FROM enrollment_links")
    assert bytes(rows[0][0]) == token_hash  # only the hash is kept


async def test_enrollment_link_expires(store: Store) -> None:
    await store.add_user(NewUser("alice"))
    await store.create_enrollment_link("alice", token_hash=b"h", created_by="root", now=NOW,
                                       expires_at=NOW + timedelta(hours=1))
    later = NOW + timedelta(hours=1)
    assert await store.peek_enrollment_link(b"h", now=later) is None
    assert await store.consume_enrollment_link(b"h", username="alice", now=later) is None
    with pytest.raises(NotFound):
        await store.create_enrollment_link("nobody", token_hash=b"x", created_by="root", now=NOW,
                                           expires_at=NOW + timedelta(hours=1))
