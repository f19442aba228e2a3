"""CSV seed files: serial, base32 secret, period, and optionally digits,
algorithm, type (totp | hotp) and counter.

With a header row (its first cell is "serial") columns are found by name;
"interval" or "time interval" is taken for "period", "secret key" for
"secret". Without one, columns are positional in the order above, which is
what the seed product's importer took: serial, secret, time interval.
"""

from __future__ import annotations

import base64
import binascii
import csv
import io

from radmfa.core.admin_model import HardwareToken
from radmfa.tokens_import import ImportFileError, checked

COLUMNS = ("serial", "secret", "period", "digits", "algorithm", "type", "counter")
_ALIASES = {"secret key": "secret", "seed": "secret", "interval": "period", "time interval": "period",
            "timestep": "period", "kind": "type", "serial number": "serial"}


def read_csv(data: bytes, *, where: str) -> list[HardwareToken]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ImportFileError(f"{where}: not UTF-8 text") from None
    rows = [r for r in csv.reader(io.StringIO(text)) if any(cell.strip() for cell in r)]
    if not rows:
        raise ImportFileError(f"{where}: no tokens in the file")
    columns: tuple[str, ...] = COLUMNS
    first_line = 1
    if rows[0][0].strip().lower() in ("serial", "serial number"):
        columns = tuple(_ALIASES.get(c.strip().lower(), c.strip().lower()) for c in rows[0])
        missing = {"serial", "secret"} - set(columns)
        if missing:
            raise ImportFileError(f"{where}: the header has no {' or '.join(sorted(missing))} column")
        rows, first_line = rows[1:], 2
    return [
        checked(_token(dict(zip(columns, (c.strip() for c in row), strict=False)), f"{where} line {n}"),
                f"{where} line {n}")
        for n, row in enumerate(rows, start=first_line)
    ]


def _token(cells: dict[str, str], where: str) -> HardwareToken:
    serial = cells.get("serial", "")
    secret_text = "".join(cells.get("secret", "").split()).replace("-", "").upper().rstrip("=")
    try:
        secret = base64.b32decode(secret_text + "=" * (-len(secret_text) % 8))
    except (binascii.Error, ValueError):
        raise ImportFileError(f"{where}: token {serial!r}: the secret is not base32 (A-Z, 2-7)") from None
    kind = (cells.get("type") or "totp").lower()
    try:
        period = int(cells.get("period") or 30)
        digits = int(cells.get("digits") or 6)
        counter = int(cells.get("counter") or 0)
    except ValueError:
        raise ImportFileError(f"{where}: token {serial!r}: period, digits or counter is not a number") from None
    algorithm = (cells.get("algorithm") or "sha1").lower().replace("-", "").replace("hmac", "")
    return HardwareToken(serial=serial, kind=kind, secret=secret, digits=digits, period=period,
                         algorithm=algorithm, counter=counter)
