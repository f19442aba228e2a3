"""Decide the answer to one Access-Request, top to bottom.

  answer_challenge   a request carrying our State: check the code
  screen             who is this user, is there a usable factor
  blocked            a blocked user (admin, lockout, fraud) goes no further
  app_password       a valid app password: no upstream call, no second factor
  primary            the password, checked by the upstream (fails closed)
  exempt             the admin's controls that skip the second factor (core/exemptions.py)
  factor             inline code, or open a challenge

The order is documented in docs/operator-guide.md ("Order of evaluation").

Each stage returns a Decision, or None to continue. Only ports are awaited,
so the whole thing runs deterministically under fakes and a fake clock.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime

from radmfa.config import ClientPolicy, MfaConfig
from radmfa.core import exemptions, methods, policy, session
from radmfa.core.controls import AdminControls
from radmfa.core.exemptions import Rule
from radmfa.core.model import (
    Attr,
    AuthRequest,
    Decision,
    Phase,
    PrimaryResult,
    Session,
    Token,
    User,
    Verdict,
)
from radmfa.core.phone_flow import MENU, PhoneFlow
from radmfa.core.ports import Factor, Store, Upstream
from radmfa.errors import UpstreamUnavailable
from radmfa.radius.packet import reply_messages
from radmfa.radius.wire import PROMPT, REPLY_MESSAGE, STATE

_PROMPT_ECHO = b"\x00\x00\x00\x01"  # RFC 2869 §5.10: Prompt = Echo
BAD_NAME = "bad user name"  # audit reasons (docs/operator-guide.md, "Reasons you will see")
UNKNOWN_USER = "unknown user"
_DEFAULT_POLICY = ClientPolicy()


def reject(
    reason: str, message: str | None = None, *, factor: str = "", local: bool = True, backend_failure: bool = False
) -> Decision:
    attrs = tuple(reply_messages(message)) if message else ()
    return Decision(Verdict.REJECT, reason, factor, attrs, local, backend_failure)


@dataclass(slots=True)
class _Login:
    """What the stages learn about one request as it goes down the pipeline."""

    request: AuthRequest
    name: str | None
    user: User | None = None
    tokens: list[Token] | None = None
    password: bytes = b""
    code: bytes | None = None
    attrs: tuple[Attr, ...] = ()  # upstream's authorization attributes
    rule: ClientPolicy = _DEFAULT_POLICY  # [clients.<name>] of the NAS
    keyword: str | None = None  # `auto`: password,push | sms | call | email (issue 4)


def _same_user(canonical: str, name: str | None) -> bool:
    """The upstream's name for whoever logged in is the user decided on: a
    valid name (name_problem) with the same key."""
    return (
        name is not None
        and policy.name_problem(canonical) is None
        and policy.name_key(canonical) == policy.name_key(name)
    )


class Pipeline(AdminControls):
    def __init__(
        self,
        mfa: MfaConfig,
        upstream: Upstream,
        store: Store,
        factors: dict[str, Factor],
        *,
        clients: Mapping[str, ClientPolicy] | None = None,
        phone: PhoneFlow | None = None,
    ) -> None:
        self.mfa = mfa
        self.clients = dict(clients or {})  # by clients.conf name; absent = ClientPolicy()
        self.upstream = upstream
        self.store = store
        self.factor = factors["otp"]  # codes from any TOTP or HOTP token
        self._delimiter = mfa.inline_delimiter.encode("utf-8")
        self.trusted = exemptions.TrustedNetworks(mfa.trusted_networks)
        self.phone = phone  # issue 4: SMS, voice, push and e-mail; None = TOTP only
        if phone is not None:  # phone logins feed the cache, devices and lockout too
            phone.succeeded, phone.failed = self.mfa_succeeded, self.mfa_failed

    def policy_for(self, client: str) -> ClientPolicy:
        return self.clients.get(client) or _DEFAULT_POLICY

    async def handle(self, request: AuthRequest, *, now: datetime) -> Decision:
        if request.state is not None:
            return await self.answer_challenge(request, now=now)
        login = _Login(request, policy.decode_name(request.username), rule=self.policy_for(request.client))
        decision = (
            await self.screen(login)
            or self.blocked(login.user, now=now)
            or await self.app_password(login.request, login.user, now=now)
            or await self.primary(login)
            or await self.exempt(
                login.request,
                login.user,
                # An empty PAP password never skips the factor; a request with
                # none (MS-CHAPv2 relayed, or primary = "none") was verified
                # by the upstream or the NAS itself.
                password_ok=bool(login.password) or login.request.password is None,
                has_factor=bool(login.tokens) or bool(self.phone and self.phone.options(login.user)),
                attrs=login.attrs,
                now=now,
            )
            or await self.second_factor(login, now=now)
        )
        return replace(decision, user=login.user) if login.user is not None else decision

    async def screen(self, login: _Login) -> Decision | None:
        # An `oob` client may authenticate with MS-CHAPv2 (relayed as is) and
        # a `primary = "none"` client sends only User-Name: no PAP password.
        password_optional = login.rule.mode == "oob" or login.rule.primary == "none"
        if login.name is None:
            # Before anything else: the upstream must never check the password
            # of a name the store reads as another user (policy.name_problem).
            return reject(BAD_NAME if login.request.username is not None else "no User-Name")
        if login.request.password is None and not password_optional:
            return reject("no User-Password (PAP is required for a code)")
        login.user, tokens = await self.store.login_view(login.name)
        login.tokens = self.factor.usable(tokens)
        login.password = login.request.password or b""
        # -- issue 4: `auto` mode's inline method keyword ----------------------
        if login.rule.mode == "auto" and self.phone is not None:
            keyword = methods.split_keyword(login.password, self._delimiter)
            if keyword is not None:
                login.password, login.keyword = keyword
                return None
        # ----------------------------------------------------------------------
        if login.tokens and self.mfa.inline:
            split = policy.split_inline(login.password, self._delimiter, (t.digits for t in login.tokens))
            if split is not None:
                login.password, login.code = split
        return None

    async def primary(self, login: _Login) -> Decision | None:
        try:
            result: PrimaryResult = await self._authenticate(login)
        except UpstreamUnavailable:
            return reject("upstream unavailable", backend_failure=True)
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
        login.attrs = policy.authorization_attrs(result.reply_attrs)
        if login.user is None and self._unknown_rejected(login):
            # Decided only after the password: without it, an unknown name and
            # an enrolled one are answered alike (no enumeration by timing).
            return reject(UNKNOWN_USER)
        if login.user is None:  # unknown_users = "password-only"
            return Decision(Verdict.ACCEPT, "password only (unknown user)", "none", login.attrs)
        return None

    def _unknown_rejected(self, login: _Login) -> bool:
        return self.mfa.unknown_users == "reject" or login.rule.primary == "none"

    async def _authenticate(self, login: _Login) -> PrimaryResult:
        if login.rule.primary == "none":  # the NAS checked the password itself (RD Gateway behind NPS)
            return PrimaryResult(True, reason="primary checked by the NAS", relayed=False)
        return await self.upstream.authenticate(login.request, login.password)

    async def second_factor(self, login: _Login, *, now: datetime) -> Decision:
        assert login.user is not None and login.tokens is not None
        attrs = login.attrs
        if login.code is not None:
            check = await self.factor.verify(login.tokens, login.code, now=now)
            method = self.factor.method(login.tokens, check)
            if check.ok:
                await self.mfa_succeeded(login.request, login.user, now=now)
                return Decision(Verdict.ACCEPT, "password and inline code", method, attrs)
            if await self.mfa_failed(login.user, now=now):
                return reject(Rule.LOCKOUT.value, factor=method)
            return reject(f"inline {check.reason}", factor=method)
        # -- issue 4: menu, codes by text or e-mail, held calls and pushes ------
        if self.phone is not None:
            decided = await self.phone.second_factor(
                login.request, login.rule, login.user, login.tokens, attrs, login.keyword, now=now
            )
            if decided is not None:
                return decided
        if not login.tokens:  # only phone methods, none usable for this client
            return reject("no factor enrolled", self.mfa.no_factor_message)
        # ----------------------------------------------------------------------
        opened = session.open_session(
            state=secrets.token_bytes(16),
            client=login.request.client,
            username=login.request.username or b"",
            factor=self.factor.method(login.tokens),
            reply_attrs=attrs,
            ttl_s=self.mfa.challenge_ttl_s,
            now=now,
        )
        await self.store.put_session(opened)
        prompt = self.factor.start(login.user, login.tokens)
        return self._challenge(opened.state, prompt, "challenge sent", opened.factor)

    async def answer_challenge(self, request: AuthRequest, *, now: datetime) -> Decision:
        assert request.state is not None
        if policy.decode_name(request.username) is None:
            return reject(BAD_NAME)  # a session is only ever opened for a valid name
        # Single use, atomic; the user and tokens come in the same store trip.
        found, user, tokens = await self.store.take_session_view(request.state, now=now)
        if found is None:
            return reject("unknown or expired State")
        if found.client != request.client or found.username != (request.username or b""):
            return reject("State bound to another client or user", factor=found.factor)
        if self.phone is not None and found.factor in (MENU, *methods.CODE_METHODS):  # issue 4
            return await self.phone.answer(found, request, now=now)
        # Blocked mid-challenge (lockout, fraud, an admin): the code cannot finish it.
        decision = self.blocked(user, now=now) or await self._check_answer(found, request, user, tokens, now=now)
        return replace(decision, user=user) if user is not None else decision

    async def _check_answer(
        self, found: Session, request: AuthRequest, user: User | None, tokens: list[Token], *, now: datetime
    ) -> Decision:
        code = (request.password or b"").strip()
        check = await self.factor.verify(self.factor.usable(tokens), code, now=now)
        method = self.factor.method(tokens, check)
        if check.ok:
            done = session.advance(found, session.Event.CODE_OK, max_attempts=self.mfa.max_attempts, now=now)
            if done.phase is Phase.ACCEPTED:
                if user is not None:
                    await self.mfa_succeeded(request, user, now=now)
                return Decision(Verdict.ACCEPT, "password and code", method, found.reply_attrs)
            return reject("challenge expired", factor=method)
        if user is not None and await self.mfa_failed(user, now=now):
            return reject(Rule.LOCKOUT.value, factor=method)
        nxt = session.advance(
            found,
            session.Event.CODE_WRONG,
            max_attempts=self.mfa.max_attempts,
            new_state=secrets.token_bytes(16),
            now=now,
        )
        if nxt.phase is not Phase.AWAITING_CODE:
            return reject(f"{check.reason}, no attempts left", factor=method)
        await self.store.put_session(nxt)
        return self._challenge(nxt.state, self.mfa.retry_prompt, check.reason, method)

    @staticmethod
    def _challenge(state: bytes, prompt: str, reason: str, method: str) -> Decision:
        attrs = ((REPLY_MESSAGE, policy.fit_text(prompt)), (STATE, state), (PROMPT, _PROMPT_ECHO))
        return Decision(Verdict.CHALLENGE, reason, method, attrs)
