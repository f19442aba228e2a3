"""The management portal's fraud page: the reports users made (fraud code
on a call, "report fraud" on a push or in the user portal, `radmfa fraud
record`), filtered as `radmfa report fraud` filters them, and their
review (`radmfa fraud set-status`, administrators only; everyone signed
in reads them)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiohttp import web

from radmfa.cli import fraud as fraud_ops
from radmfa.cli import report as report_ops
from radmfa.core.model import FRAUD_SOURCES, FRAUD_STATUSES
from radmfa.core.policy import e164
from radmfa.errors import RadmfaError
from radmfa.reports import rows as reports
from radmfa.web.admin.pages import Pages
from radmfa.web.i18n import N_

SHOWN = 500  # the newest this many reports that match


class FraudPages:
    def __init__(self, pages: Pages) -> None:
        self.pages, self.store, self.web = pages, pages.store, pages.web

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/fraud", self.list)
        app.router.add_post("/fraud/{id}/status", self.set_status)

    async def list(self, request: web.Request, **flash: Any) -> web.Response:
        await self.pages.me(request, "view")
        now: datetime = request["visit"].now
        q = {k: request.query.get(k, "").strip() for k in ("since", "until", "user", "phone", "status", "source")}
        problems: list[str] = []
        when: dict[str, datetime | None] = {}
        for key in ("since", "until"):
            try:
                when[key] = reports.parse_when(q[key], now=now) if q[key] else None
            except ValueError as e:
                problems.append(f"{key}: {e}")
                when[key] = None
        phone = None
        if q["phone"]:
            try:
                phone = e164(q["phone"])
            except ValueError as e:
                problems.append(f"phone: {e}")
        found = [] if problems else await report_ops.find_fraud(
            self.store, since=when["since"], until=when["until"], user=q["user"] or None, phone=phone,
            status=q["status"] if q["status"] in FRAUD_STATUSES else None,
            source=q["source"] if q["source"] in FRAUD_SOURCES else None,
        )
        if problems and not flash:
            flash = {"text": "; ".join(problems), "error": True}
        return self.web.page(
            request, "fraud.html", reports=list(reversed(found))[:SHOWN], total=len(found), q=q,
            statuses=FRAUD_STATUSES, sources=FRAUD_SOURCES, format_time=reports.format_time,
            **Pages._flashed(flash),
        )

    async def set_status(self, request: web.Request) -> web.StreamResponse:
        me, form = await self.pages._form(request, "settings")
        ident = request.match_info["id"]
        status = form.get("status", "")
        try:
            before, after = await fraud_ops.set_status(
                self.store, int(ident) if ident.isdigit() else -1, status,
                unblock=bool(form.get("unblock")) and status == "false-alarm", by=me.account.username)
        except RadmfaError as e:
            return await self.list(request, text=str(e), error=True)
        language = request["visit"].language
        text = self.web.renderer.translate(language, N_("The report is marked."))
        if after is not None and before is not after and form.get("unblock"):
            text += " " + self.web.renderer.translate(language, N_("The user is unblocked."))
        return await self.list(request, text=text)
