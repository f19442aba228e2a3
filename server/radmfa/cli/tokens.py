"""`radmfa token add|list|delete`."""

from __future__ import annotations

import argparse
import base64
import binascii
import secrets
import sys
from datetime import UTC, datetime

from radmfa.cli import adminlog, hardware
from radmfa.cli.output import add_format_option, write_rows
from radmfa.cli.parsing import add_user_filter, user_filter
from radmfa.cli.prompt import read_secret
from radmfa.cli.runner import run_with_store
from radmfa.config import Config
from radmfa.core.admin_ports import AdminStore
from radmfa.core.model import NewToken, Token
from radmfa.errors import NotFound, RadmfaError, no_such_user
from radmfa.factors.totp import provisioning_uri
from radmfa.reports.rows import format_time

SEED_BYTES = 20  # 160 bits, as RFC 4226 §4 R6 recommends
MIN_SEED_BYTES = 16  # 128 bits, the least RFC 4226 §4 R6 allows (pyotp refuses < 112)
TOKEN_TYPES = ("totp",)
TOKEN_COLUMNS = (
    "id", "user", "type", "digits", "period", "algorithm", "label", "created", "last_used", "serial",
)
_BASE32 = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    group = sub.add_parser("token", help="add, list and delete one-time-code tokens")
    cmds = group.add_subparsers(title="token commands", metavar="COMMAND", required=True)

    p = cmds.add_parser("add", help="add a token to a user and print its otpauth:// URI")
    p.add_argument("name", metavar="NAME", help="the user")
    p.add_argument("--type", choices=TOKEN_TYPES, default="totp", help="default: totp (an authenticator app)")
    p.add_argument(
        "--secret",
        metavar="BASE32",
        help="an existing seed (≥ 128 bits) instead of a new random one; '-' reads it from stdin",
    )
    p.add_argument("--digits", type=int, choices=(6, 7, 8), default=6)
    p.add_argument("--period", type=_period, default=30, metavar="S", help="seconds per code")
    p.add_argument("--algorithm", choices=("sha1", "sha256", "sha512"), default="sha1")
    p.add_argument("--label", metavar="L", help="a note such as the device name")
    p.set_defaults(func=cmd_add)

    p = cmds.add_parser("list", help="list tokens (of one user, or all)")
    add_user_filter(p, "tokens")
    add_format_option(p)
    p.set_defaults(func=cmd_list)

    p = cmds.add_parser("delete", help="delete a token by its id")
    p.add_argument("token_id", metavar="ID", type=int)
    p.set_defaults(func=cmd_delete)

    hardware.register(cmds)  # import, unassigned, assign, resync


def _period(text: str) -> int:
    # RFC 6238 §5.2 recommends 30 s; hardware tokens use 30 or 60.
    if not text.isdigit() or not 10 <= int(text) <= 300:
        raise argparse.ArgumentTypeError(f"must be whole seconds from 10 to 300, got {text!r}")
    return int(text)


def decode_seed(text: str, *, owner: str) -> bytes:
    """A base32 seed as authenticator apps print it (any case, spaces, no padding).

    ``owner`` names the token in errors, e.g. ``token for user "bob"``.
    """
    cleaned = "".join(text.split()).replace("-", "").upper().rstrip("=")
    try:
        if not cleaned or not _BASE32.issuperset(cleaned):
            raise ValueError
        seed = base64.b32decode(cleaned + "=" * (-len(cleaned) % 8))
    except (ValueError, binascii.Error):
        raise RadmfaError(
            f"{owner}: --secret is not valid base32 (letters A-Z and digits 2-7); "
            "nothing was stored"
        ) from None
    if len(seed) < MIN_SEED_BYTES:
        raise RadmfaError(
            f"{owner}: --secret holds {len(seed)} bytes ({len(seed) * 8} bits); a seed must "
            f"have at least {MIN_SEED_BYTES} bytes (128 bits, RFC 4226 R6); nothing was stored"
        )
    return seed


