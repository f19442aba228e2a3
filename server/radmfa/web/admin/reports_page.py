"""The management portal's reports, for admins and auditors: the reports
of `radmfa report` (auth, usage, bypass, fraud, admin) with the same
filters, read on the page or exported as CSV. The rows come from the
command's own queries (cli/report.py report_rows) and the CSV from its own
writer, so an export equals `radmfa report KIND --format csv` with the
same filters.
"""

from __future__ import annotations

import io
from datetime import datetime
from typing import TYPE_CHECKING, Any

import structlog
from aiohttp import web

from radmfa.cli import report as report_ops
from radmfa.cli.output import write_csv
from radmfa.core import policy
from radmfa.core.model import AUDIT_METHODS, FRAUD_SOURCES, FRAUD_STATUSES
from radmfa.errors import RadmfaError
from radmfa.reports import rows as reports
from radmfa.web import security

if TYPE_CHECKING:
    from radmfa.web.admin.pages import Pages

log = structlog.get_logger("radmfa.admin_portal")
SHOWN = 500  # rows on the page; the CSV has them all
# Each report's filters, as `radmfa report KIND` takes them.
FILTERS: dict[str, tuple[str, ...]] = {
    "auth": ("since", "until", "user", "phone", "result", "client", "method", "limit"),
    "usage": ("since", "until", "by", "client", "method", "top"),
    "bypass": ("since", "until", "user", "status"),
    "fraud": ("since", "until", "user", "phone", "status", "source"),
    "admin": ("since", "until", "limit"),
}
CHOICES: dict[str, dict[str, tuple[str, ...]]] = {
    "auth": {"result": reports.RESULTS, "method": AUDIT_METHODS},
    "usage": {"by": tuple(reports.USAGE_COLUMNS), "method": AUDIT_METHODS},
    "bypass": {"status": reports.BYPASS_STATUSES},
    "fraud": {"status": FRAUD_STATUSES, "source": FRAUD_SOURCES},
    "admin": {},
}


class FilterError(RadmfaError):
    """A filter the report cannot take; the message names it."""


def read_query(kind: str, given: dict[str, str], *, now: datetime) -> report_ops.ReportQuery:
    """The form's filters for ``kind`` as a query, each checked as the command checks its option."""
    values: dict[str, Any] = {}
    for name in FILTERS[kind]:
        text = given.get(name, "").strip()
        if not text:
            continue
        if name in ("since", "until"):
            try:
                values[name] = reports.parse_when(text, now=now)
            except ValueError as e:
                raise FilterError(f"{name}: {e}") from None
        elif name in ("limit", "top"):
            if not text.isdigit() or int(text) < 1:
                raise FilterError(f"{name}: must be a whole number of at least 1, got {text!r}")
            values[name] = int(text)
        elif name == "phone":
            try:
                values[name] = policy.e164(text)
            except ValueError as e:
                raise FilterError(f"phone: {e}") from None
        elif name in CHOICES[kind]:
            if text not in CHOICES[kind][name]:
                raise FilterError(f"{name}: one of {', '.join(CHOICES[kind][name])}, got {text!r}")
            values[name] = text
        else:
            values[name] = text[:200]
    query = report_ops.ReportQuery(**values)
    if query.since and query.until and query.since >= query.until:
        raise FilterError("since must be before until")
    return query


class ReportPages:
    def __init__(self, pages: Pages) -> None:
        self.pages, self.store, self.web = pages, pages.store, pages.web

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/reports", self.report)
        app.router.add_get("/reports/{kind}.csv", self.export)

    async def report(self, request: web.Request) -> web.Response:
        await self.pages.me(request, "reports")
        kind = request.query.get("kind", "auth")
        if kind not in FILTERS:
            raise web.HTTPNotFound()
        given = {k: v for k, v in request.query.items() if k in FILTERS[kind]}
        columns: tuple[str, ...] = ()
        rows: list[Any] = []
        error = ""
        if "run" in request.query:
            try:
                query = read_query(kind, given, now=request["visit"].now)
                columns, rows = await report_ops.report_rows(self.store, kind, query, now=request["visit"].now)
            except RadmfaError as e:
                error = str(e)
        export = "&".join(f"{k}={_quote(v)}" for k, v in given.items() if v)
        return self.web.page(
            request, "reports.html", kind=kind, kinds=report_ops.REPORTS, filters=FILTERS[kind],
            choices=CHOICES[kind], given=given, columns=columns, rows=rows[-SHOWN:], total=len(rows),
            shown=SHOWN, ran="run" in request.query and not error, export=export,
            flash=error, flash_error=bool(error),
        )

    async def export(self, request: web.Request) -> web.StreamResponse:
        """The CSV, streamed: the audit and admin logs a page of rows per
        store statement, each page written out before the next is read, so
        a year of audit rows never sits in memory. The first page is read
        before anything is sent: a bad filter or a store that cannot answer
        still gets its own status. A failure after that closes the
        connection, so the browser reports the download as failed rather
        than keeping a CSV that silently ends early."""
        await self.pages.me(request, "reports")
        kind = request.match_info["kind"]
        if kind not in FILTERS:
            raise web.HTTPNotFound()
        now: datetime = request["visit"].now
        try:
            query = read_query(kind, dict(request.query), now=now)
            columns, pages = await report_ops.report_pages(self.store, kind, query, now=now)
            first: list[Any] = await anext(pages, [])
        except RadmfaError as e:
            return web.Response(status=400, text=f"{e}\n")
        name = f"radmfa-{kind}-{now:%Y%m%d-%H%M%S}.csv"
        response = web.StreamResponse(headers={"Content-Disposition": f'attachment; filename="{name}"'})
        response.content_type, response.charset = "text/csv", "utf-8"
        security.set_headers(response, secure=self.web.secure)  # before the headers go out
        await response.prepare(request)
        try:
            await response.write(_csv(columns, first, header=True))
            async for rows in pages:
                await response.write(_csv(columns, rows, header=False))
        except ConnectionError:
            return response  # the browser went away (aiohttp notes it): nobody to tell
        except Exception as e:
            log.error("report export failed part way", kind=kind, error=type(e).__name__, detail=str(e)[:200])
            if request.transport is not None:
                request.transport.close()
            return response
        finally:
            await pages.aclose()
        await response.write_eof()
        return response


def _csv(columns: tuple[str, ...], rows: list[Any], *, header: bool) -> bytes:
    out = io.StringIO(newline="")
    write_csv(columns, rows, out, header=header)
    return out.getvalue().encode("utf-8")


def _quote(text: str) -> str:
    from urllib.parse import quote

    return quote(text, safe="")
