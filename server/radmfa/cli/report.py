"""`radmfa report auth|usage|fraud|bypass|admin`: the audit log, counted and listed,
as a table, CSV or JSON (and a chart for usage)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, TypeVar

from radmfa.cli.output import Row, add_format_option, terminal_width, write_rows
from radmfa.cli.parsing import CommandError, UsageError, e164_number
from radmfa.cli.runner import run_with_store
from radmfa.config import Config
from radmfa.core import methods
from radmfa.core.admin_model import AdminEvent, AuditFilter
from radmfa.core.admin_ports import AdminStore
from radmfa.core.model import AUDIT_METHODS, FRAUD_SOURCES, FRAUD_STATUSES, AuditRecord, Bypass, FraudReport
from radmfa.reports import chart
from radmfa.reports import rows as reports

_TIMES = "Times without a zone are UTC. Ages count back from now: 30m, 24h, 7d, 2w."


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    group = sub.add_parser("report", help="reports over the audit log")
    cmds = group.add_subparsers(title="reports", metavar="REPORT", required=True)
    when = _when_parser(datetime.now(UTC))  # the clock is read here, in the shell

    p = cmds.add_parser("auth", help="one row per answered Access-Request, oldest first", description=_TIMES)
    add_range(p, when)
    p.add_argument("--user", metavar="NAME", help="only this user (the name as the request gave it)")
    p.add_argument(
        "--phone", type=e164_number, metavar="E164", help="only verifications that called or texted this number"
    )
    p.add_argument("--result", choices=reports.RESULTS, help=f"only this result: {', '.join(reports.RESULTS)}")
    p.add_argument("--client", metavar="NAME", help="only this client (its clients.conf name)")
    add_method_option(p)
    p.add_argument("--limit", type=_positive, metavar="N", help="the newest N rows (still printed oldest first)")
    p.add_argument(
        "--wide", action="store_true",
        help="the table with every column, uncut (by default it fits the terminal: time, user, client, "
        "factor, result, reason); CSV and JSON always have every column",
    )
    add_format_option(p)
    p.set_defaults(func=cmd_auth)

    p = cmds.add_parser(
        "usage",
        help="counts: per day by method and result, per client, or the users failing most",
        description=_TIMES + " Counts per day and per client cover whole UTC days: --since and --until are "
        "widened to the days they fall in (--by user counts exactly).",
    )
    add_range(p, when)
    p.add_argument(
        "--by", choices=tuple(reports.USAGE_COLUMNS), default="day",
        help="day: per day and method; client: per client; user: users with the most rejects (default: day)",
    )
    p.add_argument("--client", metavar="NAME", help="only this client")
    add_method_option(p)
    p.add_argument("--top", type=_positive, default=10, metavar="N", help="with --by user: this many (default 10)")
    p.add_argument(
        "--chart", type=Path, metavar="FILE.svg",
        help="also draw the sign-in decisions per day (accept, reject, drop) as SVG, every day of the range",
    )
    add_format_option(p)
    p.set_defaults(func=cmd_usage)

    p = cmds.add_parser("fraud", help="fraud reports, oldest first (like `radmfa fraud list`)", description=_TIMES)
    add_fraud_filters(p, when)
    p.set_defaults(func=cmd_fraud)

    p = cmds.add_parser(
        "bypass", help="one-time bypasses: created, used, expired or cancelled, by whom and why", description=_TIMES
    )
    add_range(p, when)
    p.add_argument("--user", metavar="NAME", help="only this user's bypasses")
    p.add_argument("--status", choices=reports.BYPASS_STATUSES, help="only bypasses in this state now")
    add_format_option(p)
    p.set_defaults(func=cmd_bypass)

    p = cmds.add_parser(
        "admin", help="who changed what: one row per change made with radmfa's commands, oldest first",
        description=_TIMES,
    )
    add_range(p, when)
    p.add_argument("--limit", type=_positive, metavar="N", help="the newest N rows (still printed oldest first)")
    add_format_option(p)
    p.set_defaults(func=cmd_admin)


def add_method_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--method", choices=AUDIT_METHODS, metavar="METHOD", help=f"only this method: {', '.join(AUDIT_METHODS)}"
    )


def add_range(p: argparse.ArgumentParser, when: Callable[[str], datetime]) -> None:
    p.add_argument("--since", type=when, metavar="WHEN", help="from this time (inclusive)")
    p.add_argument("--until", type=when, metavar="WHEN", help="up to this time (exclusive)")


def add_fraud_filters(p: argparse.ArgumentParser, when: Callable[[str], datetime]) -> None:
    add_range(p, when)
    p.add_argument("--user", metavar="NAME", help="only this user (any spelling: DOMAIN\\, @realm, case)")
    p.add_argument("--phone", type=e164_number, metavar="E164", help="only reports about this number")
    p.add_argument("--status", choices=FRAUD_STATUSES, help="only reports with this status")
    p.add_argument("--source", choices=FRAUD_SOURCES, help="only reports from this source")
    add_format_option(p)


def _when_parser(now: datetime) -> Callable[[str], datetime]:
    def when(text: str) -> datetime:
        try:
            return reports.parse_when(text, now=now)
        except ValueError as e:
            raise argparse.ArgumentTypeError(str(e)) from None

    return when


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, got {text!r}")
    return int(text)


def _show(columns: tuple[str, ...], rows: list[Row], fmt: str, empty: str) -> None:
    if not rows and fmt == "table":
        print(empty)
        return
    write_rows(columns, rows, fmt, sys.stdout)


@dataclass(frozen=True, slots=True)
class ReportQuery:
    """One report's filters, as the command's options or the portal's form give them."""

    since: datetime | None = None
    until: datetime | None = None
    user: str | None = None
    phone: str | None = None
    result: str | None = None
    client: str | None = None
    method: str | None = None
    status: str | None = None
    source: str | None = None
    limit: int | None = None
    by: str = "day"
    top: int = 10

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> ReportQuery:
        return cls(**{f.name: getattr(args, f.name) for f in fields(cls) if hasattr(args, f.name)})

    def check(self) -> None:
        if self.since and self.until and self.since >= self.until:
            raise UsageError("--since must be before --until")


