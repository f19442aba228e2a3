"""TOTP (RFC 6238) codes. The factor that checks them, with the replay guard
held in the store, is factors/otp.py (OtpFactor, also for HOTP).

pyotp makes the otpauth:// URIs and is the reference the tests check
against. On the hot path the code is computed straight from the raw seed
(RFC 4226 §5.3, a few lines): pyotp base32-decodes the seed for every
code, which was a tenth of a whole login's CPU time.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import struct
from datetime import datetime

import pyotp

from radmfa.core.model import Token

_DIGESTS = {"sha1": hashlib.sha1, "sha256": hashlib.sha256, "sha512": hashlib.sha512}
_BLOCK_SIZES = {name: new().block_size for name, new in _DIGESTS.items()}


def totp_for(token: Token) -> pyotp.TOTP:
    secret = base64.b32encode(token.secret).decode("ascii")
    return pyotp.TOTP(secret, digits=token.digits, interval=token.period, digest=_DIGESTS[token.algorithm])


def provisioning_uri(token: Token, *, issuer: str) -> str:
    return totp_for(token).provisioning_uri(name=token.username, issuer_name=issuer)


def hotp(secret: bytes, counter: int, *, digits: int = 6, algorithm: str = "sha1") -> bytes:
    """RFC 4226 §5.3: HMAC over the 8-octet counter, dynamic truncation."""
    return _truncated(hmac.digest(secret, counter.to_bytes(8, "big"), algorithm), digits)


def codes(secret: bytes, counters: range, *, digits: int, algorithm: str) -> list[bytes]:
    """hotp() of each counter in ``counters``: the codes of a window.

    HMAC (RFC 2104) written out: the padded key's inner and outer blocks are
    made once for the whole window, then each code is two plain hashes.
    One-shot HMAC sets up a keyed context for every code, and with OpenSSL 3
    that setup costs more than the hashing itself. The truncation is
    _truncated()'s, written into the loop (a call and a slice fewer a code).
    """
    new = _DIGESTS.get(algorithm) or functools.partial(hashlib.new, algorithm)
    size = _BLOCK_SIZES.get(algorithm) or new().block_size
    if len(secret) > size:  # RFC 2104 §2: a longer key is hashed first
        secret = new(secret).digest()
    key = secret.ljust(size, b"\0")
    inner, outer = key.translate(_IPAD), key.translate(_OPAD)
    modulus = 10**digits
    out = []
    for counter in counters:
        mac = new(outer + new(inner + _COUNTER(counter)).digest()).digest()
        out.append(b"%0*d" % (digits, (_WORD(mac, mac[-1] & 0x0F)[0] & 0x7FFFFFFF) % modulus))
    return out


def _truncated(mac: bytes, digits: int) -> bytes:
    """RFC 4226 §5.3: dynamic truncation to ``digits`` decimal digits."""
    offset = mac[-1] & 0x0F
    return b"%0*d" % (digits, (int.from_bytes(mac[offset : offset + 4], "big") & 0x7FFFFFFF) % 10**digits)


_IPAD = bytes(b ^ 0x36 for b in range(256))  # RFC 2104 §2, as bytes.translate tables
_OPAD = bytes(b ^ 0x5C for b in range(256))
_COUNTER = struct.Struct(">Q").pack  # RFC 4226 §5.2: the 8-octet counter, high-order byte first
_WORD = struct.Struct(">I").unpack_from  # the four octets at the truncation offset


def matching_step(token: Token, code: bytes, *, now: datetime, window: int) -> int | None:
    """The latest time step whose code equals ``code`` within ±window steps, or None.

    The current step and the later ones are computed first and the earlier
    ones only when none of those matches: nearly every code is the current
    step's, and the answer is the same as computing the whole window (the
    latest match wins, so a code that two steps share consumes the later
    one). Each candidate computed is compared in constant time, and a wrong
    code computes every step of the window: what the time taken can tell is
    only whether a correct code was an earlier step's, which the store's
    answer to a correct code tells anyway.
    """
    if len(code) != token.digits or not code.isdigit():
        return None
    current = int(now.timestamp()) // token.period
    found = _latest(token, code, current, current + window + 1)
    return found if found is not None else _latest(token, code, current - window, current)


def _latest(token: Token, code: bytes, start: int, stop: int) -> int | None:
    """The last step of ``start`` … ``stop - 1`` whose code is ``code``; every candidate compared."""
    found = None
    step = start
    for candidate in codes(token.secret, range(start, stop), digits=token.digits, algorithm=token.algorithm):
        if hmac.compare_digest(candidate, code):
            found = step
        step += 1
    return found
