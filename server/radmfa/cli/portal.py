"""`radmfa portal` (the user portal as its own process) and
`radmfa user enroll-link NAME --hours N` (an administrator's one-time link
that lets a user enroll in the portal).

The link's token is printed once; the store keeps only its SHA-256. It is
used up when the user signs in with it (password checked), in one atomic
statement, so it opens one enrollment, however often it is replayed.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import secrets
import signal
from datetime import UTC, datetime, timedelta

from radmfa.cli import adminlog
from radmfa.cli.parsing import UsageError
from radmfa.cli.runner import run_with_store
from radmfa.config import Config
from radmfa.core.admin_model import EnrollmentLink
from radmfa.core.admin_ports import AdminStore
from radmfa.errors import ConfigError, NotFound
from radmfa.reports.rows import format_time

TOKEN_BYTES = 32  # 256 bits: the link is the only thing standing in for the second factor
MAX_HOURS = 24 * 30


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("portal", help="run the user portal (sign-in, enrollment, self-service)")
    p.set_defaults(func=cmd_portal)


def register_user(cmds: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = cmds.add_parser(
        "enroll-link", help="make a one-time link with which NAME enrolls in the portal (printed once)"
    )
    p.add_argument("name", metavar="NAME")
    p.add_argument(
        "--hours", type=_hours, default=24, metavar="N", help=f"valid this long (1 to {MAX_HOURS}, default 24)"
    )
    p.set_defaults(func=cmd_enroll_link)


def _hours(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= MAX_HOURS:
        raise argparse.ArgumentTypeError(f"must be whole hours from 1 to {MAX_HOURS}, got {text!r}")
    return int(text)


def cmd_portal(args: argparse.Namespace, cfg: Config) -> int:
    from radmfa.service.run import loop_policy
    from radmfa.web.user.app import run_portal

    if not cfg.portal.listen:
        raise ConfigError(f"{cfg.path.name}: [portal] listen: give the addresses to serve the portal on")
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    loop_policy()
    asyncio.run(run_portal(cfg))
    return 0


async def enroll_link(
    store: AdminStore, name: str, hours: int, public_url: str, *, by: str | None = None
) -> tuple[EnrollmentLink, str]:
    """A one-time enrollment link (user enroll-link, the management portal)
    and its URL; the store keeps only the token's hash."""
    if not 1 <= hours <= MAX_HOURS:
        raise UsageError(f"hours must be from 1 to {MAX_HOURS}")
    token = secrets.token_urlsafe(TOKEN_BYTES)
    now = datetime.now(UTC)
    if await store.get_user(name) is None:
        raise NotFound(f'user "{name}" does not exist')
    link = await store.create_enrollment_link(
        name, token_hash=hashlib.sha256(token.encode()).digest(), created_by=by or adminlog.actor(),
        now=now, expires_at=now + timedelta(hours=hours),
    )
    await adminlog.record(store, "user.enroll-link", link.username, f"id={link.id} hours={hours}", by=by)
    return link, f"{public_url}/enroll/{token}"


def cmd_enroll_link(args: argparse.Namespace, cfg: Config) -> int:
    if not cfg.portal.public_url:
        raise UsageError("[portal] public_url is not set: there is no portal to link to")
    link, url = run_with_store(cfg, lambda store: enroll_link(store, args.name, args.hours, cfg.portal.public_url))
    print(f'enrollment link for user "{link.username}", valid until {format_time(link.expires_at)}, once:')
    print(url)
    return 0
