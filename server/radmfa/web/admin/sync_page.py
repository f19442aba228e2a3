"""The management portal's directory-sync page, admins only: the last
run (when, by whom, its counts; scheduled or not), the runs that changed
something (the admin log), a dry-run preview (the plan `radmfa sync
--dry-run` prints, from directory/sync.py's plan_sync), and the run
itself. A run that would block users who left the directory needs their
count typed: a count that no longer matches the directory changes nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from radmfa.cli.sync import plan_lines
from radmfa.directory.sync import SyncPlan, run_sync
from radmfa.errors import RadmfaError
from radmfa.reports import rows as reports
from radmfa.web.i18n import N_

if TYPE_CHECKING:
    from radmfa.web.admin.pages import Pages

RUNS_SHOWN = 10


def leavers(plan: SyncPlan) -> int:
    return len(plan.block) + len(plan.held_back)


class SyncPages:
    def __init__(self, pages: Pages) -> None:
        self.pages, self.store, self.web = pages, pages.store, pages.web

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/sync", self.sync)
        app.router.add_post("/sync/preview", self.preview)
        app.router.add_post("/sync/apply", self.apply)

    async def sync(self, request: web.Request, plan: SyncPlan | None = None, **flash: Any) -> web.Response:
        await self.pages.me(request, "settings")
        config = self.pages.p.config
        runs = [e for e in await self.store.query_admin_events(limit=1000) if e.action == "directory.sync"]
        return self.web.page(
            request,
            "sync.html",
            configured=bool(config.sync.upstream),
            upstream=config.sync.upstream,
            max_removals=config.sync.max_removals,
            every=config.sync.every_minutes,
            runs=list(reversed(runs))[:RUNS_SHOWN],
            format_time=reports.format_time,
            plan=plan,
            last=await self.store.last_sync_result("directory"),
            lines=plan_lines(plan) if plan else [],
            summary=plan.summary(done=False) if plan else "",
            leavers=leavers(plan) if plan else 0,
            **self.pages._flashed(flash),
        )

    async def preview(self, request: web.Request) -> web.StreamResponse:
        await self.pages._form(request, "settings")
        try:
            plan = await run_sync(self.pages.p.config, self.store, dry_run=True)
        except RadmfaError as e:
            return await self.sync(
                request,
                text=self.pages.said(request, N_("The directory could not be read: %(why)s"), why=e),
                error=True,
            )
        return await self.sync(request, plan=plan)

    async def apply(self, request: web.Request) -> web.StreamResponse:
        me, form = await self.pages._form(request, "settings")
        config = self.pages.p.config
        typed = form.get("removals", "").strip()
        try:
            preview = await run_sync(config, self.store, dry_run=True)
            expected = leavers(preview)
            if expected and typed != str(expected):
                return await self.sync(
                    request,
                    plan=preview,
                    error=True,
                    text=self.pages.said(
                        request,
                        N_(
                            "Nothing was changed: %(n)s users left the directory now; type %(n)s "
                            "to block them with this run."
                        ),
                        n=expected,
                    ),
                )
            # Every leaver needs the count (max_removals 0): one more leaver since the check blocks none.
            plan = await run_sync(
                config, self.store, confirm_removals=expected, actor=me.account.username, max_removals=0
            )
        except RadmfaError as e:
            return await self.sync(
                request, text=self.pages.said(request, N_("Nothing was changed: %(why)s"), why=e), error=True
            )
        if plan.held_back:
            return await self.sync(
                request,
                plan=plan,
                error=True,
                text=self.pages.said(
                    request, N_("Leavers changed while you confirmed: %(what)s."), what=plan.summary(done=True)
                ),
            )
        return await self.sync(
            request, text=self.pages.said(request, N_("Synchronised: %(what)s."), what=plan.summary(done=True))
        )
