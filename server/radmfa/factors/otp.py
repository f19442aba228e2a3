"""One-time codes from any of the user's tokens: TOTP apps and hardware
tokens, TOTP or HOTP. The pipeline asks this one factor; each token is
checked the way its kind says, and the code is accepted once, atomically.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from radmfa.core.model import Claimed, CodeCheck, CodeClaim, MfaSuccess, Token, User, UserState
from radmfa.core.ports import CodeStore
from radmfa.factors import hotp
from radmfa.factors.totp import matching_step

_BLOCKED = UserState.BLOCKED  # a global, compared on every answer: core/model.py says why


class OtpFactor:
    def __init__(
        self,
        store: CodeStore,
        *,
        prompt: str,
        kinds: tuple[str, ...] = ("totp", "hotp"),
        name: str = "otp",
        totp_window: int = 1,
        hotp_window: int = hotp.LOOK_AHEAD,
        max_failures: int = 10,
        lockout_s: int = 300,
    ) -> None:
        self.store = store
        self.prompt = prompt
        self.kinds = kinds
        self.name = name
        self.totp_window = totp_window
        self.hotp_window = hotp_window
        self.max_failures = max_failures
        self.lockout = timedelta(seconds=lockout_s)

    def usable(self, tokens: list[Token]) -> list[Token]:
        return [t for t in tokens if t.kind in self.kinds]

    def method(self, tokens: list[Token], check: CodeCheck | None = None) -> str:
        """What the audit row calls this code: the kind of the token that
        matched; before a match (a prompt, a wrong code) the kind of the
        user's tokens, `totp` when they have any TOTP token."""
        if check is not None and check.kind:
            return check.kind
        hotp_only = False  # of the usable ones: some, and all HOTP
        for token in tokens:
            if token.kind in self.kinds:
                if token.kind != "hotp":
                    return "totp"
                hotp_only = True
        return "hotp" if hotp_only else "totp"

    def start(self, user: User, tokens: list[Token]) -> str:
        return self.prompt

    def locked(self, token: Token, *, now: datetime) -> bool:
        """Too many wrong codes lately (counted per token in the store, across
        workers): the token takes no guesses until the lockout has passed."""
        return (
            token.fail_count >= self.max_failures
            and token.failed_at is not None
            and now - token.failed_at < self.lockout
        )

    def _match(self, token: Token, code: bytes, now: datetime) -> int | None:
        if token.kind == "hotp":
            return hotp.matching_counter(token, code, window=self.hotp_window)
        return matching_step(token, code, now=now, window=self.totp_window)

    async def verify(
        self, tokens: list[Token], code: bytes, *, now: datetime, success: MfaSuccess | None = None
    ) -> CodeCheck:
        kinds, limit = self.kinds, self.max_failures
        # usable, not locked (locked() only for a token with enough failures to be)
        candidates = [t for t in tokens if t.kind in kinds and (t.fail_count < limit or not self.locked(t, now=now))]
        if not candidates:
            return CodeCheck(False, "too many wrong codes; token locked")
        replayed = False
        for token in candidates:
            step = (  # _match, without a call of its own
                hotp.matching_counter(token, code, window=self.hotp_window) if token.kind == "hotp"
                else matching_step(token, code, now=now, window=self.totp_window)
            )
            if step is None:
                continue
            # RFC 6238 §5.2 / RFC 4226 §7.2: the step or counter moves forward
            # atomically in the store; of two workers racing, one wins.
            # With ``success``, the login's MFA success is written in the same trip.
            if await self.store.consume_otp_step(token.id, step, success=success):
                return CodeCheck(True, f"{token.kind} ok", token.id, token.kind, recorded=success is not None)
            replayed = True
        await self.store.note_code_failure([t.id for t in candidates], now=now)
        return CodeCheck(False, "code already used" if replayed else "wrong code")

    def match(self, tokens: list[Token], code: bytes, *, now: datetime) -> tuple[Token, int] | None:
        """The first usable token, not locked, whose code ``code`` is, with
        its step (verify()'s first match, without the store)."""
        for token in tokens:
            if token.kind not in self.kinds or (token.fail_count >= self.max_failures
                                                and self.locked(token, now=now)):  # not usable, or locked
                continue
            step = self._match(token, code, now)
            if step is not None:
                return token, step
        return None

    async def claim(
        self, state: bytes, user: User, tokens: list[Token], code: bytes, *, success: MfaSuccess
    ) -> tuple[Claimed, str]:
        now = success.now
        # A blocked user's answer is decided on what the store says now.
        found = self.match(tokens, code, now=now) if user.state is not _BLOCKED else None
        if found is None:
            return Claimed.UNKNOWN, ""  # a wrong code is counted as verify() counts it
        token, step = found
        # The store checks that the token is still not locked (with today's
        # counts) and the user still in the state matched here; an HOTP
        # counter moved meanwhile fails the step's compare-and-set.
        claim = CodeClaim(state, user.id, user.state, token.id, step, self.max_failures, now - self.lockout, success)
        return await self.store.claim_code(claim), token.kind
