"""Reading hardware-token seed files: PSKC (RFC 6030) and CSV.

Both produce HardwareToken values, checked (seed length, digits, period,
algorithm) before anything reaches the store, so a bad file changes nothing.
"""

from __future__ import annotations

from radmfa.core.admin_model import HardwareToken
from radmfa.errors import RadmfaError

MIN_SEED_BYTES = 16  # RFC 4226 §4 R6: at least 128 bits
ALGORITHMS = ("sha1", "sha256", "sha512")


class ImportFileError(RadmfaError):
    """The seed file cannot be imported; the message names the token and the rule."""


def checked(token: HardwareToken, where: str) -> HardwareToken:
    """``token`` if it is usable, else ImportFileError naming it."""
    name = f"{where}: token {token.serial!r}"
    if not token.serial or len(token.serial) > 64 or not token.serial.isprintable():
        raise ImportFileError(f"{where}: a token has no usable serial number (1-64 printable characters)")
    if len(token.secret) < MIN_SEED_BYTES:
        raise ImportFileError(
            f"{name}: the seed is {len(token.secret) * 8} bits; seeds must have at least "
            f"{MIN_SEED_BYTES * 8} bits (RFC 4226 §4 R6); nothing was imported"
        )
    if token.kind not in ("totp", "hotp"):
        raise ImportFileError(f"{name}: type {token.kind!r} is not totp or hotp")
    if token.digits not in (6, 7, 8):
        raise ImportFileError(f"{name}: {token.digits} digits; radmfa accepts 6, 7 or 8")
    if token.kind == "totp" and not 10 <= token.period <= 300:
        raise ImportFileError(f"{name}: time step {token.period}s; radmfa accepts 10-300 seconds")
    if token.algorithm not in ALGORITHMS:
        raise ImportFileError(f"{name}: algorithm {token.algorithm!r}; radmfa accepts {', '.join(ALGORITHMS)}")
    if token.counter < 0:
        raise ImportFileError(f"{name}: negative counter {token.counter}")
    return token
