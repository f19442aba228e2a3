"""Decide the answer to one Access-Request, top to bottom.

  answer_challenge   a request carrying our State: check the code
  screen             who is this user, is there a usable factor
  blocked            a blocked user (admin, lockout, fraud) goes no further
  app_password       a valid app password: no upstream call, no second factor
  primary            the password, checked by the upstream (fails closed); the
                     upstream's own challenge is relayed (core/upstream_challenge.py)
  exempt             the admin's controls that skip the second factor (core/exemptions.py)
  factor             inline code, or open a challenge

The order is documented in docs/operator-guide.md ("Order of evaluation").

Each stage returns a Decision, or None to continue. Only ports are awaited,
so the whole thing runs deterministically under fakes and a fake clock.
"""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING

# At run time, not only for the type checker: _Login's field is ClientPolicy,
# and a dataclass compiled by mypyc evaluates its field types on import.
from radmfa.config import ClientPolicy
from radmfa.core import methods, policy
from radmfa.core import upstream_challenge as relay
from radmfa.core.challenge import Challenges, new_state, reject
from radmfa.core.controls import AdminControls, Place
from radmfa.core.exemptions import Rule
from radmfa.core.model import (
    Attr,
    AuthRequest,
    Claimed,
    Decision,
    ExemptionView,
    PrimaryResult,
    SendMethod,
    Session,
    Token,
    User,
    Verdict,
)
from radmfa.core.phone_flow import FACTORS as PHONE_FACTORS
from radmfa.core.phone_flow import PhoneFlow
from radmfa.core.ports import (
    FIXED_DEADLINE,
    AppPasswordCheck,
    ClientPolicies,
    Deadline,
    Factor,
    LoginStore,
    Phone,
    Upstream,
)
from radmfa.errors import UpstreamUnavailable
from radmfa.radius.wire import STATE

if TYPE_CHECKING:
    from radmfa.config import MfaConfig

BAD_NAME = "bad user name"  # audit reasons (docs/operator-guide.md, "Reasons you will see")
UNKNOWN_USER = "unknown user"

# Enum members compared against on every request, as globals (core/model.py says why).
_ACCEPT = Verdict.ACCEPT
_CLAIM_ACCEPTED, _CLAIM_TAKEN = Claimed.ACCEPTED, Claimed.TAKEN


@dataclass(slots=True)
class _Login:
    """What the stages learn about one request as it goes down the pipeline."""

    request: AuthRequest
    name: str | None
    rule: ClientPolicy  # [clients.<name>] of the NAS
    deadline: Deadline
    place: Place | None = None  # where it comes from, for the admin's controls (None: worked out when asked)
    user: User | None = None
    tokens: list[Token] | None = None
    password: bytes = b""
    code: bytes | None = None
    attrs: tuple[Attr, ...] = ()  # upstream's authorization attributes
    keyword: SendMethod | None = None  # `auto`: password,push | sms | call | email
    exemptions: ExemptionView | None = None  # read with the user, for AdminControls.exempt


def _same_user(canonical: str, name: str | None) -> bool:
    """The upstream's name for whoever logged in is the user decided on: a
    valid name (name_problem) with the same key."""
    return (
        name is not None
        and policy.name_problem(canonical) is None
        and policy.name_key(canonical) == policy.name_key(name)
    )


def _with_user(decision: Decision, user: User | None) -> Decision:
    return decision.with_user(user) if user is not None and decision.user is not user else decision


