"""`radmfa fraud list|set-status|record`: the security team's side of fraud alerts."""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import structlog

from radmfa.cli import adminlog, helpdesk, session
from radmfa.cli.parsing import CommandError, UsageError
from radmfa.cli.report import _when_parser, add_fraud_filters, cmd_fraud
from radmfa.cli.runner import run_with_store
from radmfa.config import Config
from radmfa.core import fraud
from radmfa.core.admin_ports import AdminStore
from radmfa.core.model import FRAUD_STATUSES, FraudReport, User, UserState
from radmfa.core.policy import e164
from radmfa.delivery.alerts import FraudNotifier
from radmfa.errors import no_such_user
from radmfa.service.disconnect import Outcome

log = structlog.get_logger("radmfa.fraud")

# A command waits this long for the alert to go out, retrying sooner than the
# service does: someone is waiting at the terminal.
CLI_RETRY_PAUSES_S = (1.0, 3.0)
CLI_DELIVERY_TIMEOUT_S = 60.0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    group = sub.add_parser("fraud", help="list, review and record fraud reports")
    cmds = group.add_subparsers(title="commands", metavar="COMMAND", required=True)

    p = cmds.add_parser("list", help="fraud reports, oldest first")
    add_fraud_filters(p, _when_parser(datetime.now(UTC)))
    p.set_defaults(func=cmd_fraud)

    p = cmds.add_parser("set-status", help="mark a report reviewed or a false alarm (or new again)")
    p.add_argument("id", type=int, metavar="ID", help="the report's id (see `radmfa fraud list`)")
    p.add_argument("status", choices=FRAUD_STATUSES)
    p.add_argument(
        "--unblock", action="store_true", help="with false-alarm: also lift the user's block (as `user unblock`)"
    )
    p.set_defaults(func=cmd_set_status)

    p = cmds.add_parser(
        "record",
        help="record a fraud report for a user (blocks and alerts per [fraud])",
        description="For a report that reached the helpdesk another way. Blocks the user when [fraud] "
        "block_user is on, and alerts [fraud] notify_email / notify_webhook.",
    )
    p.add_argument("name", metavar="NAME", help="the user")
    p.add_argument("--reason", required=True, metavar="TEXT", help="what happened (kept as the report's note)")
    p.add_argument("--phone", metavar="E164", help="the number that was called, if any")
    p.add_argument("--client", default="", metavar="NAME", help="the client (NAS) the login came through")
    p.set_defaults(func=cmd_record)


def cmd_set_status(args: argparse.Namespace, cfg: Config) -> int:
    if args.unblock and args.status != "false-alarm":
        raise UsageError("--unblock goes with false-alarm only: a report that was fraud keeps its block")

    async def work(store: AdminStore) -> tuple[User | None, User | None]:
        reports = [r for r in await store.list_fraud_reports() if r.id == args.id]
        if not reports or not await store.set_fraud_status(args.id, args.status):
            raise CommandError(f"no fraud report with id {args.id} (see radmfa fraud list)")
        await adminlog.record(store, "fraud.set-status", str(args.id), args.status)
        if args.status != "false-alarm":
            return None, None
        if args.unblock:
            return await helpdesk.unblock(store, reports[0].username)
        user = await store.get_user(reports[0].username)
        return user, user

    before, after = run_with_store(cfg, work)
    print(f"fraud report {args.id} is now {args.status}")
    if before is None or after is None:
        return 0
    if args.unblock:
        print(helpdesk.unblocked_text(before, after))
    elif after.state is UserState.BLOCKED:
        # The report set the block; a false alarm does not lift it by itself
        # (another report, or an admin, may have blocked the user too).
        name = shlex.quote(after.name)
        print(f'user "{after.name}" is still {helpdesk.state_text(after)}: lift it with radmfa user unblock '
              f"{name} (or give set-status --unblock)")
    return 0


def cmd_record(args: argparse.Namespace, cfg: Config) -> int:
    if not args.reason.strip():
        raise UsageError("--reason must say what happened")
    try:
        phone = e164(args.phone) if args.phone else ""
    except ValueError as e:
        raise UsageError(f"--phone: {e}") from None
    if not cfg.fraud.allow_reports:
        raise CommandError("[fraud] allow_reports is false: no report is recorded")
    notifier = FraudNotifier(cfg.fraud, cfg.smtp, server=cfg.audit.server_name, pauses_s=CLI_RETRY_PAUSES_S)
    now = datetime.now(UTC)

    async def work(store: AdminStore) -> tuple[FraudReport, list[Outcome]]:
        user = await store.get_user(args.name)
        if user is None:
            raise no_such_user(args.name)
        report = FraudReport(now, user.name, "admin", client_name=args.client, phone=phone, note=args.reason)
        stored = await fraud.raise_alert(store, cfg.fraud, report, now=now, log=log, notify=notifier)
        assert stored is not None  # allow_reports checked above
        await adminlog.record(store, "fraud.record", user.name, f"report {stored.id}")
        # Whoever is signed in as the user may be the fraudster: sign them out now.
        ended = await session.end_for(cfg, store, user.name, f"fraud report {stored.id}")
        await notifier.close(CLI_DELIVERY_TIMEOUT_S)
        return stored, ended

    with _logs_to_stderr():
        stored, ended = run_with_store(cfg, work)
    blocked = " and blocked the user" if cfg.fraud.block_user else ""
    print(f"recorded fraud report {stored.id} for {stored.username}{blocked}")
    session.print_outcomes(ended)
    if notifier.failed or notifier.abandoned:
        raise CommandError(f"fraud report {stored.id} is recorded, but the alert could not be delivered (see above)")
    return 0


@contextmanager
def _logs_to_stderr() -> Iterator[None]:
    """raise_alert and the notifier log (the report, delivery problems): on a
    terminal that belongs on stderr, keeping stdout for the command's answer."""
    previous = structlog.get_config()
    structlog.configure(
        processors=[structlog.processors.add_log_level, structlog.dev.ConsoleRenderer(colors=False)],
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
    )
    try:
        yield
    finally:
        structlog.configure(**previous)
