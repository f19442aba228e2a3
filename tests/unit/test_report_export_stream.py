"""The management portal's CSV export streams the audit log a page at a
time, over a real HTTP connection (aiohttp's test server and client): the
header and rows arrive as they are read, and a store that fails part way
breaks the download instead of ending the file early and quietly."""

from __future__ import annotations

import warnings
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from aiohttp.web_exceptions import NotAppKeyWarning

from radmfa.core.model import AuditRecord
from radmfa.web.admin.reports_page import ReportPages

NOW = datetime(2026, 12, 3, tzinfo=UTC)


def record(n: int) -> AuditRecord:
    return AuditRecord(NOW - timedelta(hours=1, seconds=-n), f"r{n}", "vpn", "192.0.2.1", "alice", "", "totp",
                       "accept", "", 1.0)


class PagedStore:
    """The audit log in pages of two; with ``fail_after``, the store breaks after that many pages."""

    def __init__(self, rows: int, fail_after: int | None = None) -> None:
        self.rows, self.fail_after = [record(n) for n in range(rows)], fail_after
        self.pages_read = 0

    async def audit_pages(self, **_: Any) -> AsyncIterator[list[AuditRecord]]:
        for i in range(0, len(self.rows), 2):
            if self.fail_after is not None and self.pages_read == self.fail_after:
                raise OSError("the database went away")
            self.pages_read += 1
            yield self.rows[i : i + 2]


async def client_for(store: PagedStore) -> TestClient:  # type: ignore[type-arg]
    async def me(_request: web.Request, _right: str) -> None:
        return None

    pages = SimpleNamespace(store=store, web=SimpleNamespace(secure=False), me=me)

    @web.middleware
    async def visit(request: web.Request, handler: Any) -> web.StreamResponse:
        with warnings.catch_warnings():  # the portal's own key, as web/app.py sets it
            warnings.simplefilter("ignore", NotAppKeyWarning)
            request["visit"] = SimpleNamespace(now=NOW)
        response: web.StreamResponse = await handler(request)
        return response

    app = web.Application(middlewares=[visit])
    ReportPages(pages).routes(app)  # type: ignore[arg-type]
    client = TestClient(TestServer(app))
    await client.start_server()
    return client


async def test_every_page_is_sent_in_order() -> None:
    store = PagedStore(7)
    client = await client_for(store)
    try:
        response = await client.get("/reports/auth.csv")
        assert response.status == 200 and response.headers.get("Transfer-Encoding") == "chunked"
        assert response.headers["Cache-Control"] == "no-store" and "Content-Security-Policy" in response.headers
        lines = (await response.text()).splitlines()
        assert lines[0].startswith("time,request_id,") and [x.split(",")[1] for x in lines[1:]] == [
            f"r{n}" for n in range(7)
        ]
        assert store.pages_read == 4
    finally:
        await client.close()


async def test_a_store_failing_part_way_breaks_the_download() -> None:
    client = await client_for(PagedStore(7, fail_after=2))
    try:
        response = await client.get("/reports/auth.csv")
        assert response.status == 200  # the first page went out before the failure
        with pytest.raises(aiohttp.ClientPayloadError):
            await response.read()
    finally:
        await client.close()


async def test_a_failure_before_the_first_row_is_still_an_error_status() -> None:
    client = await client_for(PagedStore(7, fail_after=0))
    try:
        response = await client.get("/reports/auth.csv")
        assert response.status == 500  # (the portal's middleware makes it its error page)
    finally:
        await client.close()
