"""`radmfa user add|set|list|show|delete|passwd|unblock|reset`."""

from __future__ import annotations

import argparse
import asyncio
import sys

from radmfa.cli import adminlog, portal, session
from radmfa.cli.helpdesk import cmd_reset, cmd_unblock, state_changes, state_text
from radmfa.cli.output import add_format_option, write_rows
from radmfa.cli.parsing import CommandError, UsageError
from radmfa.cli.prompt import read_new_password
from radmfa.cli.runner import run_with_store
from radmfa.cli.tokens import TOKEN_COLUMNS, token_rows
from radmfa.config import Config
from radmfa.core import policy
from radmfa.core.admin_ports import AdminStore, Store
from radmfa.core.model import METHODS, NewUser, Token, User, UserState
from radmfa.errors import AlreadyExists, NotFound, no_such_user
from radmfa.factors import callbacks
from radmfa.reports.rows import format_time
from radmfa.service.disconnect import Outcome
from radmfa.upstream.passwords import hash_password

LIST_COLUMNS = (
    "name", "state", "first", "last", "email", "mobile", "office", "method", "language", "password", "tokens",
    "created",
)
# BCP 47 in the shape people write it: "en", "de-CH", "zh-Hant-TW".
# Option → (store field, how the text becomes a value); one table for add and set.
_PROFILE_OPTIONS = {
    "email": "email",
    "mobile": "mobile",
    "office_phone": "office_phone",
    "first": "first_name",
    "last": "last_name",
    "language": "language",
    "default_method": "default_method",
}


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    group = sub.add_parser("user", help="add, list, show and delete users")
    cmds = group.add_subparsers(title="user commands", metavar="COMMAND", required=True)

    p = cmds.add_parser("add", help="add a user")
    p.add_argument("name", metavar="NAME", help="the User-Name the NAS sends")
    _profile_options(p)
    p.add_argument("--state", type=_state, default=UserState.ENABLED, help=_STATE_HELP)
    p.add_argument(
        "--password",
        action="store_true",
        help="also set a password for the local upstream (prompted, or one line of stdin)",
    )
    p.set_defaults(func=cmd_add)

    p = cmds.add_parser(
        "set",
        help="change a user's profile or state",
        description="Give an option an empty value ('') to clear it.",
    )
    p.add_argument("name", metavar="NAME")
    _profile_options(p)
    p.add_argument("--state", type=_state, help=_STATE_HELP)
    p.set_defaults(func=cmd_set)

    p = cmds.add_parser("list", help="list users")
    add_format_option(p)
    p.set_defaults(func=cmd_list)

    p = cmds.add_parser("show", help="show a user and their tokens (never the seeds)")
    p.add_argument("name", metavar="NAME")
    p.set_defaults(func=cmd_show)

    p = cmds.add_parser("delete", help="delete a user and their tokens")
    p.add_argument("name", metavar="NAME")
    p.set_defaults(func=cmd_delete)

    p = cmds.add_parser("passwd", help="set a user's local-upstream password")
    p.add_argument("name", metavar="NAME")
    p.set_defaults(func=cmd_passwd)

    p = cmds.add_parser("unblock", help="lift a block (lockout, fraud or admin): the user is enabled again")
    p.add_argument("name", metavar="NAME")
    p.set_defaults(func=cmd_unblock)

    p = cmds.add_parser(
        "reset", help="remove the user's tokens, remembered devices and cached logins: they enroll again"
    )
    p.add_argument("name", metavar="NAME")
    p.set_defaults(func=cmd_reset)

    portal.register_user(cmds)  # enroll-link


_STATE_HELP = (
    "enabled: MFA once a factor is enrolled; disabled: password only; enforced: MFA always; "
    "blocked: always rejected"
)


# Local passwords (type = "local") are the only thing between a guesser and
# the second factor; argon2 slows guessing, a minimum keeps it from being trivial.
MIN_PASSWORD_LENGTH = 8


