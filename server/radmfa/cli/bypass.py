"""`radmfa bypass create|list|cancel`: one-time bypasses (seed 000).

A bypass lets the user's next login within N seconds pass without the second
factor, exactly once; the password is still checked. Rows stay after use,
expiry and cancellation: `bypass list` is also the record of who made one,
why, and when and where it was used.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime

from radmfa.cli import adminlog
from radmfa.cli.output import add_format_option, write_rows
from radmfa.cli.parsing import UsageError, add_user_filter, user_filter
from radmfa.cli.runner import run_with_store
from radmfa.config import Config
from radmfa.core.admin_ports import AdminStore
from radmfa.core.model import Bypass
from radmfa.errors import NotFound, no_such_user
from radmfa.reports.rows import format_time

MAX_SECONDS = 7 * 86400  # a bypass is for today's emergency, not a standing exemption
COLUMNS = ("id", "user", "status", "created", "expires", "created_by", "reason", "used", "client", "station")


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    group = sub.add_parser("bypass", help="one-time bypasses of the second factor")
    cmds = group.add_subparsers(title="bypass commands", metavar="COMMAND", required=True)

    p = cmds.add_parser("create", help="let NAME's next login within N seconds skip the second factor, once")
    p.add_argument("name", metavar="NAME", help="the user")
    p.add_argument("--seconds", type=_seconds, required=True, metavar="N", help=f"1 to {MAX_SECONDS}")
    p.add_argument("--reason", required=True, help="why (kept in the record), e.g. the ticket number")
    p.set_defaults(func=cmd_create)

    p = cmds.add_parser("list", help="list bypasses (of one user, or all): open, used, expired, cancelled")
    add_user_filter(p, "bypasses")
    add_format_option(p)
    p.set_defaults(func=cmd_list)

    p = cmds.add_parser("cancel", help="cancel an open bypass by its id")
    p.add_argument("bypass_id", metavar="ID", type=int)
    p.set_defaults(func=cmd_cancel)


def _seconds(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= MAX_SECONDS:
        raise argparse.ArgumentTypeError(f"must be whole seconds from 1 to {MAX_SECONDS}, got {text!r}")
    return int(text)


def check_reason(text: str) -> str:
    reason = " ".join(text.split())
    if not reason:
        raise UsageError("--reason must say why (it is kept in the bypass record)")
    return reason[:200]


async def create(store: AdminStore, name: str, seconds: int, reason: str, *, by: str | None = None) -> Bypass:
    """A one-time bypass (bypass create, the management portal), logged as ``by``."""
    if not 1 <= seconds <= MAX_SECONDS:
        raise UsageError(f"seconds must be from 1 to {MAX_SECONDS}")
    reason = check_reason(reason)
    made = await store.create_bypass(
        name, seconds=seconds, reason=reason, created_by=by or adminlog.actor(), now=datetime.now(UTC)
    )
    await adminlog.record(store, "bypass.create", made.username, f"id={made.id} seconds={seconds} reason={reason}",
                          by=by)
    return made


async def cancel(store: AdminStore, bypass_id: int, *, by: str | None = None) -> Bypass:
    cancelled = await store.cancel_bypass(bypass_id, now=datetime.now(UTC))
    if cancelled is None:
        raise NotFound(f"no open bypass with id {bypass_id} (see radmfa bypass list)")
    await adminlog.record(store, "bypass.cancel", cancelled.username, f"id={cancelled.id}", by=by)
    return cancelled


def cmd_create(args: argparse.Namespace, cfg: Config) -> int:
    reason = check_reason(args.reason)

    made = run_with_store(cfg, lambda store: create(store, args.name, args.seconds, reason))
    print(f'bypass {made.id} for user "{made.username}": the next login until {format_time(made.expires_at)} '
          "skips the second factor, once")
    return 0


def bypass_rows(bypasses: list[Bypass], *, now: datetime) -> list[tuple[str | int, ...]]:
    return [
        (
            b.id,
            b.username,
            b.status(now=now),
            format_time(b.created_at),
            format_time(b.expires_at),
            b.created_by,
            b.reason,
            format_time(b.used_at) if b.used_at else "",
            b.used_client or "",
            b.used_station or "",
        )
        for b in bypasses
    ]


def cmd_list(args: argparse.Namespace, cfg: Config) -> int:
    name = user_filter(args)

    async def work(store: AdminStore) -> list[Bypass]:
        # A deleted user's bypasses stay on record: only a name that never
        # had one and is no user is a mistake.
        found = await store.list_bypasses(name)
        if name is not None and not found and await store.get_user(name) is None:
            raise no_such_user(name)
        return found

    bypasses = run_with_store(cfg, work)
    if not bypasses and args.format == "table":
        print("no bypasses")
        return 0
    write_rows(COLUMNS, bypass_rows(bypasses, now=datetime.now(UTC)), args.format, sys.stdout)
    return 0


def cmd_cancel(args: argparse.Namespace, cfg: Config) -> int:
    cancelled = run_with_store(cfg, lambda store: cancel(store, args.bypass_id))
    print(f'cancelled bypass {cancelled.id} of user "{cancelled.username}"')
    return 0
