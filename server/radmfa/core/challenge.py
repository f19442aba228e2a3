"""The one challenge path: how the core rejects, challenges, opens a
challenge session and ends one answered with a code.

  reject       every Access-Reject the core decides
  challenge    every Access-Challenge: Reply-Message, State, Prompt
  Challenges   opens a session under a fresh State and asks; the tail of
               every code answer (an app's code, a texted or e-mailed one,
               a code typed at the phone menu): accept, lockout, another
               attempt under a new State, or the end

State handling lives here: each challenge gets its own single-use State of
16 random octets (CHAL-3), stored with the session before it is sent; the
session's phase moves only by core/session.py's table.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING

from radmfa.core import policy, session
from radmfa.core.exemptions import Rule
from radmfa.core.model import Attr, AuthRequest, Decision, Phase, Session, Token, User, Verdict
from radmfa.core.ports import ChallengeStore
from radmfa.radius.packet import reply_messages
from radmfa.radius.wire import PROMPT, REPLY_MESSAGE, STATE

if TYPE_CHECKING:
    from radmfa.config import MfaConfig
    from radmfa.core.controls import AdminControls

_PROMPT_ECHO = b"\x00\x00\x00\x01"  # RFC 2869 §5.10: Prompt = Echo
STATE_OCTETS = 16  # ≥ 128 random bits (CHAL-3)
# Code challenges this process asked, kept for their answer, at most this many.
HELD_SIZE = 4096
# Enum members compared against on every request, as globals (core/model.py says why).
_CHALLENGE = Verdict.CHALLENGE
_AWAITING_CODE = Phase.AWAITING_CODE


def reject(
    reason: str, message: str | None = None, *, factor: str = "", local: bool = True, backend_failure: bool = False
) -> Decision:
    """``message`` goes to the user as Reply-Message; ``local`` is False for
    the upstream's own reject (relayed, not delayed: PROXY-9)."""
    attrs = tuple(reply_messages(message)) if message else ()
    return Decision(Verdict.REJECT, reason, factor, attrs, local, backend_failure)


def challenge(state: bytes, prompt: str, reason: str, factor: str, user: User | None = None) -> Decision:
    """The prompt fitted into one Reply-Message (RFC 2865 §5.18), our State,
    and Prompt = Echo: the user types a code they may see. ``user``: who the
    request named (Decision.user)."""
    attrs = ((REPLY_MESSAGE, policy.fit_text(prompt)), (STATE, state), (PROMPT, _PROMPT_ECHO))
    return Decision(_CHALLENGE, reason, factor, attrs, user=user)


def new_state() -> bytes:
    return secrets.token_bytes(STATE_OCTETS)


class Challenges:
    def __init__(self, mfa: MfaConfig, store: ChallengeStore, controls: AdminControls) -> None:
        self.mfa, self.store, self.controls = mfa, store, controls
        # The code challenges this process asked, by State, with the user and
        # tokens read for them: the answer usually comes back here, and its
        # code can then be checked before the store is asked anything (one
        # trip for the session and the step, CodeStore.claim_code). Only a
        # hint: the store still decides, and takes each State once.
        # Bounded: when full it starts over.
        self._held: dict[bytes, tuple[Session, User, list[Token], str]] = {}

    def open(self, request: AuthRequest, factor: str, attrs: tuple[Attr, ...], *, now: datetime) -> Session:
        """A new session for this request's client and User-Name; ``attrs``
        are the upstream's, for the final Access-Accept."""
        return session.open_session(
            state=new_state(),
            client=request.client,
            username=request.username or b"",
            factor=factor,
            reply_attrs=attrs,
            ttl_s=self.mfa.challenge_ttl_s,
            now=now,
        )

    @staticmethod
    def moved_to(found: Session, factor: str, state: bytes) -> Session:
        """The menu's session, now waiting for ``factor``'s code under ``state``
        (same expiry and attempts)."""
        return replace(found, state=state, factor=factor)

    async def ask(
        self, opened: Session, prompt: str, reason: str, *, user: User | None = None,
        tokens: list[Token] | None = None, name: str | None = None,
    ) -> Decision:
        """Store the session, then challenge with its State; a code
        challenge's ``user``, ``tokens`` and ``name`` (the session's
        User-Name as policy.decode_name read it) are kept for held(), and
        the challenge names ``user``."""
        await self.store.put_session(opened)
        if user is not None and tokens is not None and name is not None:
            if len(self._held) >= HELD_SIZE:
                self._held.clear()
            self._held[opened.state] = (opened, user, tokens, name)
        return challenge(opened.state, prompt, reason, opened.factor, user)

    def held(self, state: bytes) -> tuple[Session, User, list[Token], str] | None:
        """The session stored under ``state`` by ask() in this process, with
        its user, tokens and decoded name as read then; once (the State is
        single use)."""
        return self._held.pop(state, None)

    @staticmethod
    def accepts(found: Session, *, now: datetime) -> bool:
        """Whether a correct code would accept ``found`` now (answered()'s
        first test, pure): only then may its check write the MFA success.
        session.advance's CODE_OK without the Session it builds: only
        AWAITING_CODE has the transition, and an expired session moves to
        EXPIRED instead (tests/unit: the same answer as advance for every
        phase, before, at and after the expiry)."""
        return found.phase is _AWAITING_CODE and found.expires_at > now

    async def answered(
        self,
        found: Session,
        request: AuthRequest,
        user: User | None,
        *,
        ok: bool,
        reason: str,
        method: str,
        next_state: bytes,
        retry: Callable[[], Awaitable[str]],
        now: datetime,
        recorded: bool = False,
    ) -> Decision:
        """End a challenge answered with a code: ``ok`` accepts (while the
        session is still valid); a wrong one counts towards the lockout, then
        asks again under ``next_state`` with the text ``retry`` makes, while
        attempts are left. ``recorded``: the MFA success was already written
        with the code (only ever when accepts() said so)."""
        if ok:
            done = session.advance(found, session.Event.CODE_OK, max_attempts=self.mfa.max_attempts, now=now)
            if done.phase is Phase.ACCEPTED:
                if user is not None:
                    await self.controls.succeeded(request, user, now=now, recorded=recorded)
                return Decision(Verdict.ACCEPT, "password and code", method, found.reply_attrs)
            return reject("challenge expired", factor=method)
        if user is not None and await self.controls.failed(user, now=now):
            return reject(Rule.LOCKOUT.value, factor=method)
        nxt = session.advance(
            found, session.Event.CODE_WRONG, max_attempts=self.mfa.max_attempts, new_state=next_state, now=now
        )
        if nxt.phase is not Phase.AWAITING_CODE:
            return reject(f"{reason}, no attempts left", factor=method)
        text = await retry()
        await self.store.put_session(nxt)
        return challenge(nxt.state, text, reason, method)
