"""`radmfa token import|unassigned|assign|resync`: hardware OATH tokens.

Registered into the `token` group by cli/tokens.py. An import reads and
checks the whole file before the store is touched, and stores it in one
transaction: a bad file imports nothing.
"""

from __future__ import annotations

import argparse
import hmac
import sys
from pathlib import Path

from radmfa.cli import adminlog
from radmfa.cli.output import add_format_option, write_rows
from radmfa.cli.prompt import read_secret
from radmfa.cli.runner import run_with_store
from radmfa.config import Config
from radmfa.core.admin_model import HardwareToken
from radmfa.core.admin_ports import AdminStore, Store
from radmfa.core.model import Token
from radmfa.errors import NotFound, RadmfaError, no_such_user
from radmfa.factors.hotp import RESYNC_WINDOW, resync_counter
from radmfa.reports.rows import format_time
from radmfa.tokens_import import ImportFileError
from radmfa.tokens_import.csvfile import read_csv
from radmfa.tokens_import.pskc import read_pskc

UNASSIGNED_COLUMNS = ("serial", "type", "digits", "period", "algorithm", "counter", "label", "imported")


def register(cmds: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = cmds.add_parser("import", help="import hardware tokens from a PSKC (RFC 6030) or CSV seed file")
    p.add_argument("file", metavar="FILE", type=Path)
    p.add_argument("--format", choices=("pskc", "csv"), help="default: from the file name (.csv → csv)")
    keys = p.add_mutually_exclusive_group()
    keys.add_argument("--psk", metavar="HEX", help="PSKC pre-shared key (hex); '-' reads it from stdin (preferred)")
    keys.add_argument("--psk-file", metavar="PATH", type=Path, help="read the PSKC pre-shared key (hex) from a file")
    keys.add_argument("--password", metavar="PW", help="PSKC password (PBKDF2); '-' reads it from stdin (preferred)")
    keys.add_argument("--password-file", metavar="PATH", type=Path, help="read the PSKC password from a file")
    p.set_defaults(func=cmd_import)

    p = cmds.add_parser("unassigned", help="list imported hardware tokens not yet assigned to a user")
    add_format_option(p)
    p.set_defaults(func=cmd_unassigned)

    p = cmds.add_parser("assign", help="give an imported hardware token to a user")
    p.add_argument("serial", metavar="SERIAL")
    p.add_argument("name", metavar="USER")
    p.set_defaults(func=cmd_assign)

    p = cmds.add_parser("resync", help="resynchronise an HOTP token from two consecutive codes")
    p.add_argument("serial", metavar="SERIAL")
    p.add_argument("code1", metavar="CODE1")
    p.add_argument("code2", metavar="CODE2")
    p.set_defaults(func=cmd_resync)


def read_tokens(args: argparse.Namespace) -> list[HardwareToken]:
    """Parse and check the whole file; nothing is stored yet."""
    where = args.file.name
    try:
        data = args.file.read_bytes()
    except OSError as e:
        raise ImportFileError(f"cannot read {args.file}: {e.strerror}") from None
    fmt = args.format or ("csv" if args.file.suffix.lower() == ".csv" else "pskc")
    if fmt == "csv":
        if args.psk or args.password or args.psk_file or args.password_file:
            raise ImportFileError("--psk and --password are for PSKC files; a CSV file holds plain seeds")
        return read_csv(data, where=where)
    psk = None
    text = _key_text(args.psk, args.psk_file, "Pre-shared key (hex): ", "key")
    if text is not None:
        try:
            psk = bytes.fromhex(text.strip())
        except ValueError:
            raise ImportFileError("--psk must be hex digits, e.g. 12345678901234567890123456789012") from None
    password = _key_text(args.password, args.password_file, "PSKC password: ", "password")
    return read_pskc(data, where=where, psk=psk, password=password)


def _key_text(value: str | None, path: Path | None, prompt: str, what: str) -> str | None:
    """The key from the command line, stdin ('-') or a file (its first line):
    stdin and files keep it out of ps and the shell history."""
    if path is not None:
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as e:
            raise ImportFileError(f"cannot read the {what} file {path}: {e}") from None
        if not lines or not lines[0]:
            raise ImportFileError(f"the {what} file {path} is empty")
        return lines[0]
    if value == "-":
        return read_secret(prompt, what=what)
    return value


def cmd_import(args: argparse.Namespace, cfg: Config) -> int:
    tokens = read_tokens(args)

    async def work(store: AdminStore) -> int:
        count = await store.import_hardware_tokens(tokens)
        await adminlog.record(store, "token.import", args.file.name, f"{count} tokens")
        return count

    count = run_with_store(cfg, work)
    counts = {k: sum(t.kind == k for t in tokens) for k in ("totp", "hotp")}
    kinds = ", ".join(f"{n} {k}" for k, n in counts.items() if n)
    print(f"imported {count} hardware tokens ({kinds}) from {args.file.name}; "
          "assign them with 'radmfa token assign SERIAL USER'")
    return 0


def cmd_unassigned(args: argparse.Namespace, cfg: Config) -> int:
    tokens = run_with_store(cfg, lambda store: store.list_hardware_tokens())
    if not tokens and args.format == "table":
        print("no unassigned hardware tokens")
        return 0
    rows = [
        (t.serial, t.kind, t.digits, t.period if t.kind == "totp" else None,
         t.counter if t.kind == "hotp" else None, t.algorithm, t.label or "",
         format_time(t.imported_at) if t.imported_at else "")
        for t in tokens
    ]
    write_rows(UNASSIGNED_COLUMNS, rows, args.format, sys.stdout)
    return 0


def cmd_assign(args: argparse.Namespace, cfg: Config) -> int:
    async def work(store: AdminStore) -> Token:
        if await store.get_user(args.name) is None:
            raise no_such_user(args.name)
        waiting = [t for t in await store.list_hardware_tokens() if t.serial == args.serial]
        if waiting:
            await refuse_same_secret(store, args.name, waiting[0].secret)
        token = await store.assign_hardware_token(args.serial, args.name)
        await adminlog.record(store, "token.assign", token.username, f"serial {args.serial}, token {token.id}")
        return token

    token = run_with_store(cfg, work)
    print(f"assigned {token.kind} token {args.serial} to {token.username}: id {token.id}")
    return 0


async def refuse_same_secret(store: AdminStore, username: str, seed: bytes) -> None:
    """A second token with a seed the user already has adds no factor (its
    codes are the first one's, whatever its digits): refused, naming the
    token that has it."""
    for token in await store.list_tokens(username):
        if hmac.compare_digest(token.secret, seed):
            raise RadmfaError(
                f'user "{token.username}" already has a token with this secret (id {token.id}, '
                f"{token.kind}); nothing was stored"
            )


def cmd_resync(args: argparse.Namespace, cfg: Config) -> int:
    code1, code2 = args.code1.strip().encode(), args.code2.strip().encode()

    async def work(store: Store) -> int:
        token = await store.get_token_by_serial(args.serial)
        if token is None:
            raise NotFound(f"no assigned token with serial {args.serial!r}")
        if token.kind != "hotp":
            raise RadmfaError(f"token {args.serial} is {token.kind}; only HOTP (counter) tokens are resynchronised")
        counter = resync_counter(token, code1, code2)
        if counter is None:
            raise RadmfaError(
                f"token {args.serial}: the two codes are not consecutive codes within {RESYNC_WINDOW} counters "
                "of the last one used; press the button twice more and try again; nothing was changed"
            )
        # The counter of the second code is now used; the next press is accepted.
        if not await store.consume_otp_step(token.id, counter):
            raise RadmfaError(f"token {args.serial}: those codes were used already; nothing was changed")
        await adminlog.record(store, "token.resync", token.username, f"serial {args.serial}")
        return counter

    counter = run_with_store(cfg, work)
    print(f"token {args.serial} resynchronised: the next code is number {counter + 1}")
    return 0
