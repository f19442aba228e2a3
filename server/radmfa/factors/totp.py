"""TOTP (RFC 6238) codes. The factor that checks them, with the replay guard
held in the store, is factors/otp.py (OtpFactor, also for HOTP).

pyotp makes the otpauth:// URIs and is the reference the tests check
against. On the hot path the code is computed straight from the raw seed
(RFC 4226 §5.3, a few lines): pyotp base32-decodes the seed for every
code, which was a tenth of a whole login's CPU time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime

import pyotp

from radmfa.core.model import Token

_DIGESTS = {"sha1": hashlib.sha1, "sha256": hashlib.sha256, "sha512": hashlib.sha512}


def totp_for(token: Token) -> pyotp.TOTP:
    secret = base64.b32encode(token.secret).decode("ascii")
    return pyotp.TOTP(secret, digits=token.digits, interval=token.period, digest=_DIGESTS[token.algorithm])


def provisioning_uri(token: Token, *, issuer: str) -> str:
    return totp_for(token).provisioning_uri(name=token.username, issuer_name=issuer)


def hotp(secret: bytes, counter: int, *, digits: int = 6, algorithm: str = "sha1") -> bytes:
    """RFC 4226 §5.3: HMAC over the 8-octet counter, dynamic truncation."""
    return code_at(secret, counter, digits, 10**digits, algorithm)


def code_at(secret: bytes, counter: int, digits: int, modulus: int, algorithm: str) -> bytes:
    """hotp() with ``modulus`` = 10**digits worked out once per window."""
    # One-shot HMAC (no hmac.HMAC object per code) and one bytes format for
    # the zero-padded digits: this runs for every step of every code checked.
    mac = hmac.digest(secret, counter.to_bytes(8, "big"), algorithm)
    offset = mac[-1] & 0x0F
    return b"%0*d" % (digits, (int.from_bytes(mac[offset : offset + 4], "big") & 0x7FFFFFFF) % modulus)


def matching_step(token: Token, code: bytes, *, now: datetime, window: int) -> int | None:
    """The time step whose code equals ``code`` within ±window steps, or None.

    Every candidate is compared (constant-time each), so timing does not
    reveal which step matched.
    """
    digits = token.digits
    if len(code) != digits or not code.isdigit():
        return None
    secret, algorithm, modulus = token.secret, token.algorithm, 10**digits
    current = int(now.timestamp()) // token.period
    found = None
    for step in range(current - window, current + window + 1):
        if hmac.compare_digest(code_at(secret, step, digits, modulus, algorithm), code):
            found = step
    return found
