"""`radmfa user add|list|show|delete|passwd`."""

from __future__ import annotations

import argparse
import asyncio
import sys

from radmfa.cli.output import add_format_option, write_rows
from radmfa.cli.parsing import UsageError
from radmfa.cli.prompt import read_new_password
from radmfa.cli.runner import run_with_store
from radmfa.cli.tokens import TOKEN_COLUMNS, token_rows
from radmfa.config import Config
from radmfa.core.model import NewUser, Token, User
from radmfa.core.ports import Store
from radmfa.errors import AlreadyExists, NotFound
from radmfa.reports import format_time
from radmfa.upstream.local import hash_password

LIST_COLUMNS = ("name", "first", "last", "email", "phone", "password", "tokens", "created")


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    group = sub.add_parser("user", help="add, list, show and delete users")
    cmds = group.add_subparsers(title="user commands", metavar="COMMAND", required=True)

    p = cmds.add_parser("add", help="add a user")
    p.add_argument("name", metavar="NAME", help="the User-Name the NAS sends")
    p.add_argument("--email")
    p.add_argument("--phone")
    p.add_argument("--first", help="first name")
    p.add_argument("--last", help="last name")
    p.add_argument(
        "--password",
        action="store_true",
        help="also set a password for the local upstream (prompted, or one line of stdin)",
    )
    p.set_defaults(func=cmd_add)

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


def missing(name: str) -> NotFound:
    return NotFound(f'user "{name}" does not exist')


# -- add -----------------------------------------------------------------------


def check_name(name: str) -> None:
    """A name a NAS can send: one User-Name of 1..253 octets (RFC 2865 §5.1), printable."""
    if not name or len(name.encode("utf-8")) > 253 or not name.isprintable():
        raise UsageError(
            f"user name {name!r} cannot be a User-Name: it needs 1 to 253 octets "
            "and no control characters"
        )


def cmd_add(args: argparse.Namespace, cfg: Config) -> int:
    check_name(args.name)

    async def work(store: Store) -> User:
        # Refuse a taken name before asking for a password nobody will use.
        if await store.get_user(args.name) is not None:
            raise AlreadyExists(f'user "{args.name}" already exists')
        password_hash = await _new_password_hash() if args.password else None
        return await store.add_user(
            NewUser(
                args.name,
                email=args.email,
                phone=args.phone,
                first_name=args.first,
                last_name=args.last,
                password_hash=password_hash,
            )
        )

    user = run_with_store(cfg, work)
    extra = " with a local password" if user.password_hash else ""
    print(f'added user "{user.name}"{extra}')
    return 0


async def _new_password_hash() -> str:
    # getpass and argon2 both block; keep them off the event loop.
    password = await asyncio.to_thread(read_new_password)
    return await asyncio.to_thread(hash_password, password)


# -- list / show ---------------------------------------------------------------


def cmd_list(args: argparse.Namespace, cfg: Config) -> int:
    async def work(store: Store) -> tuple[list[User], list[Token]]:
        return await store.list_users(), await store.list_tokens()

    users, tokens = run_with_store(cfg, work)
    counts: dict[str, int] = {}
    for token in tokens:
        counts[token.username] = counts.get(token.username, 0) + 1
    rows = [
        (
            u.name,
            u.first_name or "",
            u.last_name or "",
            u.email or "",
            u.phone or "",
            "set" if u.password_hash else "",
            str(counts.get(u.name, 0)),
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
    async def work(store: Store) -> tuple[User | None, list[Token]]:
        return await store.get_user(args.name), await store.list_tokens(args.name)

    user, tokens = run_with_store(cfg, work)
    if user is None:
        raise missing(args.name)
    details = [
        ("name", user.name),
        ("first", user.first_name or ""),
        ("last", user.last_name or ""),
        ("email", user.email or ""),
        ("phone", user.phone or ""),
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
    async def work(store: Store) -> int:
        tokens = await store.list_tokens(args.name)
        if not await store.delete_user(args.name):
            raise missing(args.name)
        return len(tokens)

    count = run_with_store(cfg, work)
    print(f'deleted user "{args.name}" and {count} token{"" if count == 1 else "s"}')
    return 0


def cmd_passwd(args: argparse.Namespace, cfg: Config) -> int:
    async def work(store: Store) -> None:
        if await store.get_user(args.name) is None:
            raise missing(args.name)
        password_hash = await _new_password_hash()
        if not await store.set_password_hash(args.name, password_hash):
            raise missing(args.name)  # deleted while we were asking

    run_with_store(cfg, work)
    print(f'password set for user "{args.name}"')
    return 0
