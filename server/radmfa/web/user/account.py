"""Self-service after enrollment (seed 003's user portal): the default
method; the methods and phones (add, verify again, remove); app passwords;
remembered devices; the user's own recent sign-ins, each with "This wasn't
me", which raises a fraud report through the same path as a voice fraud
code or a push "Deny and report fraud" ([fraud]: block, alerts).

Removing a method needs a fresh factor, and the last one cannot be
removed (the user would be a new user again, whom anyone with the password
could enroll). Choosing the default method, forgetting devices, deleting
app passwords and reporting fraud only take access away.
"""

from __future__ import annotations

import structlog
from aiohttp import web

from radmfa.core import fraud, policy
from radmfa.core.admin_model import WebSession
from radmfa.core.methods import mask
from radmfa.core.model import AuditRecord, FraudReport, Token, User
from radmfa.web.i18n import N_
from radmfa.web.user.portal import UserPortal

log = structlog.get_logger("radmfa.portal")

RECENT = 20  # sign-ins listed


class Account:
    def __init__(self, portal: UserPortal) -> None:
        self.p = portal
        self.web = portal.web

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/account", self.page)
        app.router.add_post("/account/default", self.default)
        app.router.add_post("/account/remove", self.remove)
        app.router.add_post("/account/devices/forget", self.forget)
        app.router.add_post("/account/report", self.report)

    async def page(self, request: web.Request) -> web.Response:
        session, user, tokens = await self.p.signed_in(request)
        flash = session.data.get("flash", "")
        if flash:
            session = await self.p.save(session, data={k: v for k, v in session.data.items() if k != "flash"})
        choices = self.p.choices(user, tokens)
        return self.web.page(
            request, "account.html", user=user, tokens=tokens, choices=choices,
            default=user.default_method or (choices[0].method if choices else ""),
            mobile=mask(user.mobile) if user.mobile else "",
            office=mask(user.office_phone) if user.office_phone else "",
            push_available="push" in self.p.methods, apppass_on=self.p.config.mfa.app_passwords,
            apppasswords=await self.p.store.list_app_passwords(user.name),
            devices=await self.p.store.list_devices(user.name),
            signins=await self.recent(user), flash=flash,
            fresh=self.p.fresh(session, now=self.p.visit(request).now),
        )

    async def recent(self, user: User) -> list[AuditRecord]:
        """The user's latest sign-ins: audit rows under the user's name as
        enrolled and as the store keys it (the index on (username, time)
        answers each spelling)."""
        rows: dict[str, AuditRecord] = {}
        for spelling in {user.name, policy.name_key(user.name)}:
            for row in await self.p.store.query_audit(username=spelling, limit=RECENT):
                rows[row.request_id + str(row.time.timestamp())] = row
        return sorted(rows.values(), key=lambda r: r.time, reverse=True)[:RECENT]

    async def _flash(self, session: WebSession, message: str) -> None:
        await self.p.save(session, data={**session.data, "flash": message})

    async def default(self, request: web.Request) -> web.StreamResponse:
        form = await self.web.form(request)
        session, user, tokens = await self.p.signed_in(request)
        method = form.get("method", "")
        if method in {c.method for c in self.p.choices(user, tokens)} and method != user.default_method:
            await self.p.store.update_user(user.name, {"default_method": method})
            await self.p.record(request, user, "default_method", f"method={method}")
            await self._flash(session, N_("Your default method is saved."))
        raise self.web.see_other("/account")

    async def remove(self, request: web.Request) -> web.StreamResponse:
        form = await self.web.form(request)
        session, user, tokens = await self.p.signed_in(request)
        now = self.p.visit(request).now
        if not self.p.fresh(session, now=now):
            raise self.web.see_other("/verify?next=account")
        what = form.get("what", "")
        changes, token = _removal(what, user, tokens)
        if changes is None and token is None:
            raise self.web.see_other("/account")
        remaining = [t for t in tokens if token is None or t.id != token.id]
        after = _without(user, changes or {})
        if not self.p.has_factor(after, remaining):
            await self._flash(session, N_("This is your only sign-in method. Add another one before you remove it."))
            raise self.web.see_other("/account")
        if token is not None:
            await self.p.store.delete_token(token.id)
        if changes:
            left = self.p.choices(after, remaining)
            if user.default_method and not any(c.method == user.default_method for c in left):
                changes["default_method"] = None
            await self.p.store.update_user(user.name, changes)
        await self.p.record(request, user, f"{what.partition(':')[0]}.remove", what)
        await self.p.notify(user, N_("a sign-in method removed"), language=self.p.visit(request).language)
        await self._flash(session, N_("The method is removed."))
        raise self.web.see_other("/account")

    async def forget(self, request: web.Request) -> web.StreamResponse:
        await self.web.form(request)
        session, user, _ = await self.p.signed_in(request)
        count = await self.p.store.forget_devices(user.name)
        await self.p.record(request, user, "device.forget", f"all forgotten={count}")
        await self._flash(session, N_("Your remembered devices are forgotten: each asks for your second factor again."))
        raise self.web.see_other("/account")

    async def report(self, request: web.Request) -> web.Response:
        form = await self.web.form(request)
        session, user, _ = await self.p.signed_in(request)
        now = self.p.visit(request).now
        row = next((r for r in await self.recent(user) if r.request_id == form.get("id")), None)
        if row is None:
            raise self.web.see_other("/account")
        report = FraudReport(
            time=now, username=user.name, source="portal", client_name=row.client_name,
            calling_station_id=row.calling_station_id, phone=row.phone, device=row.device,
            note=f"sign-in {row.request_id} at {row.time.isoformat(timespec='seconds')} reported from the portal",
        )
        stored = await fraud.raise_alert(
            self.p.store, self.p.config.fraud, report, now=now, log=log, notify=self.p.notifier
        )
        await self.p.record(request, user, "fraud.report", f"request={row.request_id}")
        blocked = stored is not None and self.p.config.fraud.block_user
        if stored is None:  # [fraud] allow_reports = false: nothing was recorded
            text = N_("If you think someone else knows your password, change it and tell your helpdesk.")
        elif blocked:
            text = N_("Your account is blocked to protect it. Your helpdesk has been told and will contact you.")
        else:
            text = N_("Your helpdesk has been told.")
        response = self.web.page(request, "message.html", heading=N_("Thank you for telling us"), text=text)
        if blocked:
            await self.p.store.delete_web_sessions_of(user.name, portal=self.web.site.portal)
            await self.web.sessions.end(response, session)
        return response


def _removal(what: str, user: User, tokens: list[Token]) -> tuple[dict[str, object] | None, Token | None]:
    kind, _, ident = what.partition(":")
    if kind == "token":
        return None, next((t for t in tokens if str(t.id) == ident), None)
    if kind == "mobile" and user.mobile:
        return {"mobile": None}, None
    if kind == "office" and user.office_phone:
        return {"office_phone": None}, None
    if kind == "push" and user.push_enrolled:
        return {"push_enrolled": False}, None
    return None, None


def _without(user: User, changes: dict[str, object]) -> User:
    from dataclasses import replace

    return replace(user, **changes)  # type: ignore[arg-type]