async def auth_records(store: AdminStore, q: ReportQuery) -> list[AuditRecord]:
    return await store.query_audit(**_audit_filters(q))


def _audit_filters(q: ReportQuery) -> dict[str, Any]:
    return {
        "since": q.since,
        "until": q.until,
        "username": q.user,
        "limit": q.limit,
        # Rows are recorded in full or masked ([audit] destinations, which
        # may have changed over time): look for both.
        "phone": (q.phone, methods.mask(q.phone)) if q.phone else None,
        "result": q.result,
        "client": q.client,
        "method": q.method,
    }


def _daily(store: AdminStore, q: ReportQuery, *by: str) -> Awaitable[list[tuple[str | int, ...]]]:
    return store.count_daily(by, since=q.since, until=q.until, client=q.client, method=q.method)


async def usage_rows(store: AdminStore, q: ReportQuery) -> list[Row]:
    if q.by == "day":
        return list(reports.pivot_results(await _daily(store, q, "day", "method", "result"), day_first=True))
    if q.by == "client":
        return list(reports.pivot_results(await _daily(store, q, "client", "result"), day_first=False))
    # exact times: from the audit rows themselves (index audit_result)
    rejects = AuditFilter(q.since, q.until, result="reject", client=q.client, method=q.method)
    return list(await store.count_audit(rejects, ("user",), most_first=True, limit=q.top))


async def fraud_list(store: AdminStore, q: ReportQuery) -> list[FraudReport]:
    return await find_fraud(store, since=q.since, until=q.until, user=q.user, phone=q.phone, status=q.status,
                            source=q.source)


async def bypass_list(store: AdminStore, q: ReportQuery, *, now: datetime) -> list[Bypass]:
    # Bypasses are few (one per helpdesk call): the range and state are
    # filtered here rather than in a store query.
    return [
        b
        for b in await store.list_bypasses(q.user)
        if (q.since is None or b.created_at >= q.since)
        and (q.until is None or b.created_at < q.until)
        and (q.status is None or b.status(now=now) == q.status)
    ]


ADMIN_COLUMNS = ("time", "actor", "action", "target", "detail")


async def admin_rows(store: AdminStore, q: ReportQuery) -> list[Row]:
    events: list[AdminEvent] = await store.query_admin_events(since=q.since, until=q.until, limit=q.limit)
    return [_admin_row(e) for e in events]


def _admin_row(e: AdminEvent) -> Row:
    return (reports.format_time(e.time), e.actor, e.action, e.target, e.detail)


REPORTS = ("auth", "usage", "bypass", "fraud", "admin")
_T = TypeVar("_T")


async def report_rows(
    store: AdminStore, kind: str, q: ReportQuery, *, now: datetime
) -> tuple[tuple[str, ...], list[Row]]:
    """A report's every column and its rows, as `radmfa report KIND --format csv` writes them."""
    q.check()
    if kind == "auth":
        return reports.AUTH_COLUMNS, list(reports.auth_rows(await auth_records(store, q)))
    if kind == "usage":
        return reports.USAGE_COLUMNS[q.by], await usage_rows(store, q)
    if kind == "fraud":
        return reports.FRAUD_COLUMNS, list(reports.fraud_rows(await fraud_list(store, q)))
    if kind == "bypass":
        return reports.BYPASS_COLUMNS, list(reports.bypass_rows(await bypass_list(store, q, now=now), now=now))
    if kind == "admin":
        return ADMIN_COLUMNS, await admin_rows(store, q)
    raise UsageError(f"no report {kind!r}; the reports are: {', '.join(REPORTS)}")


