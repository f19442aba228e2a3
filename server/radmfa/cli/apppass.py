"""`radmfa apppass create|list|delete`: app passwords for clients that cannot do MFA.

An app password replaces the user's password on a NAS that allows it
(``[mfa] app_passwords = true`` and the client's ``app_passwords``): it is
checked here, with no upstream call and no second factor. It is shown once,
at creation; radmfa keeps only its argon2 hash.
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
from radmfa.core import exemptions
from radmfa.core.admin_ports import AdminStore
from radmfa.core.model import AppPassword
from radmfa.errors import AlreadyExists, NotFound, no_such_user
from radmfa.reports.rows import format_time
from radmfa.service.live_settings import current_mfa
from radmfa.upstream.passwords import hash_app_password

COLUMNS = ("user", "name", "created", "last_used")
_TRIES = 5  # a fresh lookup prefix if the random one is taken (1 in 26 000 at 40 passwords)


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    group = sub.add_parser("apppass", help="app passwords for clients that cannot do MFA")
    cmds = group.add_subparsers(title="apppass commands", metavar="COMMAND", required=True)

    p = cmds.add_parser("create", help="make an app password for NAME and print it (once)")
    p.add_argument("name", metavar="NAME", help="the user")
    p.add_argument("--name", dest="label", required=True, metavar="LABEL", help="the device it is for, e.g. Laptop")
    p.set_defaults(func=cmd_create)

    p = cmds.add_parser("list", help="list app passwords (of one user, or all; never the passwords)")
    add_user_filter(p, "app passwords")
    add_format_option(p)
    p.set_defaults(func=cmd_list)

    p = cmds.add_parser("delete", help="delete one app password (--name) or all of them (--all)")
    p.add_argument("name", metavar="NAME")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--name", dest="label", metavar="LABEL")
    which.add_argument(
        "--all",
        action="store_true",
        help="every app password of the user; also forgets their remembered devices and cached logins (lost phone)",
    )
    p.set_defaults(func=cmd_delete)


def _label(text: str) -> str:
    label = " ".join(text.split())
    if not label or len(label) > 64 or not label.isprintable():
        raise UsageError(f"app password name {text!r}: 1 to 64 printable characters")
    return label


def cmd_create(args: argparse.Namespace, cfg: Config) -> int:
    label = _label(args.label)

    async def work(store: AdminStore) -> tuple[AppPassword, str, bool]:
        if await store.get_user(args.name) is None:
            raise no_such_user(args.name)
        enabled = (await current_mfa(store, cfg)).app_passwords
        for attempt in range(_TRIES):
            password = exemptions.new_app_password()
            try:
                made = await store.add_app_password(
                    args.name,
                    name=label,
                    lookup=exemptions.lookup_of(password),
                    password_hash=await hash_app_password(password),
                    limit=exemptions.APP_PASSWORD_LIMIT,
                    now=datetime.now(UTC),
                )
            except AlreadyExists as e:
                if "lookup" not in str(e) or attempt == _TRIES - 1:
                    raise
                continue
            await adminlog.record(store, "apppass.create", made.username, f"name={label}")
            return made, password, enabled
        raise AssertionError("unreachable")

    made, password, enabled = run_with_store(cfg, work)
    print(f'app password "{made.name}" for user "{made.username}" (shown only now; radmfa keeps only a hash):')
    print(password)
    if not enabled:
        print("note: app passwords are off: `radmfa settings set mfa.app_passwords true` accepts them",
              file=sys.stderr)
    return 0


def cmd_list(args: argparse.Namespace, cfg: Config) -> int:
    name = user_filter(args)

    async def work(store: AdminStore) -> list[AppPassword]:
        if name is not None and await store.get_user(name) is None:
            raise no_such_user(name)
        return await store.list_app_passwords(name)

    found = run_with_store(cfg, work)
    if not found and args.format == "table":
        print("no app passwords")
        return 0
    rows = [
        (p.username, p.name, format_time(p.created_at), format_time(p.last_used_at) if p.last_used_at else "never")
        for p in found
    ]
    write_rows(COLUMNS, rows, args.format, sys.stdout)
    return 0


def cmd_delete(args: argparse.Namespace, cfg: Config) -> int:
    async def work(store: AdminStore) -> tuple[int, int]:
        if await store.get_user(args.name) is None:
            raise no_such_user(args.name)
        count = await store.delete_app_passwords(args.name, None if args.all else args.label)
        if count == 0 and not args.all:
            raise NotFound(f'user "{args.name}" has no app password named "{args.label}"')
        detail = "all" if args.all else f"name={args.label}"
        devices = 0
        if args.all:
            # --all is the lost-phone command: a remembered phone (and the
            # user's cached logins) must not keep skipping the second factor.
            devices = await store.forget_devices(args.name)
            detail += f" devices={devices}"
        await adminlog.record(store, "apppass.delete", args.name, f"{detail} deleted={count}")
        return count, devices

    count, devices = run_with_store(cfg, work)
    forgot = f'; forgot {devices} remembered device{"" if devices == 1 else "s"} and cached logins' if args.all else ""
    print(f'deleted {count} app password{"" if count == 1 else "s"} of user "{args.name}"{forgot}')
    return 0
