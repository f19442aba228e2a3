"""The Store contract for directory sync: user sources and the once-per-period claim."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from radmfa.core.admin_ports import Store
from radmfa.core.model import NewUser, UserState
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


async def test_the_last_sync_result_is_kept_per_name(store: Store, backend: Backend) -> None:
    assert await store.last_sync_result("directory") is None
    await store.record_sync_result("directory", at=NOW, actor="radmfa service", result="1 created")
    later = NOW + timedelta(minutes=5)
    await store.record_sync_result("directory", at=later, actor="ann", result="0 created")
    await store.record_sync_result("other", at=NOW, actor="x", result="y")
    other = await backend.open()
    assert await other.last_sync_result("directory") == (later, "ann", "0 created")


async def test_directory_changes_apply_together(store: Store) -> None:
    await store.add_user(NewUser("ann", mobile="+14155550101"))
    await store.add_user(NewUser("hand"))  # an admin's: a create of the same name is skipped
    await store.add_user(NewUser("lou", state=UserState.ENFORCED))
    await store.apply_directory_changes(
        [NewUser("new", mobile="+14155550102", language="de"), NewUser("HAND")],
        [("ANN", {"mobile": "+14155550103"}), ("new", {"first_name": "Nora"})],
        ["LOU"],
        source="directory",
        reason="left directory",
    )
    found = {u.name: u for u in await store.list_users()}
    assert set(found) == {"ann", "hand", "lou", "new"}
    lou = found["lou"]  # blocked for good, the state before kept for a return
    assert (lou.state, lou.blocked_reason, lou.blocked_until, lou.state_before_block) == (
        UserState.BLOCKED, "left directory", None, UserState.ENFORCED
    )
    assert (found["new"].mobile, found["new"].language, found["new"].first_name) == ("+14155550102", "de", "Nora")
    assert found["ann"].mobile == "+14155550103"
    assert await store.user_sources() == {"ann": None, "hand": None, "lou": None, "new": "directory"}


async def test_directory_changes_are_all_or_nothing(store: Store) -> None:
    # A failure half-way changes nothing.
    await store.add_user(NewUser("ann"))
    bad = [("ann", {"mobile": "+14155550103"}), ("ann", {"state": object()})]  # the second cannot be stored
    with pytest.raises(Exception):  # noqa: B017, PT011 - whichever error the backend raises for it
        await store.apply_directory_changes([NewUser("new")], bad, ["ann"], source="directory", reason="left")
    assert [(u.name, u.mobile, u.state) for u in await store.list_users()] == [("ann", None, UserState.ENABLED)]
