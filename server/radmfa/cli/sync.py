"""`radmfa sync [--dry-run] [--confirm-removals N]`: users from the directory.

Exit status 0 when the store now matches the directory, 3 when leavers were
held back by [sync] max_removals (nothing else is wrong; confirm to proceed).
"""

from __future__ import annotations

import argparse
import sys

from radmfa.cli import adminlog
from radmfa.cli.parsing import EXIT_CONFIRM
from radmfa.cli.runner import run_with_store
from radmfa.config import Config
from radmfa.core.admin_ports import AdminStore
from radmfa.directory.sync import SyncPlan, run_sync

HELD_BACK = EXIT_CONFIRM


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("sync", help="create, update and block users from the LDAP / AD directory")
    p.add_argument("--dry-run", action="store_true", help="print the plan; change nothing")
    p.add_argument(
        "--confirm-removals", type=_count, metavar="N",
        help="block the N users who left the directory (as the dry run listed them) even when they are more "
        "than [sync] max_removals; refused if the count is not N any more",
    )
    p.set_defaults(func=cmd_sync)


def cmd_sync(args: argparse.Namespace, cfg: Config) -> int:
    async def work(store: AdminStore) -> SyncPlan:
        return await run_sync(
            cfg, store, dry_run=args.dry_run, confirm_removals=args.confirm_removals, actor=adminlog.actor()
        )

    plan = run_with_store(cfg, work)
    for line in plan_lines(plan):
        print(line)
    print(f"dry run, nothing changed: {plan.summary(done=False)}" if args.dry_run else plan.summary(done=True))
    if plan.held_back:
        count = len(plan.held_back)
        changed = (
            f"you confirmed {args.confirm_removals} but {count} users left the directory now"
            if args.confirm_removals is not None else f"{count} users left the directory"
        )
        print(
            f"radmfa: {changed}, more than [sync] max_removals = {cfg.sync.max_removals}: none was blocked. "
            f"Check the directory and the [sync] filter, then run 'radmfa sync --confirm-removals {count}'",
            file=sys.stderr,
        )
        return HELD_BACK
    return 0


def _count(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not a count: give the number of leavers the dry run listed")
    return int(text)


def plan_lines(plan: SyncPlan) -> list[str]:
    lines = [f"create {e.name}" for e in plan.create]
    lines += [f"update {name}: {', '.join(sorted(changes))}" for name, changes in plan.update]
    lines += [f"block {name} (left the directory)" for name in plan.block]
    lines += [f"held back: block {name} (left the directory)" for name in plan.held_back]
    lines += [f"skipped {why}" for why in plan.skipped]
    return lines
