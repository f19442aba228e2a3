"""The management portal's hardware-token page, admins only: import a
PSKC or CSV seed file (uploaded, checked whole before anything is
stored), the tokens not yet assigned, assign one to a user, resynchronise
an HOTP token from two consecutive codes. Each is `radmfa token`'s own
operation (cli/hardware.py), recorded with the administrator's name.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from radmfa.cli import hardware as ops
from radmfa.errors import RadmfaError
from radmfa.tokens_import import ImportFileError
from radmfa.web.i18n import N_

if TYPE_CHECKING:
    from radmfa.web.admin.pages import Pages


class HardwarePages:
    def __init__(self, pages: Pages) -> None:
        self.pages, self.store, self.web = pages, pages.store, pages.web

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/tokens", self.tokens)
        app.router.add_post("/tokens/import", self.import_file)
        app.router.add_post("/tokens/assign", self.assign)
        app.router.add_post("/tokens/resync", self.resync)

    async def tokens(self, request: web.Request, **flash: Any) -> web.Response:
        await self.pages.me(request, "settings")
        waiting = await self.store.list_hardware_tokens()
        return self.web.page(
            request,
            "tokens.html",
            columns=ops.UNASSIGNED_COLUMNS,
            rows=ops.unassigned_rows(waiting),
            serial=flash.pop("serial", request.query.get("serial", "")),
            **self.pages._flashed(flash),
        )

    async def import_file(self, request: web.Request) -> web.StreamResponse:
        me, _form = await self.pages._form(request, "settings")
        data = await request.post()
        upload = data.get("file")
        if not isinstance(upload, web.FileField) or not upload.filename:
            return await self.tokens(
                request, text=self.pages.said(request, N_("Choose a PSKC or CSV file to import.")), error=True
            )
        content = upload.file.read()  # at most the portal's MAX_UPLOAD_BYTES
        where = upload.filename.replace("/", "_")[-100:]
        fmt = str(data.get("format") or "") or ops.file_format(where)
        try:
            if fmt not in ("pskc", "csv"):
                raise ImportFileError("choose the format: PSKC or CSV")
            found = ops.parse_tokens(
                content,
                where=where,
                fmt=fmt,
                psk=str(data.get("psk") or "") or None,
                password=str(data.get("password") or "") or None,
            )
            done = await ops.import_tokens(self.store, found, where, by=me.account.username)
        except RadmfaError as e:
            return await self.tokens(
                request, text=self.pages.said(request, N_("Nothing was imported: %(why)s"), why=e), error=True
            )
        return await self.tokens(request, text=f"{done[:1].upper()}{done[1:]}.")

    async def assign(self, request: web.Request) -> web.StreamResponse:
        me, form = await self.pages._form(request, "settings")
        serial, name = form.get("serial", "").strip(), form.get("name", "").strip()
        try:
            token = await ops.assign(self.store, serial, name, by=me.account.username)
        except RadmfaError as e:
            return await self.tokens(request, text=str(e), error=True, serial=serial)
        return await self.tokens(
            request,
            text=self.pages.said(
                request,
                N_("Token %(serial)s (%(kind)s) is now %(user)s's."),
                serial=serial,
                kind=token.kind,
                user=token.username,
            ),
        )

    async def resync(self, request: web.Request) -> web.StreamResponse:
        me, form = await self.pages._form(request, "settings")
        serial = form.get("serial", "").strip()
        try:
            counter = await ops.resync(
                self.store, serial, form.get("code1", ""), form.get("code2", ""), by=me.account.username
            )
        except RadmfaError as e:
            return await self.tokens(request, text=str(e), error=True)
        return await self.tokens(
            request,
            text=self.pages.said(
                request,
                N_("Token %(serial)s is resynchronised: the next code is number %(n)s."),
                serial=serial,
                n=counter + 1,
            ),
        )
