"""The management portal's messages page (administrators): the custom
texts and voice recordings users get instead of the built-in ones (`radmfa
message`), listed, added, uploaded, played in the page and deleted, and a
preview of what a user of a language and client gets.

A recording is uploaded as multipart/form-data and read in chunks: the
CSRF token must come before the file, and reading stops as soon as the
file passes 5 MB (a larger Content-Length is refused before reading any
of it). Its type comes from its first bytes (core/messages.audio_type),
never from the name or the browser's word."""

from __future__ import annotations

from typing import Any

import structlog
from aiohttp import BodyPartReader, web

from radmfa.cli import messages as message_ops
from radmfa.core import messages
from radmfa.core.model import MESSAGE_KINDS, VOICE_KINDS
from radmfa.errors import RadmfaError
from radmfa.reports import rows as reports
from radmfa.web import security
from radmfa.web.admin.pages import Pages
from radmfa.web.i18n import N_

log = structlog.get_logger("radmfa.admin_portal")
CHUNK = 64 * 1024
FIELD_LIMIT = 16 * 1024  # a text field of the upload form
FORM_SLACK = 64 * 1024  # the upload form's other fields and multipart framing


class MessagePages:
    def __init__(self, pages: Pages) -> None:
        self.pages, self.store, self.web, self.config = pages, pages.store, pages.web, pages.p.config

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/messages", self.list)
        app.router.add_post("/messages", self.add_text)
        app.router.add_post("/messages/upload", self.upload)
        app.router.add_get("/messages/{id:[0-9]{1,18}}/audio", self.audio)
        app.router.add_post("/messages/{id}/delete", self.delete)

    async def list(self, request: web.Request, **flash: Any) -> web.Response:
        await self.pages.me(request, "settings")
        q = {k: request.query.get(k, "").strip() for k in ("kind", "language", "client", "user")}
        shown: dict[str, Any] = {}
        if q["kind"] in MESSAGE_KINDS:
            try:
                language = message_ops.language_tag(q["language"])
                text, recorded = await message_ops.preview(self.store, self.config, q["kind"], language=language,
                                                           client=q["client"], user=q["user"] or None)
                shown = {"text": text, "recorded": recorded}
            except RadmfaError as e:
                flash = flash or {"text": str(e), "error": True}
        return self.web.page(
            request, "messages.html", found=await self.store.list_messages(None), kinds=MESSAGE_KINDS,
            voice_kinds=VOICE_KINDS, q=q, preview=shown, format_time=reports.format_time,
            max_mb=messages.MAX_VOICE_BYTES // (1024 * 1024), form=flash.pop("form", {}), **Pages._flashed(flash),
        )

    async def add_text(self, request: web.Request) -> web.StreamResponse:
        me, form = await self.pages._form(request, "settings")
        try:
            client, _app = message_ops.client_name(self.config, form.get("client", "").strip())
            message = message_ops.text_message(form.get("kind", ""), message_ops.language_tag(form.get("language", "")),
                                               client, form.get("text", "").replace("\r\n", "\n").strip())
            stored = await message_ops.add(self.store, message, replace=bool(form.get("replace")),
                                           by=me.account.username)
        except RadmfaError as e:
            return await self.list(request, text=str(e), error=True, form=form)
        return await self.list(request, text=self._added(request, stored.id))

    async def upload(self, request: web.Request) -> web.StreamResponse:
        me = await self.pages.me(request, "settings")
        if request.content_length is not None and request.content_length > messages.MAX_VOICE_BYTES + FORM_SLACK:
            return await self.list(request, text=self._too_big(request.content_length), error=True)
        try:
            fields, data, filename = await self._read_upload(request)
        except messages.MessageError as e:
            return await self.list(request, text=str(e), error=True)
        try:
            client, _app = message_ops.client_name(self.config, fields.get("client", "").strip())
            language = message_ops.language_tag(fields.get("language", ""))
            message = message_ops.recording(fields.get("kind", ""), language, client, data, filename)
            stored = await message_ops.add(self.store, message, replace=bool(fields.get("replace")),
                                           by=me.account.username)
        except RadmfaError as e:
            return await self.list(request, text=str(e), error=True)
        return await self.list(request, text=self._added(request, stored.id))

    async def _read_upload(self, request: web.Request) -> tuple[dict[str, str], bytes, str]:
        """The form's fields and the file, the CSRF token checked before the
        file is read (403 otherwise), reading stopped past the size limit."""
        visit = request["visit"]
        fields: dict[str, str] = {}
        data = bytearray()
        filename = ""
        checked = False
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader):
                continue
            if part.name == "file":
                if not checked:
                    self._refuse(request)
                filename = (part.filename or "the file")[:100]
                while chunk := await part.read_chunk(CHUNK):
                    data += chunk
                    if len(data) > messages.MAX_VOICE_BYTES:
                        raise messages.MessageError(self._too_big(len(data), filename))
                continue
            value = bytearray()
            while chunk := await part.read_chunk(CHUNK):
                value += chunk
                if len(value) > FIELD_LIMIT:
                    raise web.HTTPRequestEntityTooLarge(max_size=FIELD_LIMIT, actual_size=len(value))
            fields[part.name or ""] = value.decode("utf-8", "replace")
            if part.name == "csrf":
                if not security.same_origin(request, self.web.origin) or not security.token_ok(fields["csrf"],
                                                                                                visit.csrf):
                    self._refuse(request)
                checked = True
        if not checked:
            self._refuse(request)
        if not data:
            raise messages.MessageError("choose a .wav or .mp3 file to upload")
        return fields, bytes(data), filename

    def _refuse(self, request: web.Request) -> None:
        log.warning("form refused", reason="csrf", path=request.path, peer=request["visit"].address)
        raise web.HTTPForbidden()

    @staticmethod
    def _too_big(size: int, filename: str = "the upload") -> str:
        return (f"{filename} is over {messages.MAX_VOICE_BYTES // (1024 * 1024)} MB ({size / 1048576:.1f} MB "
                "so far); a voice message may be at most 5 MB")

    def _added(self, request: web.Request, ident: int | None) -> str:
        return self.web.renderer.translate(request["visit"].language, N_("Message %(id)s is saved."), id=str(ident))

    async def audio(self, request: web.Request) -> web.StreamResponse:
        await self.pages.me(request, "settings")
        found = await messages.voice_file(self.store, int(request.match_info["id"]))
        if found is None:
            raise web.HTTPNotFound()
        data, content_type = found
        return web.Response(body=data, content_type=content_type,
                            headers={"Content-Disposition": "inline", "Cache-Control": "private, no-store"})

    async def delete(self, request: web.Request) -> web.StreamResponse:
        me, _form = await self.pages._form(request, "settings")
        ident = request.match_info["id"]
        try:
            gone = await message_ops.delete(self.store, int(ident) if ident.isdigit() else -1, by=me.account.username)
        except RadmfaError as e:
            return await self.list(request, text=str(e), error=True)
        text = self.web.renderer.translate(request["visit"].language, N_("Message %(id)s is deleted."), id=str(gone.id))
        return await self.list(request, text=text)