class Pipeline:
    def __init__(
        self,
        mfa: MfaConfig,
        upstream: Upstream,
        store: LoginStore,
        otp: Factor,
        *,
        policies: ClientPolicies,
        passwords: AppPasswordCheck,
        phone: Phone | None = None,
    ) -> None:
        """``otp`` checks codes from any TOTP or HOTP token; ``phone`` adds
        SMS, voice, push and e-mail (None: codes only)."""
        self.mfa, self.upstream, self.store, self.otp, self.policies = mfa, upstream, store, otp, policies
        self._delimiter = mfa.inline_delimiter.encode("utf-8")
        self.controls = AdminControls(mfa, store, policies, passwords)
        self.challenges = Challenges(mfa, store, self.controls)
        self.phone = PhoneFlow(mfa, phone, otp, self.controls, self.challenges) if phone is not None else None

    def use_settings(self, mfa: MfaConfig) -> None:
        """The store's settings changed: the admin's controls follow them (the
        keys config/stored.py moves are all read there)."""
        self.controls.use_settings(mfa)

    async def handle(self, request: AuthRequest, *, now: datetime, deadline: Deadline = FIXED_DEADLINE) -> Decision:
        # The stages run here, not each in a coroutine of its own: every
        # resumption of the request (the store's result, the upstream's reply)
        # walks each coroutine frame between the task and the future awaited.
        if request.state is not None:
            return await self.answer_challenge(request, now=now, deadline=deadline)
        controls = self.controls
        place = controls.place(request)
        login = _Login(request, policy.decode_name(request.username), place.policy, deadline, place)
        name = login.name
        if name is None:
            # Before anything else: the upstream must never check the password
            # of a name the store reads as another user (policy.name_problem).
            return reject(BAD_NAME if request.username is not None else "no User-Name")
        # An `oob` client may authenticate with MS-CHAPv2 (relayed as is) and
        # a `primary = "none"` client sends only User-Name: no PAP password.
        if request.password is None and not (login.rule.mode == "oob" or login.rule.primary == "none"):
            return reject("no User-Password (PAP is required for a code)")
        # One read: the user, their tokens and their exemptions (cache, device, bypass).
        login.user, tokens, login.exemptions = await controls.login_view(request, name, now=now, place=place)
        self._screened(login, tokens)
        user = login.user
        decision = controls.blocked(user, now=now)
        if decision is None and controls.mfa.app_passwords:  # app_password's own first rule: the global switch
            decision = await controls.app_password(request, user, now=now)
        if decision is None:  # primary: the password, checked by the upstream
            try:
                if login.rule.primary == "none":  # the NAS checked the password itself (RD Gateway behind NPS)
                    result = PrimaryResult(True, reason="primary checked by the NAS", relayed=False)
                else:
                    result = await self.upstream.authenticate(request, login.password)
            except UpstreamUnavailable:
                decision = reject("upstream unavailable", backend_failure=True)
            else:
                if result.challenge is not None and relay.relays(login.rule.upstream_challenge):
                    decision = await self._relay(login, result.challenge, now=now)
                else:
                    decision = self._primary_result(login, result)
        if decision is None:  # after_primary, one coroutine fewer
            view = login.exemptions
            if view is not None and not view.bypass_open:  # read with the user: nothing left to ask the store
                assert user is not None  # _primary_result decided for an unknown user
                decision = controls.exempt_read(
                    request, user, password_ok=bool(login.password) or request.password is None,
                    has_factor=bool(login.tokens) or self._has_phone_factor(user), attrs=login.attrs, now=now,
                    view=view, place=place,
                )
            else:
                decision = await self._exempt(login, now=now)
            if decision is None:
                decision = await self._factor(login, now=now)
        return decision if user is None or decision.user is user else decision.with_user(user)  # _with_user

    async def after_primary(self, login: _Login, *, now: datetime) -> Decision:
        """The admin's exemptions, then radmfa's factor."""
        decided = await self._exempt(login, now=now)
        return decided if decided is not None else await self._factor(login, now=now)

    def _exempt(self, login: _Login, *, now: datetime) -> Awaitable[Decision | None]:
        """The admin's exemptions (AdminControls.exempt's awaitable: no coroutine of its own)."""
        return self.controls.exempt(
            login.request,
            login.user,
            # An empty PAP password never skips the factor; a request with
            # none (MS-CHAPv2 relayed, or primary = "none") was verified
            # by the upstream or the NAS itself.
            password_ok=bool(login.password) or login.request.password is None,
            has_factor=bool(login.tokens) or self._has_phone_factor(login.user),
            attrs=login.attrs,
            now=now,
            view=login.exemptions,
            place=login.place,
        )

    def _has_phone_factor(self, user: User | None) -> bool:
        return bool(self.phone and self.phone.options(user))

    def _factor(self, login: _Login, *, now: datetime) -> Awaitable[Decision]:
        """radmfa's factor: an inline code's check awaited by the caller itself, else second_factor."""
        if login.code is not None:
            assert login.user is not None and login.tokens is not None
            return self._inline_code(login, login.user, login.tokens, login.code, now=now)
        if self.phone is None and login.tokens:  # codes only: second_factor's challenge, its awaitable
            return self._ask_code(login, now=now)
        return self.second_factor(login, now=now)

    def _screened(self, login: _Login, tokens: list[Token]) -> None:
        """The user's usable tokens, and the password split from an inline method keyword or code."""
        login.tokens = self.otp.usable(tokens)
        login.password = login.request.password or b""
        if login.rule.mode == "auto" and self.phone is not None:  # an inline method keyword
            keyword = methods.split_keyword(login.password, self._delimiter)
            if keyword is not None:
                login.password, login.keyword = keyword
                return
        if login.tokens and self.mfa.inline:
            split = policy.split_inline(login.password, self._delimiter, (t.digits for t in login.tokens))
            if split is not None:
                login.password, login.code = split

    async def _relay(self, login: _Login, challenge: tuple[Attr, ...], *, now: datetime) -> Decision:
        """The upstream's own challenge, relayed to the NAS under a State of ours."""
        opened = relay.open_relay(login.request, challenge, state=new_state(),
                                  challenge_ttl_s=self.mfa.challenge_ttl_s, now=now)
        await self.store.put_session(opened)
        attrs = (*relay.relayed_attrs(challenge), (STATE, opened.state))
        return Decision(Verdict.CHALLENGE, "upstream challenge relayed", relay.FACTOR, attrs)

    def _primary_result(self, login: _Login, result: PrimaryResult) -> Decision | None:
        """The upstream's answer to the password (a challenge it sent is not relayed here)."""
        if result.challenge is not None:  # upstream_challenge = "reject"
            result = replace(result, reason="upstream challenge refused")
        if not result.accepted:
            message = result.reply_message.decode("utf-8", "replace") if result.reply_message else None
            reason = result.reason or "upstream reject"
            if login.user is None and self._unknown_rejected(login):
                reason = UNKNOWN_USER  # whatever the upstream said about the password
            return reject(reason, message, local=not result.relayed)
        if result.canonical_name is not None and not _same_user(result.canonical_name, login.name):
            # The directory accepted the password for a name it matches its own
            # way (ａｌｉｃｅ, al<soft hyphen>ice binding as alice): the store
            # looked up someone else, maybe nobody (unknown_users = password-only).
            return reject("directory names another user")
        reply_attrs = result.reply_attrs  # often none: then nothing to filter
        login.attrs = policy.authorization_attrs(reply_attrs) if reply_attrs else ()
        if login.user is None and self._unknown_rejected(login):
            # Decided only after the password: without it, an unknown name and
            # an enrolled one are answered alike (no enumeration by timing).
            return reject(UNKNOWN_USER)
        if login.user is None:  # unknown_users = "password-only"
            return Decision(_ACCEPT, "password only (unknown user)", "none", login.attrs)
        return None

    def _unknown_rejected(self, login: _Login) -> bool:
        return self.mfa.unknown_users == "reject" or login.rule.primary == "none"

    async def second_factor(self, login: _Login, *, now: datetime) -> Decision:
        assert login.user is not None and login.tokens is not None
        if login.code is not None:
            return await self._inline_code(login, login.user, login.tokens, login.code, now=now)
        if self.phone is not None:  # the menu, codes by text or e-mail, held calls and pushes
            decided = await self.phone.second_factor(
                login.request, login.rule, login.user, login.tokens, login.attrs, login.keyword,
                now=now, deadline=login.deadline,
            )
            if decided is not None:
                return decided
        if not login.tokens:  # only phone methods, none usable for this client
            return reject("no factor enrolled", self.mfa.no_factor_message)
        return await self._ask_code(login, now=now)

    def _ask_code(self, login: _Login, *, now: datetime) -> Awaitable[Decision]:
        """A challenge for a code from one of the user's tokens: Challenges.ask's awaitable."""
        assert login.user is not None and login.tokens is not None
        opened = self.challenges.open(login.request, self.otp.method(login.tokens), login.attrs, now=now)
        return self.challenges.ask(
            opened, self.otp.start(login.user, login.tokens), "challenge sent", user=login.user, tokens=login.tokens,
            name=login.name,
        )

    async def _inline_code(
        self, login: _Login, user: User, tokens: list[Token], code: bytes, *, now: datetime
    ) -> Decision:
        # A correct code is an accept: its MFA success goes with its step, one store trip.
        success = self.controls.success_record(login.request, user, now=now, place=login.place)
        check = await self.otp.verify(tokens, code, now=now, success=success)
        method = self.otp.method(tokens, check)
        if check.ok:
            if not check.recorded:  # else written with the step: succeeded() would do nothing
                await self.controls.succeeded(login.request, user, now=now)
            return Decision(_ACCEPT, "password and inline code", method, login.attrs, user=user)
        if await self.controls.failed(user, now=now):
            return reject(Rule.LOCKOUT.value, factor=method)
        return reject(f"inline {check.reason}", factor=method)

    async def answer_challenge(self, request: AuthRequest, *, now: datetime, deadline: Deadline) -> Decision:
        assert request.state is not None
        held = self.challenges.held(request.state)
        if held is not None and held[0].username == request.username:
            # The octets the session was opened for, decoded then: the same name.
            kept, kept_user, kept_tokens, name = held
            decided = await self._answer_held(request, name, kept, kept_user, kept_tokens, now=now, deadline=deadline)
            if decided is not None:
                return decided
        else:
            name_or_none = policy.decode_name(request.username)
            if name_or_none is None:
                return reject(BAD_NAME)  # a session is only ever opened for a valid name
            name = name_or_none
        # Single use, atomic; the user and tokens come in the same store trip
        # (read by the request's name: a session of another name is refused below).
        found, user, tokens = await self.store.take_session_view(request.state, now=now, username=name)
        return await self._answer_found(found, request, user, tokens, now=now, deadline=deadline)

    async def _answer_held(
        self, request: AuthRequest, name: str, found: Session, user: User, tokens: list[Token], *,
        now: datetime, deadline: Deadline,
    ) -> Decision | None:
        """A code challenge this process asked: a code that matches what it
        read then is claimed in one store trip (the session, the step and the
        MFA success together). None: nothing was taken, answer as any other."""
        if (found.client != request.client or found.username != (request.username or b"")
                or found.factor == relay.FACTOR or (self.phone is not None and found.factor in PHONE_FACTORS)
                or self.controls.blocked(user, now=now) is not None or not self.challenges.accepts(found, now=now)):
            return None
        success = self.controls.success_record(request, user, now=now)
        claimed, kind = await self.otp.claim(
            found.state, user, tokens, (request.password or b"").strip(), success=success
        )
        if claimed is _CLAIM_ACCEPTED:
            await self.controls.succeeded(request, user, now=now, recorded=True)
            return Decision(_ACCEPT, "password and code", kind, found.reply_attrs, user=user)
        if claimed is _CLAIM_TAKEN:  # the session is used up: decide on the user and tokens as they are now
            user_now, tokens_now = await self.store.login_view(name)
            return await self._answer_found(found, request, user_now, tokens_now, now=now, deadline=deadline)
        return None

    async def _answer_found(
        self, found: Session | None, request: AuthRequest, user: User | None, tokens: list[Token], *,
        now: datetime, deadline: Deadline,
    ) -> Decision:
        """A taken session (None: none, or expired) answered by ``request``."""
        if found is None:
            return reject("unknown or expired State")
        if found.client != request.client or found.username != (request.username or b""):
            return reject("State bound to another client or user", factor=found.factor)
        if found.factor == relay.FACTOR:
            return _with_user(await self._answer_upstream(found, request, user, tokens, now=now, deadline=deadline),
                              user)
        if self.phone is not None and found.factor in PHONE_FACTORS:
            return await self.phone.answer(found, request, user, tokens, now=now, deadline=deadline)
        # Blocked mid-challenge (lockout, fraud, an admin): the code cannot finish it.
        refused = self.controls.blocked(user, now=now)
        if refused is not None:
            return _with_user(refused, user)
        # The MFA success is written with the code's step only when a correct
        # code is sure to accept (the session's transition is pure).
        success = None
        if user is not None and self.challenges.accepts(found, now=now):
            success = self.controls.success_record(request, user, now=now)
        check = await self.otp.verify(
            self.otp.usable(tokens), (request.password or b"").strip(), now=now, success=success
        )

        async def retry() -> str:
            return self.mfa.retry_prompt

        decision = await self.challenges.answered(
            found, request, user, ok=check.ok, reason=check.reason, method=self.otp.method(tokens, check),
            next_state=new_state(), retry=retry, now=now, recorded=check.recorded,
        )
        return _with_user(decision, user)

    async def _answer_upstream(
        self, found: Session, request: AuthRequest, user: User | None, tokens: list[Token], *,
        now: datetime, deadline: Deadline,
    ) -> Decision:
        """The answer to a relayed upstream challenge goes upstream under the
        upstream's State; its Accept continues the login as after a password."""
        refused = self.controls.blocked(user, now=now)
        if refused is not None:
            return refused
        login = _Login(request, policy.decode_name(request.username), self.policies.policy_for(request.client),
                       deadline, user=user, tokens=self.otp.usable(tokens), password=request.password or b"")
        try:
            result = await self.upstream.authenticate(relay.forwarded(request, found), login.password)
        except UpstreamUnavailable:
            return reject("upstream unavailable", backend_failure=True, factor=relay.FACTOR)
        if result.challenge is not None and relay.relays(login.rule.upstream_challenge):
            return await self._relay(login, result.challenge, now=now)
        decided = self._primary_result(login, result)
        if decided is not None:
            return decided
        if relay.skips_own_factor(login.rule.upstream_challenge):
            return Decision(Verdict.ACCEPT, "upstream challenge answered", relay.FACTOR, login.attrs)
        return await self.after_primary(login, now=now)