def _profile_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--email", type=_email, help="one address, e.g. alice@example.com (e-mailed codes)")
    p.add_argument("--mobile", type=_phone, help="E.164, e.g. +14155550100 (texts and calls)")
    p.add_argument("--phone", dest="mobile", type=_phone, help=argparse.SUPPRESS)  # the old name
    p.add_argument("--office-phone", type=_phone, help="E.164 (calls)")
    p.add_argument("--first", help="first name")
    p.add_argument("--last", help="last name")
    p.add_argument("--language", type=_language, help="BCP 47 tag picking the message set, e.g. en, de-CH")
    p.add_argument("--default-method", type=_method, help=f"one of {', '.join(METHODS)}")
    p.add_argument(
        "--push",
        choices=("on", "off"),
        help="on once the user's phone is subscribed to the topic `user show` prints: push is offered from then on",
    )


def _phone(text: str) -> str:
    if text == "":
        return text
    try:
        return policy.e164(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _email(text: str) -> str:
    try:
        return policy.email_address(text) if text else text
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _language(text: str) -> str:
    try:
        return policy.language_tag(text) if text else text
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _method(text: str) -> str:
    if text and text not in METHODS:
        raise argparse.ArgumentTypeError(f"{text!r} is not a method: use one of {', '.join(METHODS)}")
    return text


def _state(text: str) -> UserState:
    try:
        return UserState(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a state: use one of {', '.join(s.value for s in UserState)}"
        ) from None


def _profile_changes(args: argparse.Namespace) -> dict[str, object]:
    """The profile options given on the command line; '' clears a field."""
    changes: dict[str, object] = {}
    for option, field in _PROFILE_OPTIONS.items():
        value = getattr(args, option)
        if value is not None:
            changes[field] = value or None
    if args.push is not None:
        changes["push_enrolled"] = args.push == "on"
    return changes


def missing(name: str) -> NotFound:
    return no_such_user(name)


# -- add -----------------------------------------------------------------------


def check_name(name: str) -> None:
    """A name logins can use (policy.name_problem, the rule every way in shares)."""
    problem = policy.name_problem(name)
    if problem is not None:
        raise UsageError(
            f"user name {name!r} {problem}: no login could use it (see 'User names' in the operator guide)"
        )


def cmd_add(args: argparse.Namespace, cfg: Config) -> int:
    check_name(args.name)
    if args.password:
        _check_local_upstream(cfg)

    async def work(store: AdminStore) -> User:
        # Refuse a taken name before asking for a password nobody will use.
        if await store.get_user(args.name) is not None:
            raise AlreadyExists(f'user "{args.name}" already exists')
        password_hash = await _new_password_hash() if args.password else None
        profile = _profile_changes(args)
        user = await store.add_user(
            NewUser(args.name, password_hash=password_hash, state=args.state, **profile)  # type: ignore[arg-type]
        )
        await adminlog.record(store, "user.add", user.name, _describe(profile, args.state))
        return user

    user = run_with_store(cfg, work)
    extra = " with a local password" if user.password_hash else ""
    print(f'added user "{user.name}"{extra}')
    return 0


def _describe(changes: dict[str, object], state: UserState | None) -> str:
    parts = [f"{k}={'' if v is None else v}" for k, v in changes.items()]
    if state is not None:
        parts.append(f"state={state}")
    return " ".join(parts)


# -- set -----------------------------------------------------------------------


def cmd_set(args: argparse.Namespace, cfg: Config) -> int:
    changes = _profile_changes(args)
    if not changes and args.state is None:
        raise UsageError("nothing to change: give at least one option (see radmfa user set --help)")

    async def work(store: AdminStore) -> tuple[User, list[Outcome]]:
        if args.state is not None:
            before = await store.get_user(args.name)
            if before is None:
                raise missing(args.name)
            changes.update(state_changes(before, args.state))
        user = await store.update_user(args.name, changes)
        if user is None:
            raise missing(args.name)
        await adminlog.record(store, "user.set", user.name, _describe(_profile_changes(args), args.state))
        if args.state is UserState.BLOCKED:  # blocked now, not at the next login
            return user, await session.end_for(cfg, store, user.name, "blocked by an administrator")
        return user, []

    user, ended = run_with_store(cfg, work)
    print(f'updated user "{user.name}"')
    session.print_outcomes(ended)
    return 0


async def _new_password_hash() -> str:
    # getpass and argon2 both block; keep them off the event loop.
    password = await asyncio.to_thread(read_new_password)
    if len(password) < MIN_PASSWORD_LENGTH:
        raise CommandError(
            f"a local password needs at least {MIN_PASSWORD_LENGTH} characters; nothing was changed"
        )
    return await asyncio.to_thread(hash_password, password)


def _check_local_upstream(cfg: Config) -> None:
    """A local password is read only by a type = "local" upstream; anywhere
    else it would be a second password nobody checks (or, worse, one the
    admin believes is checked)."""
    upstreams = (cfg.upstream, *cfg.upstreams.values())
    if any(u.type == "local" for u in upstreams):
        return
    raise CommandError(
        f'the upstream is type = "{cfg.upstream.type}", which checks passwords itself: a local password '
        'is used only with type = "local" ([upstream] or an [upstreams.<name>]); nothing was changed'
    )


# -- list / show ---------------------------------------------------------------


def cmd_list(args: argparse.Namespace, cfg: Config) -> int:
    async def work(store: AdminStore) -> tuple[list[User], list[Token]]:
        return await store.list_users(), await store.list_tokens()

    users, tokens = run_with_store(cfg, work)
    counts: dict[str, int] = {}
    for token in tokens:
        counts[token.username] = counts.get(token.username, 0) + 1
    rows = [
        (
            u.name,
            u.state.value,
            u.first_name or "",
            u.last_name or "",
            u.email or "",
            u.mobile or "",
            u.office_phone or "",
            u.default_method or "",
            u.language or "",
            "set" if u.password_hash else "",
            counts.get(u.name, 0),
            format_time(u.created_at) if u.created_at else "",
        )
        for u in users
    ]
    if not rows and args.format == "table":
        print("no users")
        return 0
    write_rows(LIST_COLUMNS, rows, args.format, sys.stdout)
    return 0


def cmd_show(args: argparse.Namespace, cfg: Config) -> int:
    push = cfg.phone.provider("push")

    async def work(store: Store) -> tuple[User | None, list[Token], bytes | None]:
        secret_key = await store.callback_key() if push is not None else None
        return await store.get_user(args.name), await store.list_tokens(args.name), secret_key

    user, tokens, secret_key = run_with_store(cfg, work)
    if user is None:
        raise missing(args.name)
    # The topic the user subscribes to in the ntfy app (its {secret} part
    # makes it unguessable, so only the admin can tell the user).
    topic = ""
    if push is not None:
        topic = callbacks.push_topic(push.topic, policy.name_key(user.name), secret_key, ntfy=push.type == "ntfy")
    details = [
        ("name", user.name),
        ("state", state_text(user)),
        ("first", user.first_name or ""),
        ("last", user.last_name or ""),
        ("email", user.email or ""),
        ("mobile", user.mobile or ""),
        ("office", user.office_phone or ""),
        ("method", user.default_method or ""),
        ("language", user.language or ""),
        ("push", f"{topic} ({'enrolled' if user.push_enrolled else 'not enrolled: user set --push on'})"
         if topic else ("enrolled, no push provider configured" if user.push_enrolled else "")),
        ("password", "set (local upstream)" if user.password_hash else "not set"),
        ("created", format_time(user.created_at) if user.created_at else ""),
    ]
    for key, value in details:
        print(f"{key + ':':<10} {value or '-'}")
    print()
    if not tokens:
        print("no tokens")
    else:
        write_rows(TOKEN_COLUMNS, token_rows(tokens), "table", sys.stdout)
    return 0


# -- delete / passwd -----------------------------------------------------------


def cmd_delete(args: argparse.Namespace, cfg: Config) -> int:
    async def work(store: AdminStore) -> int:
        tokens = await store.list_tokens(args.name)
        if not await store.delete_user(args.name):
            raise missing(args.name)
        await adminlog.record(store, "user.delete", args.name, f"tokens={len(tokens)}")
        return len(tokens)

    count = run_with_store(cfg, work)
    print(f'deleted user "{args.name}" and {count} token{"" if count == 1 else "s"}')
    return 0


def cmd_passwd(args: argparse.Namespace, cfg: Config) -> int:
    _check_local_upstream(cfg)

    async def work(store: AdminStore) -> None:
        if await store.get_user(args.name) is None:
            raise missing(args.name)
        password_hash = await _new_password_hash()
        if not await store.set_password_hash(args.name, password_hash):
            raise missing(args.name)  # deleted while we were asking
        await adminlog.record(store, "user.passwd", args.name)

    run_with_store(cfg, work)
    print(f'password set for user "{args.name}"')
    return 0