def cmd_add(args: argparse.Namespace, cfg: Config) -> int:
    owner = f'{args.type} token for user "{args.name}"'
    if args.secret is None:
        seed = secrets.token_bytes(SEED_BYTES)
    else:
        from_stdin = args.secret == "-"  # noqa: S105 - "-" names stdin; it is no password
        text = read_secret("Seed (base32): ", what="seed") if from_stdin else args.secret
        seed = decode_seed(text, owner=owner)
    new = NewToken(
        args.type, seed, digits=args.digits, period=args.period,
        algorithm=args.algorithm, label=args.label,
    )
    # The URI does not depend on the row id; making it before the store is
    # touched means a failure here leaves nothing half-written.
    uri = provisioning_uri(_unsaved(args.name, new), issuer=cfg.mfa.issuer)

    async def work(store: AdminStore) -> Token:
        if await store.get_user(args.name) is None:
            raise no_such_user(args.name)
        await hardware.refuse_same_secret(store, args.name, seed)
        token = await store.add_token(args.name, new)
        await adminlog.record(store, "token.add", token.username, f"id={token.id} type={token.kind}")
        return token

    token = run_with_store(cfg, work)
    print(f"added {owner}: id {token.id}, {token.digits} digits every {token.period}s, "
          f"{token.algorithm}")
    print(uri)
    if sys.stdout.isatty():
        _print_qr(uri)
    return 0


def _unsaved(username: str, new: NewToken) -> Token:
    return Token(
        id=0, username=username, kind=new.kind, secret=new.secret, digits=new.digits,
        period=new.period, algorithm=new.algorithm, label=new.label,
    )


def _print_qr(uri: str) -> None:
    import qrcode  # imported only when there is a terminal to draw on

    qr = qrcode.QRCode(border=1)
    qr.add_data(uri)
    qr.print_ascii(out=sys.stdout, tty=True)


def cmd_list(args: argparse.Namespace, cfg: Config) -> int:
    name = user_filter(args)

    async def work(store: AdminStore) -> list[Token]:
        if name is not None and await store.get_user(name) is None:
            raise no_such_user(name)
        return await store.list_tokens(name)

    tokens = run_with_store(cfg, work)
    if not tokens and args.format == "table":
        print("no tokens")
        return 0
    write_rows(TOKEN_COLUMNS, token_rows(tokens), args.format, sys.stdout)
    return 0


def cmd_delete(args: argparse.Namespace, cfg: Config) -> int:
    async def work(store: AdminStore) -> bool:
        owners = {t.id: t.username for t in await store.list_tokens()}
        if not await store.delete_token(args.token_id):
            return False
        await adminlog.record(store, "token.delete", owners.get(args.token_id, ""), f"id={args.token_id}")
        return True

    if not run_with_store(cfg, work):
        raise NotFound(f"token {args.token_id} does not exist (see 'radmfa token list')")
    print(f"deleted token {args.token_id}")
    return 0


def token_rows(tokens: list[Token]) -> list[tuple[str | int | None, ...]]:
    """Token metadata in TOKEN_COLUMNS order (period in seconds, none for a
    counter token); never the seed."""
    return [
        (
            t.id,
            t.username,
            t.kind,
            t.digits,
            t.period if t.kind == "totp" else None,
            t.algorithm,
            t.label or "",
            format_time(t.created_at) if t.created_at else "",
            _last_used(t),
            t.serial or "",  # hardware tokens
        )
        for t in tokens
    ]


def _last_used(token: Token) -> str:
    if token.last_step is None:
        return ""
    if token.kind == "hotp":  # a counter has no time: the last press accepted
        return f"counter {token.last_step}"
    # The last accepted TOTP step: when that code was current (± one period).
    return format_time(datetime.fromtimestamp(token.last_step * token.period, UTC))
