"""The management portal's caching page (administrators; others read):
the [[mfa.cache]] rules, kept in the store (config/stored.py "mfa.cache"),
listed, added, edited and deleted. Every change replaces the whole list
through `radmfa settings`' own ``change`` (admin log: before → after); a
form made from an older list is refused rather than applied to a list
someone changed since."""

from __future__ import annotations

import hashlib
from typing import Any

from aiohttp import web

from radmfa.cli import settings as settings_ops
from radmfa.config import CacheRule
from radmfa.config import stored as st
from radmfa.config.mfa import CACHE_TYPES
from radmfa.web.admin.pages import Pages
from radmfa.web.i18n import N_

SETTING = "mfa.cache"


class CachePages:
    def __init__(self, pages: Pages) -> None:
        self.pages, self.store, self.web, self.config = pages, pages.store, pages.web, pages.p.config

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/cache", self.list)
        app.router.add_post("/cache", self.change)

    async def _rules(self) -> tuple[CacheRule, ...]:
        current = await settings_ops.current(self.store, self.config)
        rules: tuple[CacheRule, ...] = next(v for s, v, _ in current if s.name == SETTING)
        return rules

    @staticmethod
    def _version(rules: tuple[CacheRule, ...]) -> str:
        return hashlib.sha256(st.to_json(st.SETTINGS[SETTING], rules).encode()).hexdigest()[:16]

    async def list(self, request: web.Request, **flash: Any) -> web.Response:
        await self.pages.me(request, "view")
        rules = await self._rules()
        return self.web.page(request, "cache.html", rules=rules, types=CACHE_TYPES, version=self._version(rules),
                             max_seconds=st.MAX_CACHE_SECONDS, **Pages._flashed(flash))

    async def change(self, request: web.Request) -> web.StreamResponse:
        me, form = await self.pages._form(request, "settings")
        rules = list(await self._rules())
        language = request["visit"].language
        if form.get("version") != self._version(tuple(rules)):
            text = N_("The rules were changed meanwhile; nothing is saved. Look at them again.")
            return await self.list(request, text=self.web.renderer.translate(language, text), error=True)
        action, index = form.get("action", ""), form.get("index", "")
        at = int(index) if index.isdigit() and int(index) < len(rules) else -1
        try:
            if action == "delete" and at >= 0:
                del rules[at]
            elif action in ("add", "save") and (action == "add" or at >= 0):
                line = " ".join((form.get("type", ""), form.get("seconds", "").strip() or "?",
                                 ",".join(form.get("clients", "").replace(",", " ").split())))
                rule = st.parse_text(st.SETTINGS[SETTING], line)[0]
                if action == "add":
                    rules.append(rule)
                else:
                    rules[at] = rule
            else:
                raise web.HTTPBadRequest()
            await settings_ops.change_cache(self.store, self.config, rules, by=me.account.username)
        except st.SettingError as e:
            return await self.list(request, text=str(e), error=True)
        if self.pages.settings is not None:
            await self.pages.settings.refresh()
        text = N_("Saved. Every node follows within seconds.")
        return await self.list(request, text=self.web.renderer.translate(language, text))
