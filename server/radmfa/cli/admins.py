"""`radmfa admin add|list|remove|set-role`: the management portal's accounts.

An administrator is a user of radmfa (their password, checked by the
upstream or locally, and their own second factor sign them in) with a
role: ``admin`` (everything), ``helpdesk`` (find users, unblock, reset,
bypass, enrollment links; no settings, no accounts) or ``auditor``
(read-only). Roles change only here, on the command line, never in the
portal: no one raises a role from a browser, their own least of all.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from datetime import UTC, datetime

from radmfa.cli import adminlog
from radmfa.cli.output import add_format_option, write_rows
from radmfa.cli.runner import run_with_store
from radmfa.config import Config
from radmfa.core.admin_model import ADMIN_ROLES, AdminAccount
from radmfa.core.admin_ports import AdminStore
from radmfa.errors import ConfigError, NotFound
from radmfa.reports.rows import format_time

COLUMNS = ("name", "role", "created", "created_by")


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("admin-portal", help="run the management portal ([admin_portal]; a management network only)")
    p.set_defaults(func=cmd_admin_portal)

    group = sub.add_parser("admin", help="management portal accounts and their roles")
    cmds = group.add_subparsers(title="admin commands", metavar="COMMAND", required=True)

    p = cmds.add_parser("add", help="let user NAME sign in to the management portal with a role")
    p.add_argument("name", metavar="NAME", help="an existing radmfa user (radmfa user add)")
    p.add_argument("--role", required=True, choices=ADMIN_ROLES, help="admin, helpdesk or auditor")
    p.set_defaults(func=cmd_add)

    p = cmds.add_parser("list", help="list the accounts")
    add_format_option(p)
    p.set_defaults(func=cmd_list)

    p = cmds.add_parser("remove", help="take NAME's management portal access away")
    p.add_argument("name", metavar="NAME")
    p.set_defaults(func=cmd_remove)

    p = cmds.add_parser("set-role", help="change NAME's role")
    p.add_argument("name", metavar="NAME")
    p.add_argument("role", metavar="ROLE", choices=ADMIN_ROLES, help="admin, helpdesk or auditor")
    p.set_defaults(func=cmd_set_role)


def cmd_admin_portal(args: argparse.Namespace, cfg: Config) -> int:
    from radmfa.service.run import loop_policy
    from radmfa.web.admin.app import run_admin_portal

    if not cfg.admin_portal.listen:
        raise ConfigError(f"{cfg.path.name}: [admin_portal] listen: give the addresses to serve the management "
                          "portal on (the management network's)")
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    loop_policy()
    asyncio.run(run_admin_portal(cfg))
    return 0


def _not_admin(name: str) -> NotFound:
    return NotFound(f'user "{name}" is no administrator (see radmfa admin list)')


def cmd_add(args: argparse.Namespace, cfg: Config) -> int:
    async def work(store: AdminStore) -> AdminAccount:
        made = await store.add_admin(args.name, args.role, created_by=adminlog.actor(), now=datetime.now(UTC))
        await adminlog.record(store, "admin.add", made.username, f"role={made.role}")
        return made

    made = run_with_store(cfg, work)
    print(f'user "{made.username}" is now a management portal {made.role} '
          "(they sign in with their password and second factor)")
    return 0


def cmd_list(args: argparse.Namespace, cfg: Config) -> int:
    found = run_with_store(cfg, lambda store: store.list_admins())
    if not found and args.format == "table":
        print("no administrators")
        return 0
    write_rows(COLUMNS, [(a.username, a.role, format_time(a.created_at), a.created_by) for a in found],
               args.format, sys.stdout)
    return 0


def cmd_remove(args: argparse.Namespace, cfg: Config) -> int:
    async def work(store: AdminStore) -> AdminAccount:
        gone = await store.remove_admin(args.name)
        if gone is None:
            raise _not_admin(args.name)
        await store.delete_web_sessions_of(gone.username, portal="admin")  # signed out now
        await adminlog.record(store, "admin.remove", gone.username, f"role={gone.role}")
        return gone

    gone = run_with_store(cfg, work)
    print(f'user "{gone.username}" is no longer an administrator (was {gone.role})')
    return 0


def cmd_set_role(args: argparse.Namespace, cfg: Config) -> int:
    async def work(store: AdminStore) -> AdminAccount:
        before = await store.set_admin_role(args.name, args.role)
        if before is None:
            raise _not_admin(args.name)
        if before.role != args.role:
            await adminlog.record(store, "admin.set-role", before.username, f"{before.role} → {args.role}")
        return before

    before = run_with_store(cfg, work)
    print(f'user "{before.username}": role {before.role} → {args.role}')
    return 0
