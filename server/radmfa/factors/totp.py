"""TOTP (RFC 6238) with a replay guard held in the store.

pyotp makes the otpauth:// URIs and is the reference the tests check
against. On the hot path the code is computed straight from the raw seed
(RFC 4226 §5.3, a few lines): pyotp base32-decodes the seed for every
code, which was a tenth of a whole login's CPU time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime, timedelta

import pyotp

from radmfa.core.model import CodeCheck, Token, User
from radmfa.core.ports import Store

_DIGESTS = {"sha1": hashlib.sha1, "sha256": hashlib.sha256, "sha512": hashlib.sha512}


def totp_for(token: Token) -> pyotp.TOTP:
    secret = base64.b32encode(token.secret).decode("ascii")
    return pyotp.TOTP(secret, digits=token.digits, interval=token.period, digest=_DIGESTS[token.algorithm])


def provisioning_uri(token: Token, *, issuer: str) -> str:
    return totp_for(token).provisioning_uri(name=token.username, issuer_name=issuer)


def hotp(secret: bytes, counter: int, *, digits: int = 6, algorithm: str = "sha1") -> bytes:
    """RFC 4226 §5.3: HMAC over the 8-octet counter, dynamic truncation."""
    mac = hmac.digest(secret, counter.to_bytes(8, "big"), algorithm)
    offset = mac[-1] & 0x0F
    value = int.from_bytes(mac[offset : offset + 4], "big") & 0x7FFFFFFF
    return str(value % 10**digits).zfill(digits).encode("ascii")


def matching_step(token: Token, code: bytes, *, now: datetime, window: int) -> int | None:
    """The time step whose code equals ``code`` within ±window steps, or None.

    Every candidate is compared (constant-time each), so timing does not
    reveal which step matched.
    """
    if len(code) != token.digits or not code.isdigit():
        return None
    current = int(now.timestamp()) // token.period
    found = None
    for step in range(current - window, current + window + 1):
        candidate = hotp(token.secret, step, digits=token.digits, algorithm=token.algorithm)
        if hmac.compare_digest(candidate, code):
            found = step
    return found


class TotpFactor:
    name = "totp"

    def __init__(
        self,
        store: Store,
        *,
        window: int = 1,
        prompt: str,
        max_failures: int = 10,
        lockout_s: int = 300,
    ) -> None:
        self.store = store
        self.window = window
        self.prompt = prompt
        self.max_failures = max_failures
        self.lockout = timedelta(seconds=lockout_s)

    def usable(self, tokens: list[Token]) -> list[Token]:
        return [t for t in tokens if t.kind == "totp"]

    def start(self, user: User, tokens: list[Token]) -> str:
        return self.prompt

    def locked(self, token: Token, *, now: datetime) -> bool:
        """Too many wrong codes lately: the token takes no guesses for a while.

        The State's max_attempts only limits guesses per challenge; with the
        password an attacker could open challenges without end, so wrong codes
        are also counted per token, in the store, across workers and nodes.
        """
        return (
            token.fail_count >= self.max_failures
            and token.failed_at is not None
            and now - token.failed_at < self.lockout
        )

    async def verify(self, tokens: list[Token], code: bytes, *, now: datetime) -> CodeCheck:
        candidates = [t for t in self.usable(tokens) if not self.locked(t, now=now)]
        if not candidates:
            return CodeCheck(False, "too many wrong codes; token locked")
        replayed = False
        for token in candidates:
            step = matching_step(token, code, now=now, window=self.window)
            if step is None:
                continue
            # The replay guard: a step is accepted once per token, atomically
            # in the store, so two workers racing on one code cannot both win.
            if await self.store.consume_otp_step(token.id, step):
                return CodeCheck(True, "totp ok", token.id)
            replayed = True
        await self.store.note_code_failure([t.id for t in candidates], now=now)
        return CodeCheck(False, "code already used" if replayed else "wrong code")
