"""The phone factors' part of the pipeline (issue 4): the method menu, codes
texted or e-mailed for the next challenge, and requests held while a call
or push is answered. Pipeline calls ``second_factor`` after the password
and ``answer`` for a State this module opened (factor menu, sms or email).

Modes per client ([clients.<name>] mode):
  challenge  the menu (when the user has a phone method), else the TOTP prompt
  oob        no challenge: the user's default call or push runs at once, held
  auto       an inline keyword (password,push|sms|call|email) runs that method; else as challenge
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime

from radmfa.config import ClientPolicy, MfaConfig
from radmfa.core import exemptions, methods, policy, session
from radmfa.core.methods import Option
from radmfa.core.model import Attr, AuthRequest, Decision, Phase, Session, Token, User, UserState, Verdict
from radmfa.core.ports import Factor, Store
from radmfa.factors.phone import PhoneFactors
from radmfa.radius.packet import reply_messages
from radmfa.radius.wire import PROMPT, REPLY_MESSAGE, STATE

_PROMPT_ECHO = b"\x00\x00\x00\x01"  # RFC 2869 §5.10: Prompt = Echo
MENU = "menu"


def blocked(user: User, *, now: datetime, factor: str) -> Decision | None:
    """The admin's controls' block (core/exemptions.py): same rule, same audit reason."""
    if exemptions.effective_state(user, now=now) is UserState.BLOCKED:
        return _reject(exemptions.block_rule(user), None, factor)
    return None


async def _nothing(request: AuthRequest, user: User, *, now: datetime) -> None:
    return None


async def _never(user: User, *, now: datetime) -> bool:
    return False


def _reject(reason: str, message: str | None, factor: str) -> Decision:
    return Decision(Verdict.REJECT, reason, factor, tuple(reply_messages(message)) if message else ())


class PhoneFlow:
    def __init__(self, mfa: MfaConfig, store: Store, phone: PhoneFactors, totp: Factor) -> None:
        self.mfa, self.store, self.phone, self.totp = mfa, store, phone, totp
        # The admin's controls (Pipeline sets them to its mfa_succeeded and
        # mfa_failed): a complete MFA success feeds the cache and remembered
        # devices; a wrong code or a denial counts towards the user's lockout.
        self.succeeded: Callable[..., Awaitable[None]] = _nothing
        self.failed: Callable[..., Awaitable[bool]] = _never

    def options(self, user: User | None) -> list[Option]:
        return self.phone.options(user) if user is not None else []

    # ---- after the password ----

    async def second_factor(
        self,
        request: AuthRequest,
        rule: ClientPolicy,
        user: User,
        tokens: list[Token],
        attrs: tuple[Attr, ...],
        keyword: str | None,
        *,
        now: datetime,
    ) -> Decision | None:
        """A Decision, or None to let the TOTP prompt run as before."""
        decided = await self._after_password(request, rule, user, tokens, attrs, keyword, now=now)
        return None if decided is None else self._recorded(decided, user)

    async def _after_password(
        self,
        request: AuthRequest,
        rule: ClientPolicy,
        user: User,
        tokens: list[Token],
        attrs: tuple[Attr, ...],
        keyword: str | None,
        *,
        now: datetime,
    ) -> Decision | None:
        # Never text, call or push a blocked user (e.g. one who just
        # reported fraud): that is what the attacker would keep doing.
        refused = blocked(user, now=now, factor="")
        if refused is not None:
            return refused
        available = self.options(user)
        if keyword is not None:  # `auto`: password,push | sms | call | email
            chosen = methods.pick(available, keyword)
            if chosen is None:
                return _reject(f"inline {keyword}: not available for this user", None, keyword)
            return await self._run(chosen, request, user, attrs, now=now)
        if rule.mode == "oob":
            chosen = methods.default_oob(user, available)
            if chosen is None:
                return _reject("no call or push method for an oob client", self.mfa.no_factor_message, "")
            return await self._run(chosen, request, user, attrs, now=now)
        if not available:
            return None
        opened = self._open(request.client, request.username or b"", MENU, attrs, now=now)
        await self.store.put_session(opened)
        text, _ = await self.phone.menu(user, request.client, has_code=bool(tokens))
        return self._challenge(opened.state, text, "menu sent", MENU)

    async def _run(
        self, chosen: Option, request: AuthRequest, user: User, attrs: tuple[Attr, ...], *, now: datetime
    ) -> Decision:
        # The option itself says which number: a call may go to the office phone.
        phone, device = methods.recorded(chosen)
        return replace(await self._attempt(chosen, request, user, attrs, now=now), phone=phone, device=device)

    async def _attempt(
        self, chosen: Option, request: AuthRequest, user: User, attrs: tuple[Attr, ...], *, now: datetime
    ) -> Decision:
        if chosen.method in methods.OOB_METHODS or (chosen.method == "sms" and self.phone.cfg.two_way_sms):
            outcome = await self.phone.hold(user, chosen, request, now=now)
            if outcome.approved:
                await self.succeeded(request, user, now=now)
                return Decision(Verdict.ACCEPT, f"{chosen.method} approved", chosen.method, attrs)
            if outcome.reason == "denied" and await self.failed(user, now=now):
                return _reject(exemptions.Rule.LOCKOUT.value, None, chosen.method)
            return _reject(outcome.reason, outcome.message, chosen.method)
        opened = self._open(request.client, request.username or b"", chosen.method, attrs, now=now)
        return await self._send_code(opened, chosen, user, request.client, now=now)

    async def _send_code(self, opened: Session, chosen: Option, user: User, client: str, *, now: datetime) -> Decision:
        refused = await self.phone.send_code(user, chosen, client=client, state=opened.state, now=now)
        if refused is not None:
            return _reject(refused.reason, refused.message, chosen.method)
        await self.store.put_session(opened)
        minutes = str(max(1, self.phone.cfg.otp_ttl_s // 60))
        language = user.language
        prompt = await self.phone.text("challenge_code", client, user=user.name, language=language, minutes=minutes)
        return self._challenge(opened.state, prompt, f"{chosen.method} code sent", chosen.method)

    # ---- a request carrying a State this module opened ----

    async def answer(self, found: Session, request: AuthRequest, *, now: datetime) -> Decision:
        name = policy.decode_name(found.username)
        user, tokens = await self.store.login_view(name) if name else (None, [])
        if user is None:
            return _reject("user gone", None, found.factor)
        return self._recorded(await self._answer(found, request, user, tokens, now=now), user)

    async def _answer(
        self, found: Session, request: AuthRequest, user: User, tokens: list[Token], *, now: datetime
    ) -> Decision:
        refused = blocked(user, now=now, factor=found.factor)
        if refused is not None:
            return refused
        answer = (request.password or b"").strip()
        new_state = secrets.token_bytes(16)
        if found.factor == MENU:
            _, keys = await self.phone.menu(user, found.client, has_code=bool(self.totp.usable(tokens)))
            chosen = keys.get(answer.decode("ascii", "replace"))
            if chosen is not None:
                if chosen.method in methods.CODE_METHODS and not self.phone.cfg.two_way_sms:
                    nxt = replace(found, state=new_state, factor=chosen.method)
                    return await self._send_code(nxt, chosen, user, found.client, now=now)
                return await self._run(chosen, request, user, found.reply_attrs, now=now)
            usable = self.totp.usable(tokens)
            if not usable:  # no token: the answer can only have been a menu key
                reason = "not a menu choice"
                return await self._after_code(
                    found, request, user, False, reason, new_state, now=now, has_code=False, method=MENU
                )
            # A code typed at the menu came from the user's TOTP or HOTP token.
            check = await self.totp.verify(usable, answer, now=now)
            return await self._after_code(
                found, request, user, check.ok, check.reason, new_state, now=now, has_code=True,
                method=self.totp.method(usable, check),
            )
        # A wrong code stays valid under the next State while attempts are left.
        last = found.attempts + 1 >= self.mfa.max_attempts
        verdict = await self.phone.check_code(found.state, answer, now=now, carry_to=None if last else new_state)
        if verdict is None:
            return _reject("code expired", None, found.factor)
        return await self._after_code(
            found, request, user, verdict, "wrong code", new_state, now=now, has_code=False, method=found.factor
        )

    async def _after_code(
        self,
        found: Session,
        request: AuthRequest,
        user: User,
        ok: bool,
        reason: str,
        new_state: bytes,
        *,
        now: datetime,
        has_code: bool,
        method: str,
    ) -> Decision:
        factor = method
        if ok:
            done = session.advance(found, session.Event.CODE_OK, max_attempts=self.mfa.max_attempts, now=now)
            if done.phase is Phase.ACCEPTED:
                await self.succeeded(request, user, now=now)
                return Decision(Verdict.ACCEPT, "password and code", factor, found.reply_attrs)
            return _reject("challenge expired", None, factor)
        if await self.failed(user, now=now):
            return _reject(exemptions.Rule.LOCKOUT.value, None, factor)
        nxt = session.advance(
            found, session.Event.CODE_WRONG, max_attempts=self.mfa.max_attempts, new_state=new_state, now=now
        )
        if nxt.phase is not Phase.AWAITING_CODE:
            return _reject(f"{reason}, no attempts left", None, factor)
        if found.factor == MENU:
            text, _ = await self.phone.menu(user, found.client, has_code=has_code)
            text = ("Wrong code. " if has_code else "") + text
        else:
            chosen = methods.pick(self.options(user), found.factor)
            shown = chosen.shown if chosen else ""
            text = await self.phone.text(
                "challenge_wrong_code", found.client, user=user.name, language=user.language, to=shown
            )
        await self.store.put_session(nxt)
        return self._challenge(nxt.state, text, reason, factor)

    # ---- helpers ----

    def _recorded(self, decision: Decision, user: User) -> Decision:
        """The decision with the number or device its audit row records (seed
        002), unless the step that made it already named one: the menu's,
        or the one the code was sent to for a text or e-mail challenge."""
        if decision.phone or decision.device:
            return decision
        available = self.options(user)
        if decision.factor == MENU:
            phone, device = methods.menu_recorded(available)
        else:
            chosen = methods.pick(available, decision.factor)
            phone, device = methods.recorded(chosen) if chosen is not None else ("", "")
        return replace(decision, phone=phone, device=device)

    def _open(self, client: str, username: bytes, factor: str, attrs: tuple[Attr, ...], *, now: datetime) -> Session:
        return session.open_session(
            state=secrets.token_bytes(16),
            client=client,
            username=username,
            factor=factor,
            reply_attrs=attrs,
            ttl_s=self.mfa.challenge_ttl_s,
            now=now,
        )

    @staticmethod
    def _challenge(state: bytes, prompt: str, reason: str, factor: str) -> Decision:
        attrs = ((REPLY_MESSAGE, policy.fit_text(prompt)), (STATE, state), (PROMPT, _PROMPT_ECHO))
        return Decision(Verdict.CHALLENGE, reason, factor, attrs)

