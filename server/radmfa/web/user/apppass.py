"""App passwords in the portal: the wizard's last step (seed 004, "Apps
like Microsoft Office will need passwords") and the account page's list.

Offered only when the administrator allows them ([mfa] app_passwords), and
only to users who have a second factor. A new one is shown once, on the page that made it (never stored in the
session, never in a URL); only its argon2 hash is kept, as with
`radmfa apppass create`. Making one needs a fresh factor (it signs in
without a second factor); deleting one does not.
"""

from __future__ import annotations

from datetime import datetime

from aiohttp import web

from radmfa.core import exemptions
from radmfa.core.admin_model import WebSession
from radmfa.core.model import AppPassword, Token, User
from radmfa.errors import AlreadyExists, LimitReached
from radmfa.upstream.passwords import hash_app_password
from radmfa.web.i18n import N_
from radmfa.web.user.portal import UserPortal

_TRIES = 5  # a fresh lookup prefix when the random one is taken


class AppPasswords:
    def __init__(self, portal: UserPortal) -> None:
        self.p = portal
        self.web = portal.web

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/enroll/apppasswords", self.step)
        app.router.add_post("/apppasswords/create", self.create)
        app.router.add_post("/apppasswords/delete", self.delete)

    async def step(self, request: web.Request) -> web.Response:
        session, user, tokens = await self.p.signed_in(request)
        if not self.p.config.mfa.app_passwords:
            raise self.web.see_other("/enroll/done")
        self._guard(session, user, tokens, now=self.p.visit(request).now, origin="enroll")
        made = await self.p.store.list_app_passwords(user.name)
        return self.web.page(request, "enroll_apppass.html", step=4, made=made, error="", label="")

    async def create(self, request: web.Request) -> web.Response:
        form = await self.web.form(request)
        session, user, tokens = await self.p.signed_in(request)
        origin = "account" if form.get("from") == "account" else "enroll"
        now = self.p.visit(request).now
        if not self.p.config.mfa.app_passwords:
            raise self.web.see_other("/account")
        self._guard(session, user, tokens, now=now, origin=origin)
        label = " ".join(form.get("label", "").split())
        if not label or len(label) > 64 or not label.isprintable():
            return await self._again(request, user, origin, N_("Give the app password a name of 1 to 64 characters."))
        try:
            made, password = await self._make(user, label, now=now)
        except LimitReached:
            error = N_("You have the most app passwords allowed. Delete one first.")
            return await self._again(request, user, origin, error)
        except AlreadyExists:
            return await self._again(request, user, origin, N_("You already have an app password with that name."))
        await self.p.record(request, user, "apppass.create", f"name={label}")
        await self.p.notify(user, N_("app password created"), language=self.p.visit(request).language)
        return self.web.page(request, "apppass_shown.html", made=made, password=password, origin=origin,
                             step=4)

    def _guard(self, session: WebSession, user: User, tokens: list[Token], *, now: datetime, origin: str) -> None:
        """An app password signs in without a second factor: only a user
        who has a factor may make one, with it passed recently. Otherwise
        whoever holds the password of a user who never enrolled could make
        one and keep it after the user enrolls."""
        if not self.p.has_factor(user, tokens):
            raise self.web.see_other("/enroll")
        if not self.p.fresh(session, now=now):
            raise self.web.see_other(f"/verify?next={origin}")

    async def _again(self, request: web.Request, user: User, origin: str, error: str) -> web.Response:
        if origin == "account":
            raise self.web.see_other("/account#apppasswords")
        made = await self.p.store.list_app_passwords(user.name)
        return self.web.page(request, "enroll_apppass.html", status=400, step=4, made=made, error=error, label="")

    async def _make(self, user: User, label: str, *, now: datetime) -> tuple[AppPassword, str]:
        for attempt in range(_TRIES):
            password = exemptions.new_app_password()
            try:
                made = await self.p.store.add_app_password(
                    user.name, name=label, lookup=exemptions.lookup_of(password),
                    password_hash=await hash_app_password(password, self.p.config.passwords),
                    limit=exemptions.APP_PASSWORD_LIMIT, now=now,
                )
            except AlreadyExists as e:
                if "lookup" not in str(e) or attempt == _TRIES - 1:
                    raise
                continue
            return made, password
        raise AssertionError("unreachable")

    async def delete(self, request: web.Request) -> web.StreamResponse:
        form = await self.web.form(request)
        _, user, _ = await self.p.signed_in(request)
        name = form.get("name", "")
        if name and await self.p.store.delete_app_passwords(user.name, name):
            await self.p.record(request, user, "apppass.delete", f"name={name}")
        raise self.web.see_other("/account#apppasswords")


