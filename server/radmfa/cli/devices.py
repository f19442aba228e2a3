"""`radmfa device list|forget`: remembered devices (seed 000).

After a complete MFA success a NAS with ``remember_days`` > 0 remembers the
station (its ``user_ip_attribute``, normally Calling-Station-Id) for the
user; later logins from there skip the second factor for that many days.
"""

from __future__ import annotations

import argparse
import sys

from radmfa.cli import adminlog
from radmfa.cli.output import add_format_option, write_rows
from radmfa.cli.parsing import add_user_filter, user_filter
from radmfa.cli.runner import run_with_store
from radmfa.config import Config
from radmfa.core.admin_model import RememberedDevice
from radmfa.core.admin_ports import AdminStore
from radmfa.errors import NotFound, no_such_user
from radmfa.reports.rows import format_time

COLUMNS = ("user", "station", "client", "remembered")


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    group = sub.add_parser("device", help="list and forget remembered devices")
    cmds = group.add_subparsers(title="device commands", metavar="COMMAND", required=True)

    p = cmds.add_parser("list", help="list remembered devices (of one user, or all)")
    add_user_filter(p, "remembered devices")
    add_format_option(p)
    p.set_defaults(func=cmd_list)

    p = cmds.add_parser("forget", help="forget one station (--station) or all devices and cached logins (--all)")
    p.add_argument("name", metavar="NAME")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--station", metavar="ID", help="as `device list` shows it")
    which.add_argument("--all", action="store_true")
    p.set_defaults(func=cmd_forget)


def cmd_list(args: argparse.Namespace, cfg: Config) -> int:
    name = user_filter(args)

    async def work(store: AdminStore) -> list[RememberedDevice]:
        if name is not None and await store.get_user(name) is None:
            raise no_such_user(name)
        return await store.list_devices(name)

    devices = run_with_store(cfg, work)
    if not devices and args.format == "table":
        print("no remembered devices")
        return 0
    rows = [(d.username, d.station, d.client, format_time(d.remembered_at)) for d in devices]
    write_rows(COLUMNS, rows, args.format, sys.stdout)
    return 0


def cmd_forget(args: argparse.Namespace, cfg: Config) -> int:
    async def work(store: AdminStore) -> int:
        if await store.get_user(args.name) is None:
            raise no_such_user(args.name)
        count = await store.forget_devices(args.name, None if args.all else args.station)
        if count == 0 and not args.all:
            raise NotFound(f'user "{args.name}" has no remembered device "{args.station}"')
        detail = "all" if args.all else f"station={args.station}"
        await adminlog.record(store, "device.forget", args.name, f"{detail} forgotten={count}")
        return count

    count = run_with_store(cfg, work)
    print(f'forgot {count} device{"" if count == 1 else "s"} of user "{args.name}"')
    return 0
