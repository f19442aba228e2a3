"""The phone factors' part of the pipeline: the method menu, codes texted
or e-mailed for the next challenge, and requests held while a call or push
is answered. Pipeline calls ``second_factor`` after the password and
``answer`` for a State this module opened (factor menu, sms or email).

Modes per client ([clients.<name>] mode):
  challenge  the menu (when the user has a phone method), else the TOTP prompt
  oob        no challenge: the user's default call or push runs at once, held
  auto       an inline keyword (password,push|sms|call|email) runs that method; else as challenge
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING

from radmfa.core import exemptions, methods, push_guard
from radmfa.core.challenge import Challenges, new_state, reject
from radmfa.core.controls import AdminControls
from radmfa.core.methods import Option
from radmfa.core.model import Attr, AuthRequest, Decision, PhoneOutcome, SendMethod, Session, Token, User, Verdict
from radmfa.core.ports import Deadline, Factor, Phone

if TYPE_CHECKING:
    from radmfa.config import ClientPolicy, MfaConfig

MENU = "menu"
PUSH = "push"  # a push with number matching: the challenge shows the number, its answer waits
FACTORS = (MENU, *methods.CODE_METHODS, PUSH)  # the sessions this module opens, by their factor


class PhoneFlow:
    def __init__(
        self, mfa: MfaConfig, phone: Phone, otp: Factor, controls: AdminControls, challenges: Challenges
    ) -> None:
        self.mfa, self.phone, self.otp, self.controls, self.challenges = mfa, phone, otp, controls, challenges

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
        keyword: SendMethod | None,
        *,
        now: datetime,
        deadline: Deadline,
    ) -> Decision | None:
        """A Decision, or None to let the TOTP prompt run as before."""
        decided = await self._after_password(request, rule, user, tokens, attrs, keyword, now=now, deadline=deadline)
        return None if decided is None else self._recorded(decided, user)

    async def _after_password(
        self,
        request: AuthRequest,
        rule: ClientPolicy,
        user: User,
        tokens: list[Token],
        attrs: tuple[Attr, ...],
        keyword: SendMethod | None,
        *,
        now: datetime,
        deadline: Deadline,
    ) -> Decision | None:
        # Never text, call or push a blocked user (e.g. one who just
        # reported fraud): that is what the attacker would keep doing.
        refused = self.controls.blocked(user, now=now)
        if refused is not None:
            return refused
        available = self.options(user)
        if keyword is not None:  # `auto`: password,push | sms | call | email
            chosen = methods.pick(available, keyword)
            if chosen is None:
                return reject(f"inline {keyword}: not available for this user", factor=keyword)
            return await self._run(chosen, request, user, attrs, now=now, deadline=deadline)
        if rule.mode == "oob":
            chosen = methods.default_oob(user, available)
            if chosen is None:
                return reject("no call or push method for an oob client", self.mfa.no_factor_message)
            return await self._run(chosen, request, user, attrs, now=now, deadline=deadline)
        if not available:
            return None
        opened = self.challenges.open(request, MENU, attrs, now=now)
        text, _ = await self.phone.menu(user, request.client, has_code=bool(tokens))
        return await self.challenges.ask(opened, text, "menu sent")

    async def _run(
        self, chosen: Option, request: AuthRequest, user: User, attrs: tuple[Attr, ...], *, now: datetime,
        deadline: Deadline,
    ) -> Decision:
        # The option itself says which number: a call may go to the office phone.
        phone, device = methods.recorded(chosen)
        decided = await self._attempt(chosen, request, user, attrs, now=now, deadline=deadline)
        return replace(decided, phone=phone, device=device)

    async def _attempt(
        self, chosen: Option, request: AuthRequest, user: User, attrs: tuple[Attr, ...], *, now: datetime,
        deadline: Deadline,
    ) -> Decision:
        rule = self.controls.policies.policy_for(request.client)
        ip = exemptions.user_address(request, rule.user_ip_attribute)
        if chosen.method == PUSH and rule.push_number_matching:
            return await self._offer_number(chosen, request, user, attrs, ip=ip, now=now)
        if chosen.method in methods.OOB_METHODS or (chosen.method == "sms" and self.phone.two_way_sms):
            outcome = await self.phone.hold(user, chosen, request, now=now, deadline=deadline, ip=ip)
            return await self._held(outcome, chosen.method, request, user, attrs, now=now)
        opened = self.challenges.open(request, chosen.method, attrs, now=now)
        return await self._send_code(opened, chosen, user, now=now)

    async def _held(
        self, outcome: PhoneOutcome, method: str, request: AuthRequest, user: User, attrs: tuple[Attr, ...], *,
        now: datetime,
    ) -> Decision:
        if outcome.approved:
            await self.controls.succeeded(request, user, now=now)
            return Decision(Verdict.ACCEPT, f"{method} approved", method, attrs)
        denied = outcome.reason in ("denied", push_guard.WRONG_NUMBER)
        if denied and await self.controls.failed(user, now=now):
            return reject(exemptions.Rule.LOCKOUT.value, factor=method)
        return reject(outcome.reason, outcome.message, factor=method)

    async def _offer_number(
        self, chosen: Option, request: AuthRequest, user: User, attrs: tuple[Attr, ...], *, ip: str, now: datetime
    ) -> Decision:
        """Number matching: push three numbers, then challenge with the right
        one; the challenge's answer waits for the tap (``answer``)."""
        opened = self.challenges.open(request, PUSH, attrs, now=now)
        number, refused = await self.phone.offer_number(
            user, chosen, request, waiter=opened.state.hex(), now=now, ip=ip
        )
        if refused is not None:
            return reject(refused.reason, refused.message, factor=PUSH)
        prompt = await self.phone.text(
            "push_number_prompt", request.client, user=user.name, language=user.language, number=f"{number:02d}"
        )
        return await self.challenges.ask(opened, prompt, "push number shown")

    async def _send_code(self, opened: Session, chosen: Option, user: User, *, now: datetime) -> Decision:
        refused = await self.phone.send_code(user, chosen, client=opened.client, state=opened.state, now=now)
        if refused is not None:
            return reject(refused.reason, refused.message, factor=chosen.method)
        minutes = str(max(1, self.phone.code_ttl_s // 60))
        prompt = await self.phone.text(
            "challenge_code", opened.client, user=user.name, language=user.language, minutes=minutes
        )
        return await self.challenges.ask(opened, prompt, f"{chosen.method} code sent")

    # ---- a request carrying a State this module opened ----

    async def answer(
        self, found: Session, request: AuthRequest, user: User | None, tokens: list[Token], *, now: datetime,
        deadline: Deadline,
    ) -> Decision:
        if user is None:
            return reject("user gone", factor=found.factor)
        decided = self.controls.blocked(user, now=now, factor=found.factor) or await self._answer(
            found, request, user, tokens, now=now, deadline=deadline
        )
        return self._recorded(decided, user)

    async def _answer(
        self, found: Session, request: AuthRequest, user: User, tokens: list[Token], *, now: datetime,
        deadline: Deadline,
    ) -> Decision:
        if found.factor == PUSH:  # whatever was typed: the tap on the phone decides
            outcome = await self.phone.wait_number(
                user, found.client, waiter=found.state.hex(), now=now, deadline=deadline
            )
            return await self._held(outcome, PUSH, request, user, found.reply_attrs, now=now)
        answer = (request.password or b"").strip()
        next_state = new_state()
        if found.factor != MENU:
            # A wrong code stays valid under the next State while attempts are left.
            last = found.attempts + 1 >= self.mfa.max_attempts
            verdict = await self.phone.check_code(found.state, answer, now=now, carry_to=None if last else next_state)
            if verdict is None:
                return reject("code expired", factor=found.factor)

            async def wrong_code() -> str:
                chosen = methods.pick(self.options(user), found.factor)
                shown = chosen.shown if chosen else ""
                return await self.phone.text(
                    "challenge_wrong_code", found.client, user=user.name, language=user.language, to=shown
                )

            return await self.challenges.answered(
                found, request, user, ok=verdict, reason="wrong code", method=found.factor,
                next_state=next_state, retry=wrong_code, now=now,
            )
        usable = self.otp.usable(tokens)
        _, keys = await self.phone.menu(user, found.client, has_code=bool(usable))
        chosen = keys.get(answer.decode("ascii", "replace"))
        if chosen is not None:
            if chosen.method in methods.CODE_METHODS and not self.phone.two_way_sms:
                moved = self.challenges.moved_to(found, chosen.method, next_state)
                return await self._send_code(moved, chosen, user, now=now)
            return await self._run(chosen, request, user, found.reply_attrs, now=now, deadline=deadline)

        async def menu_again() -> str:
            text, _ = await self.phone.menu(user, found.client, has_code=bool(usable))
            return ("Wrong code. " if usable else "") + text

        if not usable:  # no token: the answer can only have been a menu key
            return await self.challenges.answered(
                found, request, user, ok=False, reason="not a menu choice", method=MENU,
                next_state=next_state, retry=menu_again, now=now,
            )
        # A code typed at the menu came from the user's TOTP or HOTP token.
        check = await self.otp.verify(usable, answer, now=now)
        return await self.challenges.answered(
            found, request, user, ok=check.ok, reason=check.reason, method=self.otp.method(usable, check),
            next_state=next_state, retry=menu_again, now=now,
        )

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
