"""The management portal's policy pages, admins only: the trusted
networks (thousands, paged; pasted in bulk, removed one by one) and the
app-password and remembered-device policy.

Both trusted networks and the global app-password switch are settings kept
in the store (config/stored.py); every change goes through `radmfa
settings`' own operation (cli/settings.py) with the administrator's name.
The per-client policy (``[clients.<name>] app_passwords``, ``remember_days``)
stays in radmfa.toml with the client it belongs to and is shown here.
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING, Any

from aiohttp import web

from radmfa.cli import settings as settings_ops
from radmfa.config import stored
from radmfa.config.reader import IpNetwork
from radmfa.reports import rows as reports
from radmfa.web.i18n import N_

if TYPE_CHECKING:
    from radmfa.web.admin.pages import Pages

NETWORKS = "mfa.trusted_networks"
APP_PASSWORDS = "mfa.app_passwords"
PAGE_SIZE = 100


class PolicyPages:
    def __init__(self, pages: Pages) -> None:
        self.pages, self.store, self.web = pages, pages.store, pages.web

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/trusted", self.trusted)
        app.router.add_post("/trusted/add", self.add_networks)
        app.router.add_post("/trusted/remove", self.remove_network)
        app.router.add_get("/app-passwords", self.app_passwords)
        app.router.add_post("/app-passwords", self.save_app_passwords)

    async def _value(self, name: str) -> tuple[Any, str]:
        for setting, value, source in await settings_ops.current(self.store, self.pages.p.config):
            if setting.name == name:
                return value, source
        raise KeyError(name)

    async def _save(self, name: str, text: str, by: str) -> None:
        await settings_ops.change(self.store, name, text, by=by)
        if self.pages.settings is not None:
            await self.pages.settings.refresh()

    # ---- trusted networks ----

    async def trusted(self, request: web.Request, **flash: Any) -> web.Response:
        await self.pages.me(request, "settings")
        networks: tuple[IpNetwork, ...] = (await self._value(NETWORKS))[0]
        pages = max(1, -(-len(networks) // PAGE_SIZE))
        text = request.query.get("page", "1")
        number = min(max(int(text) if text.isdigit() else 1, 1), pages)
        shown = networks[(number - 1) * PAGE_SIZE : number * PAGE_SIZE]
        return self.web.page(
            request,
            "trusted.html",
            networks=[str(n) for n in shown],
            total=len(networks),
            number=number,
            pages=pages,
            first=(number - 1) * PAGE_SIZE + 1,
            maximum=stored.MAX_NETWORKS,
            problems=flash.pop("problems", []),
            pasted=flash.pop("pasted", ""),
            **self.pages._flashed(flash),
        )

    async def add_networks(self, request: web.Request) -> web.StreamResponse:
        me, form = await self.pages._form(request, "settings")
        pasted = form.get("networks", "")
        found, problems = stored.parse_network_lines(pasted)
        if problems:
            return await self.trusted(
                request,
                text=self.pages.said(request, N_("Nothing was saved: %(n)s lines are not networks."), n=len(problems)),
                error=True,
                problems=problems,
                pasted=pasted,
            )
        if not found:
            return await self.trusted(
                request, text=self.pages.said(request, N_("Nothing was saved: no networks given.")), error=True
            )
        current: tuple[IpNetwork, ...] = (await self._value(NETWORKS))[0]
        merged = tuple(dict.fromkeys((*current, *found)))
        try:
            await self._save(NETWORKS, "\n".join(str(n) for n in merged), me.account.username)
        except stored.SettingError as e:
            return await self.trusted(
                request,
                text=self.pages.said(request, N_("Nothing was saved: %(why)s"), why=e),
                error=True,
                pasted=pasted,
            )
        added = len(merged) - len(current)
        return await self.trusted(
            request,
            text=self.pages.said(
                request,
                N_("Added %(added)s networks (%(there)s were there already); %(all)s in all."),
                added=added,
                there=len(found) - added,
                all=len(merged),
            ),
        )

    async def remove_network(self, request: web.Request) -> web.StreamResponse:
        me, form = await self.pages._form(request, "settings")
        try:
            gone = ipaddress.ip_network(form.get("network", ""), strict=True)
        except ValueError:
            return await self.trusted(
                request, text=self.pages.said(request, N_("Choose a network to remove.")), error=True
            )
        current: tuple[IpNetwork, ...] = (await self._value(NETWORKS))[0]
        if gone not in current:
            return await self.trusted(
                request, text=self.pages.said(request, N_("%(net)s is not a trusted network."), net=gone), error=True
            )
        kept = [str(n) for n in current if n != gone]
        if kept:
            await self._save(NETWORKS, "\n".join(kept), me.account.username)
        else:
            await settings_ops.change(self.store, NETWORKS, None, by=me.account.username)
            if self.pages.settings is not None:
                await self.pages.settings.refresh()
        return await self.trusted(
            request, text=self.pages.said(request, N_("Removed %(net)s; %(n)s networks left."), net=gone, n=len(kept))
        )

    # ---- app passwords and remembered devices ----

    async def app_passwords(self, request: web.Request, **flash: Any) -> web.Response:
        await self.pages.me(request, "settings")
        enabled, source = await self._value(APP_PASSWORDS)
        clients = sorted(self.pages.p.config.clients.values(), key=lambda c: c.name)
        events = [e for e in await self.store.query_admin_events(limit=200) if e.target == APP_PASSWORDS]
        return self.web.page(
            request,
            "app_passwords.html",
            enabled=enabled,
            source=source,
            clients=clients,
            events=list(reversed(events))[:10],
            format_time=reports.format_time,
            **self.pages._flashed(flash),
        )

    async def save_app_passwords(self, request: web.Request) -> web.StreamResponse:
        me, form = await self.pages._form(request, "settings")
        wanted = "true" if form.get("enabled") else "false"
        enabled, _source = await self._value(APP_PASSWORDS)
        if (wanted == "true") == bool(enabled):
            return await self.app_passwords(request, text=self.pages.said(request, N_("Nothing changed.")))
        await self._save(APP_PASSWORDS, wanted, me.account.username)
        text = self.pages.said(
            request,
            N_("App passwords are allowed.") if wanted == "true" else N_("App passwords are off for every client."),
        )
        return await self.app_passwords(request, text=text)