async def report_pages(
    store: AdminStore, kind: str, q: ReportQuery, *, now: datetime
) -> tuple[tuple[str, ...], AsyncGenerator[list[Row], None]]:
    """report_rows' columns and rows, the rows in pages: the audit and admin
    logs, which grow without bound, a page per store statement; the other
    reports (counts, fraud reports, bypasses) are short and come whole."""
    q.check()
    if kind == "auth":
        records = store.audit_pages(**_audit_filters(q))
        return reports.AUTH_COLUMNS, _mapped(records, lambda page: list(reports.auth_rows(page)))
    if kind == "admin":
        events = store.admin_event_pages(since=q.since, until=q.until, limit=q.limit)
        return ADMIN_COLUMNS, _mapped(events, lambda page: [_admin_row(e) for e in page])
    columns, rows = await report_rows(store, kind, q, now=now)
    return columns, _whole(rows)


async def _mapped(
    pages: AsyncIterator[list[_T]], rows: Callable[[list[_T]], list[Row]]
) -> AsyncGenerator[list[Row], None]:
    async for page in pages:
        yield rows(page)


async def _whole(rows: list[Row]) -> AsyncGenerator[list[Row], None]:
    yield rows


def cmd_auth(args: argparse.Namespace, cfg: Config) -> int:
    q = ReportQuery.from_args(args)
    q.check()
    found = run_with_store(cfg, lambda store: auth_records(store, q))
    if not found and args.format == "table":
        print("no authentications match")
    elif args.format == "table" and not args.wide:
        write_rows(reports.AUTH_BRIEF_COLUMNS, reports.auth_brief_rows(found), "table", sys.stdout,
                   width=terminal_width(), shrink=("reason", "user", "client"))
    else:
        write_rows(reports.AUTH_COLUMNS, reports.auth_rows(found), args.format, sys.stdout)
    return 0


def cmd_usage(args: argparse.Namespace, cfg: Config) -> int:
    q = ReportQuery.from_args(args)
    q.check()
    if args.chart is not None and args.chart.suffix.lower() != ".svg":
        raise UsageError(f"--chart writes SVG: name the file *.svg, not {args.chart.name!r}")

    async def work(store: AdminStore) -> tuple[list[Row], list[tuple[str | int, ...]]]:
        volume = await _daily(store, q, "day", "result") if args.chart is not None else []
        return await usage_rows(store, q), volume

    rows, daily = run_with_store(cfg, work)
    if args.chart is not None:
        _write_chart(args, daily, today=datetime.now(UTC).date())
    _show(reports.USAGE_COLUMNS[args.by], rows, args.format, "no authentications match")
    return 0


def _write_chart(args: argparse.Namespace, daily: list[tuple[str | int, ...]], *, today: date) -> None:
    days = [(reports.epoch_date(int(day)), result, n) for day, result, n in daily]
    first, last = reports.chart_range(args.since, args.until, [d for d, _, _ in days], today=today)
    only = [f"client {args.client}" if args.client else "", f"method {args.method}" if args.method else ""]
    svg = chart.daily_decisions_svg(days, first=first, last=last, filters=", ".join(o for o in only if o))
    try:
        args.chart.write_text(svg, encoding="utf-8")
    except OSError as e:
        raise CommandError(f"cannot write the chart to {args.chart}: {e.strerror}") from None
    # stderr: stdout may be CSV or JSON for a program to read.
    print(f"chart written to {args.chart.absolute()}", file=sys.stderr)


async def find_fraud(
    store: AdminStore, *, since: datetime | None = None, until: datetime | None = None, user: str | None = None,
    phone: str | None = None, status: str | None = None, source: str | None = None,
) -> list[FraudReport]:
    """Fraud reports, oldest first, as `radmfa report fraud` and the management portal filter them."""
    found = await store.list_fraud_reports(since=since, until=until, username=user, phone=phone, status=status)
    # The source filter is not a store query: fraud reports are few (one per
    # attack on a person), and the store contract stays as the phone factors use it.
    return [r for r in found if source is None or r.source == source]


def fraud_reports(args: argparse.Namespace, cfg: Config) -> list[FraudReport]:
    q = ReportQuery.from_args(args)
    q.check()
    return run_with_store(cfg, lambda store: fraud_list(store, q))


def cmd_fraud(args: argparse.Namespace, cfg: Config) -> int:
    _show(reports.FRAUD_COLUMNS, list(reports.fraud_rows(fraud_reports(args, cfg))), args.format,
          "no fraud reports match")
    return 0


def cmd_bypass(args: argparse.Namespace, cfg: Config) -> int:
    q = ReportQuery.from_args(args)
    q.check()
    now = datetime.now(UTC)
    found = run_with_store(cfg, lambda store: bypass_list(store, q, now=now))
    _show(reports.BYPASS_COLUMNS, list(reports.bypass_rows(found, now=now)), args.format, "no bypasses match")
    return 0


def cmd_admin(args: argparse.Namespace, cfg: Config) -> int:
    q = ReportQuery.from_args(args)
    q.check()
    rows = run_with_store(cfg, lambda store: admin_rows(store, q))
    _show(ADMIN_COLUMNS, rows, args.format, "no administrator changes match")
    return 0
