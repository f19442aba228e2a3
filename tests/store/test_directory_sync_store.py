"""The Store contract for directory sync: user sources and the once-per-period claim."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from radmfa.core.model import NewUser
from radmfa.core.ports import Store
from tests.store.conftest import Backend

NOW = datetime(2030, 1, 1, tzinfo=UTC)


async def test_sources(store: Store) -> None:
    await store.add_user(NewUser("Alice"))
    await store.add_user(NewUser("bob"))
    assert await store.user_sources() == {"Alice": None, "bob": None}
    assert await store.set_user_source("ALICE", "directory")
    assert not await store.set_user_source("nobody", "directory")
    assert await store.user_sources() == {"Alice": "directory", "bob": None}


async def test_one_claim_per_interval_across_stores(store: Store, backend: Backend) -> None:
    others = [await backend.open() for _ in range(3)]
    claims = await asyncio.gather(
        *(s.claim_sync_run("directory", now=NOW, interval_s=600) for s in [store, *others])
    )
    assert sorted(claims) == [False, False, False, True]
    assert not await store.claim_sync_run("directory", now=NOW + timedelta(seconds=599), interval_s=600)
    assert await others[0].claim_sync_run("directory", now=NOW + timedelta(seconds=600), interval_s=600)
    assert await store.claim_sync_run("other", now=NOW, interval_s=600)  # names are independent
