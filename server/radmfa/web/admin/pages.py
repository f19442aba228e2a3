"""The management portal's pages and who may use them.

Rights by role (``RIGHTS``): every page checks the signed-in
administrator's role in the store on every request, so `radmfa admin
set-role` or `remove` takes effect at the next click. ``view``: the
dashboard, users and their pages, bypasses; ``act``: the helpdesk's
actions on users and bypasses; ``settings``: the settings kept in the
store and the admin-only pages (trusted networks, app passwords, hardware
tokens, directory sync); ``reports``: the reports and their CSV export
(admins and auditors). Roles are changed only by `radmfa admin`, never here.

Every change goes through the CLI's own operation (cli/helpdesk.py,
cli/bypass.py, cli/portal.py, cli/settings.py) with the administrator's
name, so it lands in the same admin log as a command's.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from radmfa.cli import bypass as bypass_ops
from radmfa.cli import helpdesk, session
from radmfa.cli import portal as portal_links
from radmfa.cli import settings as settings_ops
from radmfa.config import stored
from radmfa.core.admin_model import AdminAccount, AuditFilter
from radmfa.core.admin_ports import Store
from radmfa.core.exemptions import effective_state
from radmfa.core.model import UserState
from radmfa.core.ports import Upstream
from radmfa.errors import RadmfaError
from radmfa.reports import chart
from radmfa.reports import rows as reports
from radmfa.service.live_settings import LiveSettings
from radmfa.web.admin import hardware, health_view, policy, reports_page, sync_page
from radmfa.web.app import Visit
from radmfa.web.i18n import N_
from radmfa.web.user.portal import SIGNED_IN, UserPortal

ADMIN_PORTAL = "admin"  # the portal name: cookies radmfa-admin, sessions kept apart from the user portal's
RIGHTS: dict[str, frozenset[str]] = {
    "admin": frozenset({"view", "act", "settings", "reports"}),
    "helpdesk": frozenset({"view", "act"}),
    "auditor": frozenset({"view", "reports"}),
}
SEARCH_LIMIT = 50
CHART_DAYS = 30
STATES = [s.value for s in UserState]


@dataclass(frozen=True, slots=True)
class Me:
    account: AdminAccount
    may: frozenset[str]


class Pages:
    def __init__(self, portal: UserPortal, store: Store, upstream: Upstream, settings: LiveSettings | None) -> None:
        self.p, self.store, self.upstream, self.settings = portal, store, upstream, settings
        self.web = portal.web

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/", self.dashboard)
        app.router.add_get("/chart.svg", self.chart)
        app.router.add_get("/users", self.users)
        app.router.add_get("/users/{name}", self.user)
        app.router.add_post("/users/{name}/state", self.set_state)
        app.router.add_post("/users/{name}/unblock", self.unblock)
        app.router.add_post("/users/{name}/reset", self.reset)
        app.router.add_post("/users/{name}/enroll-link", self.enroll_link)
        app.router.add_post("/users/{name}/test", self.test_send)
        app.router.add_get("/bypass", self.bypasses)
        app.router.add_post("/bypass", self.create_bypass)
        app.router.add_post("/bypass/{id}/cancel", self.cancel_bypass)
        app.router.add_get("/settings", self.settings_page)
        app.router.add_post("/settings", self.save_settings)
        for more in (policy.PolicyPages, hardware.HardwarePages, sync_page.SyncPages, reports_page.ReportPages):
            more(self).routes(app)

    # ---- who is here, and may they ----

    async def me(self, request: web.Request, need: str) -> Me:
        visit: Visit = request["visit"]
        session = visit.session
        if session is None or session.stage != SIGNED_IN:
            raise self.web.see_other("/signin")
        account = await self.store.get_admin(session.username)
        user = await self.store.get_user(session.username)
        if account is None or user is None or effective_state(user, now=visit.now) is UserState.BLOCKED:
            await self.store.delete_web_session(session.id_hash)
            raise self.web.see_other("/signin")
        me = Me(account, RIGHTS.get(account.role, frozenset()))
        visit.extra.update(me=account, may=me.may, flash="", flash_error=False)
        if need not in me.may:
            raise web.HTTPForbidden()
        return me

    async def _form(self, request: web.Request, need: str) -> tuple[Me, dict[str, str]]:
        """A POST: the CSRF token first (a forged form changes nothing), then the right."""
        form = await self.web.form(request)
        return await self.me(request, need), dict(form)

    def said(self, request: web.Request, message: str, **values: object) -> str:
        """A fixed message (marked with N_) in the visitor's language, ``%(name)s`` filled in."""
        return self.web.renderer.translate(request["visit"].language, message, **{k: str(v) for k, v in values.items()})

    @staticmethod
    def _flashed(flash: dict[str, Any]) -> dict[str, Any]:
        """What a re-rendered page says about the action just done."""
        return {"flash": flash.get("text", ""), "flash_error": bool(flash.get("error"))}

    # ---- dashboard ----

    async def dashboard(self, request: web.Request) -> web.Response:
        await self.me(request, "view")
        now: datetime = request["visit"].now
        today = datetime(now.year, now.month, now.day, tzinfo=UTC)
        by_result_method = await self.store.count_audit(AuditFilter(since=today), ("result", "method"))
        results: Counter[str] = Counter()
        methods: Counter[str] = Counter()
        for result, method, n in by_result_method:
            results[str(result)] += int(n)
            if result != "challenge":
                methods[str(method) or "—"] += int(n)
        failing = await self.store.count_audit(
            AuditFilter(since=now - timedelta(days=1), result="reject"), ("user",), most_first=True, limit=10)
        fraud = [f for f in await self.store.list_fraud_reports(since=now - timedelta(days=90)) if f.status == "new"]
        return self.web.page(
            request, "dashboard.html", results=sorted(results.items()), methods=methods.most_common(),
            failing=failing, fraud=fraud[-20:], upstream_ok=self.upstream.healthy(), format_time=reports.format_time,
            nodes=health_view.nodes(await self.store.list_health(), now=now),
        )

    async def chart(self, request: web.Request) -> web.Response:
        await self.me(request, "view")
        now: datetime = request["visit"].now
        first = now.date() - timedelta(days=CHART_DAYS - 1)
        since = datetime(first.year, first.month, first.day, tzinfo=UTC)
        daily = await self.store.count_daily(("day", "result"), since=since)
        days = [(reports.epoch_date(int(day)), result, n) for day, result, n in daily]
        svg = chart.daily_decisions_svg(days, first=first, last=now.date())
        return web.Response(text=svg, content_type="image/svg+xml", headers={"Cache-Control": "no-store"})

    # ---- users ----

    async def users(self, request: web.Request) -> web.Response:
        await self.me(request, "view")
        query = request.query.get("q", "")[:200]
        found = await self.store.search_users(query, limit=SEARCH_LIMIT) if query.strip() else []
        return self.web.page(request, "users.html", q=query, found=found, limit=SEARCH_LIMIT)

    async def user(self, request: web.Request, **flash: Any) -> web.Response:
        await self.me(request, "view")
        name = request.match_info["name"]
        user = await self.store.get_user(name)
        if user is None:
            raise web.HTTPNotFound()
        now: datetime = request["visit"].now
        tokens = await self.store.list_tokens(user.name)
        signins = await self.store.query_audit(username=user.name, limit=20)
        return self.web.page(
            request, "user.html", user=user, state=effective_state(user, now=now).value, states=STATES,
            tokens=tokens, devices=await self.store.list_devices(user.name),
            apppasswords=await self.store.list_app_passwords(user.name),
            bypasses=[b for b in await self.store.list_bypasses(user.name) if b.status(now=now) == "open"],
            signins=list(reversed(signins)), format_time=reports.format_time, state_text=helpdesk.state_text(user),
            link=flash.pop("link", ""), test_methods=self._test_methods(user), **self._flashed(flash),
        )

    def _test_methods(self, user: Any) -> list[str]:
        return list(dict.fromkeys(o.method for o in self.p.phone.options(user))) if self.p.phone else []

    async def _act(self, request: web.Request, work: Any, done: str) -> web.StreamResponse:
        me, form = await self._form(request, "act")
        name = request.match_info["name"]
        try:
            result = await work(me.account.username, name, form)
        except RadmfaError as e:
            return await self.user(request, text=str(e), error=True)
        text = self.web.renderer.translate(request["visit"].language, done)
        if isinstance(result, str) and result.startswith("link:"):
            return await self.user(request, text=text, link=result[5:])
        return await self.user(request, text=text)

    async def set_state(self, request: web.Request) -> web.StreamResponse:
        async def work(by: str, name: str, form: dict[str, str]) -> None:
            if form.get("state") not in STATES:
                raise RadmfaError("choose a state")
            user = await helpdesk.set_state(self.store, name, UserState(form["state"]), by=by)
            if user.state is UserState.BLOCKED:  # the block applies now: end the user's live sessions
                await session.end_for(self.p.config, self.store, user.name, "blocked by an administrator")

        return await self._act(request, work, N_("The state is changed."))

    async def unblock(self, request: web.Request) -> web.StreamResponse:
        async def work(by: str, name: str, form: dict[str, str]) -> None:
            await helpdesk.unblock(self.store, name, by=by)
            await helpdesk.clear_push_block(self.store, name, by=by)

        return await self._act(request, work, N_("The user is unblocked."))

    async def reset(self, request: web.Request) -> web.StreamResponse:
        async def work(by: str, name: str, form: dict[str, str]) -> None:
            _, user = await helpdesk.reset(self.store, name, by=by)
            # A reset is for a lost or stolen phone: end the sessions it may hold.
            await session.end_for(self.p.config, self.store, user.name, "user reset")

        return await self._act(request, work, N_("The user's tokens, remembered devices and cached logins are gone."))

    async def enroll_link(self, request: web.Request) -> web.StreamResponse:
        async def work(by: str, name: str, form: dict[str, str]) -> str:
            if not self.p.config.portal.public_url:
                raise RadmfaError("[portal] public_url is not set: there is no user portal to link to")
            hours = form.get("hours", "24")
            _link, url = await portal_links.enroll_link(
                self.store, name, int(hours) if hours.isdigit() else 0, self.p.config.portal.public_url, by=by)
            return "link:" + url

        response = await self._act(request, work, N_("Enrollment link made. Hand it to the user; it works once."))
        response.headers["Referrer-Policy"] = "no-referrer"
        return response

    async def test_send(self, request: web.Request) -> web.StreamResponse:
        me, form = await self._form(request, "act")
        name, method = request.match_info["name"], form.get("method", "")
        try:
            where = await helpdesk.test_send(self.store, self.p.phone, name, method, now=request["visit"].now,
                                             by=me.account.username)
        except RadmfaError as e:
            return await self.user(request, text=str(e), error=True)
        text = self.web.renderer.translate(request["visit"].language, N_("Test sent: %(method)s to %(where)s."),
                                           method=method, where=where)
        return await self.user(request, text=text)

    # ---- one-time bypass ----

    async def bypasses(self, request: web.Request, **flash: Any) -> web.Response:
        await self.me(request, "view")
        now: datetime = request["visit"].now
        found = list(reversed(await self.store.list_bypasses(None)))[:200]
        return self.web.page(
            request, "bypass.html", bypasses=found, now=now, format_time=reports.format_time,
            max_seconds=bypass_ops.MAX_SECONDS, name=flash.pop("name", request.query.get("user", "")),
            **self._flashed(flash),
        )

    async def create_bypass(self, request: web.Request) -> web.StreamResponse:
        me, form = await self._form(request, "act")
        seconds = form.get("seconds", "")
        try:
            made = await bypass_ops.create(
                self.store, form.get("name", "").strip(), int(seconds) if seconds.isdigit() else 0,
                form.get("reason", ""), by=me.account.username)
        except RadmfaError as e:
            return await self.bypasses(request, text=str(e), error=True, name=form.get("name", ""))
        return await self.bypasses(request, text=f"Bypass {made.id} for {made.username} is open until "
                                                 f"{reports.format_time(made.expires_at)}; it works once.")

    async def cancel_bypass(self, request: web.Request) -> web.StreamResponse:
        me, _form = await self._form(request, "act")
        ident = request.match_info["id"]
        try:
            gone = await bypass_ops.cancel(self.store, int(ident) if ident.isdigit() else -1, by=me.account.username)
        except RadmfaError as e:
            return await self.bypasses(request, text=str(e), error=True)
        return await self.bypasses(request, text=f"Bypass {gone.id} of {gone.username} is cancelled.")

    # ---- settings kept in the store ----

    async def settings_page(self, request: web.Request, **flash: Any) -> web.Response:
        await self.me(request, "settings")
        current = await settings_ops.current(self.store, self.p.config)
        shown = [(s, stored.show(s, v), source) for s, v, source in current if s.page == "settings"]
        events = [e for e in await self.store.query_admin_events(limit=200) if e.action.startswith("setting.")]
        return self.web.page(
            request, "settings.html", settings=shown, events=list(reversed(events))[:20],
            format_time=reports.format_time,
            **self._flashed(flash),
        )

    async def save_settings(self, request: web.Request) -> web.StreamResponse:
        me, form = await self._form(request, "settings")
        current = {s.name: stored.show(s, v) for s, v, _ in await settings_ops.current(self.store, self.p.config)}
        changed: list[str] = []
        try:
            # Check every value before changing any: a bad one changes nothing.
            wanted = {}
            for name, setting in stored.SETTINGS.items():
                if setting.page != "settings":
                    continue  # edited on a page of its own
                text = form.get(name, "") if setting.kind != "bool" else ("true" if form.get(name) else "false")
                value = stored.show(setting, stored.parse_text(setting, text))
                if value != current[name]:
                    wanted[name] = value
            for name, value in wanted.items():
                await settings_ops.change(self.store, name, value, by=me.account.username, cfg=self.p.config)
                changed.append(name)
        except stored.SettingError as e:
            return await self.settings_page(request, text=str(e), error=True)
        if self.settings is not None:
            await self.settings.refresh()
        text = f"Saved: {', '.join(changed)}. Every node follows within seconds." if changed else "Nothing changed."
        return await self.settings_page(request, text=text)


