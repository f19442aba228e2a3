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
from radmfa.cli.output import Row, add_format_option, write_rows
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
    try:
        data = args.file.read_bytes()
    except OSError as e:
        raise ImportFileError(f"cannot read {args.file}: {e.strerror}") from None
    fmt = args.format or file_format(args.file.name)
    if fmt == "csv" and (args.psk or args.password or args.psk_file or args.password_file):
        raise ImportFileError("--psk and --password are for PSKC files; a CSV file holds plain seeds")
    psk = password = None
    if fmt == "pskc":
        psk = _key_text(args.psk, args.psk_file, "Pre-shared key (hex): ", "key")
        if psk is not None and not _is_hex(psk):
            raise ImportFileError("--psk must be hex digits, e.g. 12345678901234567890123456789012")
        password = _key_text(args.password, args.password_file, "PSKC password: ", "password")
    return parse_tokens(data, where=args.file.name, fmt=fmt, psk=psk, password=password)


def _is_hex(text: str) -> bool:
    try:
        bytes.fromhex(text.strip())
    except ValueError:
        return False
    return True


def file_format(name: str) -> str:
    return "csv" if name.lower().endswith(".csv") else "pskc"


def parse_tokens(data: bytes, *, where: str, fmt: str, psk: str | None = None,
                 password: str | None = None) -> list[HardwareToken]:
    """A seed file's tokens, all checked (ImportFileError names the problem);
    ``psk`` is hex. The command and the management portal's upload both read here."""
    if fmt == "csv":
        if psk or password:
            raise ImportFileError("a pre-shared key or password is for PSKC files; a CSV file holds plain seeds")
        return read_csv(data, where=where)
    key = None
    if psk:
        try:
            key = bytes.fromhex(psk.strip())
        except ValueError:
            raise ImportFileError("the pre-shared key must be hex digits, e.g. 12345678901234567890123456789012") \
                from None
    return read_pskc(data, where=where, psk=key, password=password or None)


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


async def import_tokens(store: AdminStore, tokens: list[HardwareToken], where: str, *, by: str | None = None) -> str:
    """Store checked tokens in one transaction; what was imported, as said to the administrator."""
    count = await store.import_hardware_tokens(tokens)
    await adminlog.record(store, "token.import", where, f"{count} tokens", by=by)
    counts = {k: sum(t.kind == k for t in tokens) for k in ("totp", "hotp")}
    kinds = ", ".join(f"{n} {k}" for k, n in counts.items() if n)
    return f"imported {count} hardware tokens ({kinds}) from {where}"


def cmd_import(args: argparse.Namespace, cfg: Config) -> int:
    tokens = read_tokens(args)
    done = run_with_store(cfg, lambda store: import_tokens(store, tokens, args.file.name))
    print(f"{done}; assign them with 'radmfa token assign SERIAL USER'")
    return 0


def unassigned_rows(tokens: list[HardwareToken]) -> list[Row]:
    return [
        (t.serial, t.kind, t.digits, t.period if t.kind == "totp" else None, t.algorithm,
         t.counter if t.kind == "hotp" else None, t.label or "",
         format_time(t.imported_at) if t.imported_at else "")
        for t in tokens
    ]


def cmd_unassigned(args: argparse.Namespace, cfg: Config) -> int:
    tokens = run_with_store(cfg, lambda store: store.list_hardware_tokens())
    if not tokens and args.format == "table":
        print("no unassigned hardware tokens")
        return 0
    write_rows(UNASSIGNED_COLUMNS, unassigned_rows(tokens), args.format, sys.stdout)
    return 0


async def assign(store: AdminStore, serial: str, name: str, *, by: str | None = None) -> Token:
    if await store.get_user(name) is None:
        raise no_such_user(name)
    waiting = [t for t in await store.list_hardware_tokens() if t.serial == serial]
    if waiting:
        await refuse_same_secret(store, name, waiting[0].secret)
    token = await store.assign_hardware_token(serial, name)
    await adminlog.record(store, "token.assign", token.username, f"serial {serial}, token {token.id}", by=by)
    return token


def cmd_assign(args: argparse.Namespace, cfg: Config) -> int:
    token = run_with_store(cfg, lambda store: assign(store, args.serial, args.name))
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


async def resync(store: Store, serial: str, code1: str, code2: str, *, by: str | None = None) -> int:
    """Find an assigned HOTP token's counter from two consecutive codes; the counter of the second."""
    first, second = code1.strip().encode(), code2.strip().encode()
    token = await store.get_token_by_serial(serial)
    if token is None:
        raise NotFound(f"no assigned token with serial {serial!r}")
    if token.kind != "hotp":
        raise RadmfaError(f"token {serial} is {token.kind}; only HOTP (counter) tokens are resynchronised")
    counter = resync_counter(token, first, second)
    if counter is None:
        raise RadmfaError(
            f"token {serial}: the two codes are not consecutive codes within {RESYNC_WINDOW} counters "
            "of the last one used; press the button twice more and try again; nothing was changed"
        )
    # The counter of the second code is now used; the next press is accepted.
    if not await store.consume_otp_step(token.id, counter):
        raise RadmfaError(f"token {serial}: those codes were used already; nothing was changed")
    await adminlog.record(store, "token.resync", token.username, f"serial {serial}", by=by)
    return counter


def cmd_resync(args: argparse.Namespace, cfg: Config) -> int:
    counter = run_with_store(cfg, lambda store: resync(store, args.serial, args.code1, args.code2))
    print(f"token {args.serial} resynchronised: the next code is number {counter + 1}")
    return 0
