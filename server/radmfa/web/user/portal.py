"""The user portal's shared state and the rules its pages share.

``UserPortal`` holds what the pages need (store, upstream, phone factors,
the OTP factor) and answers the questions every page asks: who is signed
in, which methods they have, may they enroll, is their last factor fresh
enough for a change. Changes are recorded here (admin_events with the user
as actor) and announced to the user's existing e-mail and phone.
"""

from __future__ import annotations

import secrets
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Protocol

import structlog
from aiohttp import web

from radmfa.config import Config
from radmfa.core import exemptions, fraud
from radmfa.core.admin_model import AdminEvent, WebSession
from radmfa.core.admin_ports import AuditLog, ControlAdmin, PortalStore, UserAdmin
from radmfa.core.controls import Lockout
from radmfa.core.model import AuditRecord, Token, User, UserState
from radmfa.core.ports import Factor, LoginStore, Upstream
from radmfa.delivery import Senders
from radmfa.errors import DeliveryError
from radmfa.factors.phone import PhoneFactors
from radmfa.web.app import Foundation, Visit
from radmfa.web.user.verify import PORTAL_CLIENT, Choice, Verifier, choices

log = structlog.get_logger("radmfa.portal")

SIGNED_IN = "signed-in"
PASSWORD = "password"  # the password passed; the second factor is next  # noqa: S105 (a stage name)


class UserPortalStore(LoginStore, UserAdmin, ControlAdmin, AuditLog, PortalStore, Protocol):
    """The user portal signs users in as any front end does (the login
    side, with the phone factors and the lockout) and lets them change their
    own factors, app passwords and devices (those domains of the admin side)."""


class UserPortal:
    def __init__(
        self,
        config: Config,
        store: UserPortalStore,
        upstream: Upstream,
        phone: PhoneFactors | None,
        otp: Factor,
        senders: Senders,
        web_: Foundation,
        notifier: fraud.Notifier | None = None,
    ) -> None:
        self.config, self.store, self.upstream, self.phone, self.otp = config, store, upstream, phone, otp
        self.senders, self.web, self.notifier = senders, web_, notifier
        self.cfg = config.portal
        self.methods = senders.methods()
        self.verifier = Verifier(store, phone, otp, totp_window=config.mfa.totp_window)
        self._lockout = Lockout(config.mfa, store)  # the RADIUS side's rule, on the same counters

    def use_config(self, config: Config) -> None:
        """The store's settings changed (service/live_settings.py): [mfa]'s and [fraud]'s."""
        self.config = config
        self._lockout = Lockout(config.mfa, self.store)
        if self.phone is not None:
            self.phone.use_config(config)

    async def shutdown(self, _app: web.Application) -> None:
        """The portal stops: its number-matched pushes' expiry watchers go too."""
        if self.phone is not None:
            self.phone.close()

    # ---- who is here ----

    @staticmethod
    def visit(request: web.Request) -> Visit:
        visit: Visit = request["visit"]
        return visit

    async def signed_in(self, request: web.Request) -> tuple[WebSession, User, list[Token]]:
        """The signed-in session, its user and their tokens; else to the sign-in page."""
        visit = self.visit(request)
        session = visit.session
        if session is None or session.stage != SIGNED_IN:
            raise self.web.see_other("/signin")
        user, tokens = await self.store.login_view(session.username)
        if user is None or self.blocked(user, now=visit.now):
            await self.store.delete_web_session(session.id_hash)
            raise self.web.see_other("/signin")
        return session, user, self.otp.usable(tokens)

    def blocked(self, user: User, *, now: datetime) -> bool:
        return exemptions.effective_state(user, now=now) is UserState.BLOCKED

    def push_topic(self, user: User) -> str:
        return self.phone.topic(user) if self.phone is not None else ""

    def choices(self, user: User, tokens: list[Token]) -> list[Choice]:
        return choices(user, tokens, self.methods, self.push_topic(user))

    def has_factor(self, user: User, tokens: list[Token]) -> bool:
        return bool(self.choices(user, tokens))

    def may_self_enroll(self, user: User, tokens: list[Token], *, now: datetime) -> bool:
        """A first factor without an administrator's link: only for a user
        with none, when [mfa] new_user = "enroll" tells users to enroll."""
        state = exemptions.effective_state(user, now=now)
        return (
            not self.has_factor(user, tokens)
            and self.config.mfa.new_user == "enroll"
            and state in (UserState.ENABLED, UserState.ENFORCED)
        )

    def fresh(self, session: WebSession, *, now: datetime) -> bool:
        """A factor passed recently enough for a change (step-up)."""
        window = timedelta(minutes=self.cfg.step_up_minutes)
        return session.verified_at is not None and now - session.verified_at <= window

    def may_change(self, session: WebSession, user: User, tokens: list[Token], *, now: datetime) -> bool:
        """Adding or changing a factor or phone: a fresh pass of an existing
        factor, or, for a user with none, the enrollment the session was
        allowed at sign-in (policy or an administrator's link)."""
        if self.fresh(session, now=now):
            return True
        return not self.has_factor(user, tokens) and session.data.get("enroll") in ("self", "link")

    async def save(self, session: WebSession, **changes: object) -> WebSession:
        updated = replace(session, **changes)  # type: ignore[arg-type]
        await self.web.sessions.save(updated)
        return updated

    # ---- the lockout, the audit log, the admin log ----

    async def factor_failed(self, user: User, *, now: datetime) -> bool:
        """A wrong code or a denial at sign-in or step-up; True when it blocked the user."""
        return await self._lockout.failed(user, now=now)

    async def audit(self, request: web.Request, name: str, result: str, reason: str, factor: str = "") -> None:
        visit = self.visit(request)
        await self.store.write_audit([
            AuditRecord(
                time=visit.now,
                request_id=f"portal-{secrets.token_hex(6)}",
                client_name=PORTAL_CLIENT,
                client_ip=visit.address,
                username=name,
                calling_station_id=visit.address,
                factor=factor,
                result=result,
                reason=reason,
                duration_ms=0.0,
                user_ip=visit.address,
                server_name=self.config.audit.server_name,
            )
        ])
        log.info("portal sign-in", user=name, result=result, reason=reason, method=factor, peer=visit.address)

    async def record(self, request: web.Request, user: User, action: str, detail: str = "") -> None:
        """One admin_events row per change, the user as its actor."""
        visit = self.visit(request)
        where = f"via portal from {visit.address}"
        event = AdminEvent(visit.now, user.name, f"portal.{action}", user.name, f"{detail} {where}".strip())
        await self.store.write_admin_event(event)

    # ---- telling the user ----

    async def notify(self, user: User, what: str, *, language: str, also_sms: str | None = None) -> None:
        """Tell the user's e-mail and mobile (and ``also_sms``, a number
        being replaced) that their sign-in methods changed. Best effort: a
        provider that fails is logged, the change stands."""
        text = self.web.renderer.translate(
            language,
            "%(title)s: your sign-in methods were changed (%(what)s). If this was not you, "
            "tell your helpdesk at once.",
            title=self.cfg.title,
            what=self.web.renderer.translate(language, what),
        )
        numbers = {n for n in (user.mobile, also_sms) if n}
        try:
            if self.senders.sms is not None:
                for number in sorted(numbers):
                    await self.senders.sms.send_sms(number, text)
            if self.senders.email is not None and user.email:
                subject = self.web.renderer.translate(language, "Your sign-in methods were changed")
                await self.senders.email.send_email(user.email, subject=subject, body=text + "\n")
        except DeliveryError as e:
            log.warning("change notice not delivered", user=user.name, error=str(e))
