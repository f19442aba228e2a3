"""Contract: the audit and admin logs read in pages (what the management
portal's CSV export streams) give exactly the rows of one query, in the
same order, on both backends — rows sharing a time across a page boundary,
filters, ``limit`` (the newest N) and rows written while the pages are read."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

from radmfa.core.admin_model import AdminEvent
from radmfa.core.admin_ports import Store
from tests.store.test_reports import DAY0, SEED, row

# Several rows to a second, so pages end between rows of the same time.
TIED = [row(100 + n, 60 + n // 3, "alice" if n % 2 else "bob", "accept" if n % 4 else "reject") for n in range(12)]


async def flat(pages: AsyncIterator[list[Any]], size: int) -> list[Any]:
    out: list[Any] = []
    async for page in pages:
        assert 0 < len(page) <= size
        out.extend(page)
    return out


async def test_audit_pages_equal_one_query(store: Store) -> None:
    await store.write_audit(SEED + TIED)
    queries: list[dict[str, Any]] = [
        {}, {"username": "alice"}, {"result": "reject"}, {"since": DAY0 + timedelta(hours=26)},
        {"until": DAY0 + timedelta(hours=62)}, {"phone": ("+14155550100", "•••0100")},
    ]
    checked = 0
    for given, limit, size in itertools.product(queries, (None, 1, 3, 5, 100), (1, 2, 3, 7, 1000)):
        kw = {**given, "limit": limit}
        whole = await store.query_audit(**kw)
        assert await flat(store.audit_pages(**kw, page=size), size) == whole, (kw, size)
        checked += len(whole)
    assert checked > 500


async def test_audit_pages_leave_out_rows_written_after_they_start(store: Store) -> None:
    await store.write_audit(TIED)
    pages = store.audit_pages(page=4)
    first = await anext(pages)
    later = [row(200, 80, "alice", "accept"), row(201, 61, "bob", "accept")]  # newer, and one inside the range
    await store.write_audit(later)
    rest = [r async for page in pages for r in page]
    got = [r.request_id for r in first + rest]
    assert got == [r.request_id for r in TIED]
    assert [r.request_id for r in await flat(store.audit_pages(page=4), 4)][-1] == "r200"


async def test_no_rows_no_pages(store: Store) -> None:
    assert await flat(store.audit_pages(), 1) == []
    await store.write_audit(SEED)
    assert await flat(store.audit_pages(username="nobody"), 1) == []
    assert await flat(store.admin_event_pages(), 1) == []


async def test_admin_event_pages_equal_one_query(store: Store) -> None:
    for n in range(10):  # two to a minute
        await store.write_admin_event(AdminEvent(DAY0 + timedelta(minutes=n // 2), "root", f"a{n}", "alice", "x"))
    for since, limit, size in itertools.product((None, DAY0 + timedelta(minutes=2)), (None, 1, 4, 50), (1, 3, 50)):
        whole = await store.query_admin_events(since=since, limit=limit)
        assert await flat(store.admin_event_pages(since=since, limit=limit, page=size), size) == whole
