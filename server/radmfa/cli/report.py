"""`radmfa report auth`: the audit log of authentications, as a table or CSV."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from datetime import UTC, datetime

from radmfa import reports
from radmfa.cli.output import add_format_option, write_rows
from radmfa.cli.parsing import UsageError
from radmfa.cli.runner import run_with_store
from radmfa.config import Config
from radmfa.core.model import AdminEvent, AuditRecord
from radmfa.core.ports import Store


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    group = sub.add_parser("report", help="reports over the audit log")
    cmds = group.add_subparsers(title="reports", metavar="REPORT", required=True)

    p = cmds.add_parser(
        "auth",
        help="one row per answered Access-Request, oldest first",
        description="Times without a zone are UTC. Ages count back from now: 30m, 24h, 7d, 2w.",
    )
    when = _when_parser(datetime.now(UTC))  # the clock is read here, in the shell
    p.add_argument("--since", type=when, metavar="WHEN", help="from this time (inclusive)")
    p.add_argument("--until", type=when, metavar="WHEN", help="up to this time (exclusive)")
    p.add_argument("--user", metavar="NAME", help="only this user")
    p.add_argument("--limit", type=_positive, metavar="N", help="the newest N rows (still printed oldest first)")
    add_format_option(p)
    p.set_defaults(func=cmd_auth)

    p = cmds.add_parser(
        "admin",
        help="who changed what: one row per change made with radmfa's commands, oldest first",
        description="Times without a zone are UTC. Ages count back from now: 30m, 24h, 7d, 2w.",
    )
    p.add_argument("--since", type=when, metavar="WHEN", help="from this time (inclusive)")
    p.add_argument("--until", type=when, metavar="WHEN", help="up to this time (exclusive)")
    p.add_argument("--limit", type=_positive, metavar="N", help="the newest N rows (still printed oldest first)")
    add_format_option(p)
    p.set_defaults(func=cmd_admin)


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


def cmd_auth(args: argparse.Namespace, cfg: Config) -> int:
    if args.since and args.until and args.since >= args.until:
        raise UsageError("--since must be before --until")

    async def work(store: Store) -> list[AuditRecord]:
        return await store.query_audit(
            since=args.since, until=args.until, username=args.user, limit=args.limit
        )

    rows = reports.auth_rows(run_with_store(cfg, work))
    if not rows and args.format == "table":
        print("no authentications match")
        return 0
    write_rows(reports.AUTH_COLUMNS, rows, args.format, sys.stdout)
    return 0


ADMIN_COLUMNS = ("time", "actor", "action", "target", "detail")


def cmd_admin(args: argparse.Namespace, cfg: Config) -> int:
    if args.since and args.until and args.since >= args.until:
        raise UsageError("--since must be before --until")

    async def work(store: Store) -> list[AdminEvent]:
        return await store.query_admin_events(since=args.since, until=args.until, limit=args.limit)

    events = run_with_store(cfg, work)
    if not events and args.format == "table":
        print("no administrator changes match")
        return 0
    rows = [(reports.format_time(e.time), e.actor, e.action, e.target, e.detail) for e in events]
    write_rows(ADMIN_COLUMNS, rows, args.format, sys.stdout)
    return 0
