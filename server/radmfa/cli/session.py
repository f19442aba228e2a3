"""`radmfa session list|end`: who is connected where, and signing users out.

The sessions come from the NASes' accounting ([radius] accounting_listen).
Ending one sends a Disconnect-Request to its NAS from this process
(service/disconnect.py); `fraud record`, `user set --state blocked` and
`user reset` end the user's sessions the same way (``end_for``).
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime

from radmfa.cli import adminlog
from radmfa.cli.output import add_format_option, write_rows
from radmfa.cli.parsing import CommandError
from radmfa.cli.runner import run_with_store
from radmfa.config import Config
from radmfa.core.admin_model import NasSession
from radmfa.core.admin_ports import AdminStore
from radmfa.core.policy import name_key
from radmfa.errors import RadmfaError
from radmfa.radius.clients import load_clients
from radmfa.reports.rows import format_time
from radmfa.service.disconnect import Disconnector, Outcome
from radmfa.service.policies import PolicyTable

LIST_COLUMNS = ("id", "user", "client", "session", "nas", "framed_ip", "station", "started", "seen", "stopped")


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    group = sub.add_parser("session", help="users' sessions on the NASes (from accounting); sign users out")
    cmds = group.add_subparsers(title="commands", metavar="COMMAND", required=True)

    p = cmds.add_parser("list", help="live sessions, oldest first (all users, or one)")
    p.add_argument("name", nargs="?", metavar="USER", help="only this user's sessions")
    p.add_argument("--all", action="store_true", help="ended sessions too")
    add_format_option(p)
    p.set_defaults(func=cmd_list)

    p = cmds.add_parser(
        "end",
        help="sign a user out everywhere, or end one session (Disconnect-Request to the NAS)",
        description="TARGET is a user (every live session of theirs) or a session: its id from "
        "`radmfa session list` or its Acct-Session-Id. Each NAS's answer (ACK, NAK and its Error-Cause, "
        "or none) is printed and kept in the admin log.",
    )
    p.add_argument("target", metavar="USER|SESSION")
    p.add_argument("--reason", default="signed out by an administrator", metavar="TEXT",
                   help="kept in the admin log with each Disconnect-Request")
    p.set_defaults(func=cmd_end)


def cmd_list(args: argparse.Namespace, cfg: Config) -> int:
    async def work(store: AdminStore) -> list[NasSession]:
        return await store.list_nas_sessions(username=args.name, live=not args.all)

    sessions = run_with_store(cfg, work)
    if not sessions and args.format == "table":
        print("no sessions" if args.all else "no live sessions")
        return 0
    rows = [
        (s.id, s.username, s.client, s.session_id, s.nas_ip or s.nas_address, s.framed_ip or None,
         s.calling_station_id or None, _time(s.started_at), _time(s.seen_at), _time(s.stopped_at))
        for s in sessions
    ]
    write_rows(LIST_COLUMNS, rows, args.format, sys.stdout)
    return 0


def _time(when: datetime | None) -> str | None:
    return format_time(when) if when is not None else None


def _targets(sessions: list[NasSession], target: str) -> list[NasSession]:
    by_user = [s for s in sessions if s.username and _same_user(s, target)]
    by_session = [s for s in sessions if s.session_id == target or str(s.id) == target]
    if by_user and by_session and by_user != by_session:
        raise CommandError(f"{target!r} is both a user and a session; end the session by its id "
                           "(radmfa session list)")
    return by_user or by_session


def _same_user(session: NasSession, name: str) -> bool:
    return name_key(session.username) == name_key(name)


def cmd_end(args: argparse.Namespace, cfg: Config) -> int:
    async def work(store: AdminStore) -> list[Outcome]:
        chosen = _targets(await store.list_nas_sessions(), args.target)
        if not chosen:
            raise CommandError(f"no live session of a user or with a session id {args.target!r} "
                               "(see radmfa session list)")
        return await disconnector(cfg, store).end(chosen, args.reason)

    outcomes = run_with_store(cfg, work)
    print_outcomes(outcomes)
    if any(o.result != "ack" for o in outcomes):
        raise CommandError("not every session was ended (see above)")
    return 0


def disconnector(cfg: Config, store: AdminStore) -> Disconnector:
    table = load_clients(cfg.radius.clients_file)
    policies = PolicyTable(cfg.client_policies(table))
    return Disconnector(store, lambda: table, policies, actor=adminlog.actor())


async def end_for(cfg: Config, store: AdminStore, username: str, reason: str) -> list[Outcome]:
    """End ``username``'s live sessions after a command changed the user (the
    change stands whatever the NASes answer; a problem is one line on stderr)."""
    sessions = await store.list_nas_sessions(username=username)
    if not sessions:
        return []
    try:
        return await disconnector(cfg, store).end(sessions, reason)
    except RadmfaError as e:
        print(f"radmfa: warning: live sessions of {username!r} not ended: {e}", file=sys.stderr)
        return []


def print_outcomes(outcomes: list[Outcome]) -> None:
    for o in outcomes:
        answer = {"ack": "ended (Disconnect-ACK)", "nak": "refused (Disconnect-NAK)",
                  "no-answer": "no answer from the NAS", "no-client": "its client is no longer in clients.conf"}
        cause = f": {o.error_cause}" if o.error_cause else ""
        print(f"session {o.session.session_id} of {o.session.username} on {o.session.client} "
              f"({o.nas or '-'}): {answer[o.result]}{cause}")
