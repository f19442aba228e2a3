"""`radmfa sync [--dry-run] [--confirm-removals]`: users from the directory.

Exit status 0 when the store now matches the directory, 3 when leavers were
held back by [sync] max_removals (nothing else is wrong; confirm to proceed).
"""

from __future__ import annotations

import argparse
import sys

from radmfa.cli import adminlog
from radmfa.cli.runner import run_with_store
from radmfa.config import Config
from radmfa.core.ports import Store
from radmfa.directory.sync import SyncPlan, run_sync

HELD_BACK = 3


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("sync", help="create, update and block users from the LDAP / AD directory")
    p.add_argument("--dry-run", action="store_true", help="print the plan; change nothing")
    p.add_argument(
        "--confirm-removals", action="store_true",
        help="block the users who left the directory even when they are more than [sync] max_removals",
    )
    p.set_defaults(func=cmd_sync)


def cmd_sync(args: argparse.Namespace, cfg: Config) -> int:
    async def work(store: Store) -> SyncPlan:
        return await run_sync(
            cfg, store, dry_run=args.dry_run, confirm_removals=args.confirm_removals, actor=adminlog.actor()
        )

    plan = run_with_store(cfg, work)
    for line in plan_lines(plan):
        print(line)
    print(f"dry run, nothing changed: {plan.summary(done=False)}" if args.dry_run else plan.summary(done=True))
    if plan.held_back:
        print(
            f"radmfa: {len(plan.held_back)} users left the directory, more than [sync] max_removals = "
            f"{cfg.sync.max_removals}: none was blocked. Check the directory and the [sync] filter, then "
            "run 'radmfa sync --confirm-removals'",
            file=sys.stderr,
        )
        return HELD_BACK
    return 0


def plan_lines(plan: SyncPlan) -> list[str]:
    lines = [f"create {e.name}" for e in plan.create]
    lines += [f"update {name}: {', '.join(sorted(changes))}" for name, changes in plan.update]
    lines += [f"block {name} (left the directory)" for name in plan.block]
    lines += [f"held back: block {name} (left the directory)" for name in plan.held_back]
    lines += [f"skipped {why}" for why in plan.skipped]
    return lines
