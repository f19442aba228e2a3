"""The enrollment wizard (seed 004), also how a signed-in user adds or
changes a method:

  1  contact method: Mobile phone (country, number; text or call), Office
     phone (call), Mobile app (push notifications or an authenticator app)
  2  "Verify now": a real text, call, push or app code; nothing is stored
     until it worked
  3  for the mobile app, a backup mobile number (optional, verified)
  4  app passwords, when the administrator allows them

Every step needs ``UserPortal.may_change``: a factor passed in the last
[portal] step_up_minutes, or, for a user who has none, the enrollment the
session was allowed at sign-in. It is checked again when the change is
stored. The wizard's state is in the session's ``w.*`` keys.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Mapping
from urllib.parse import quote, urlsplit

from aiohttp import web

from radmfa.core.admin_model import WebSession
from radmfa.core.model import NewToken, Token, User
from radmfa.factors.totp import provisioning_uri
from radmfa.web import phones, qr
from radmfa.web.i18n import N_
from radmfa.web.user import verify
from radmfa.web.user.apppass import AppPasswords
from radmfa.web.user.portal import UserPortal

SEED_BYTES = 20  # 160 bits (RFC 4226 §4 R6), as `radmfa token add` makes them
_KINDS = ("mobile", "office", "app")
_DEFAULT_FOR = {"sms": "sms", "voice": "voice", "push": "push", "totp": "totp"}
_WHAT = {
    "mobile": N_("mobile phone set"),
    "office": N_("office phone set"),
    "backup": N_("mobile phone set"),
    "push": N_("mobile app notifications added"),
    "totp": N_("authenticator app added"),
}


class Wizard:
    def __init__(self, portal: UserPortal) -> None:
        self.p = portal
        self.web = portal.web

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/enroll", self.method_page)
        app.router.add_post("/enroll/method", self.method)
        app.router.add_get("/enroll/details", self.details_page)
        app.router.add_post("/enroll/details", self.details)
        app.router.add_get("/enroll/verify", self.verify_page)
        app.router.add_post("/enroll/verify/start", self.verify_start)
        app.router.add_post("/enroll/verify/code", self.verify_code)
        app.router.add_post("/enroll/verify/wait", self.verify_wait)
        app.router.add_get("/enroll/backup", self.backup_page)
        app.router.add_post("/enroll/backup", self.backup)
        app.router.add_get("/enroll/done", self.done)
        AppPasswords(self.p).routes(app)

    async def _allowed(self, request: web.Request) -> tuple[WebSession, User, list[Token]]:
        session, user, tokens = await self.p.signed_in(request)
        if not self.p.may_change(session, user, tokens, now=self.p.visit(request).now):
            raise self.web.see_other("/verify?next=enroll")
        return session, user, tokens

    def kinds(self) -> list[str]:
        """Contact methods the configured providers can verify."""
        out = []
        if self.p.methods & {"sms", "voice"}:
            out.append("mobile")
        if "voice" in self.p.methods:
            out.append("office")
        out.append("app")  # an authenticator app needs no provider
        return out

    # ---- step 1: the contact method ----

    async def method_page(self, request: web.Request) -> web.Response:
        session, user, tokens = await self._allowed(request)
        first = not self.p.has_factor(user, tokens)
        return self.web.page(request, "enroll_method.html", kinds=self.kinds(), chosen=session.data.get("w.kind"),
                             first=first, step=1)

    async def method(self, request: web.Request) -> web.StreamResponse:
        form = await self.web.form(request)
        session, _, _ = await self._allowed(request)
        kind = form.get("kind", "")
        if kind not in self.kinds():
            raise self.web.see_other("/enroll")
        await self.p.save(session, data={**_wizard_cleared(session.data), "w.kind": kind})
        raise self.web.see_other("/enroll/details")

    async def details_page(self, request: web.Request, *, error: str = "", status: int = 200) -> web.Response:
        session, user, _ = await self._allowed(request)
        kind = request.query.get("kind") or session.data.get("w.kind", "")
        if kind not in self.kinds():
            raise self.web.see_other("/enroll")
        if kind != session.data.get("w.kind"):
            session = await self.p.save(session, data={**_wizard_cleared(session.data), "w.kind": kind})
        modes: list[str] = [m for m in ("sms", "voice") if m in self.p.methods] if kind == "mobile" else []
        if kind == "app":
            modes = [m for m in ("push", "totp") if m != "push" or "push" in self.p.methods]
        return self.web.page(
            request, "enroll_details.html", status=status, kind=kind, modes=modes, error=error,
            countries=phones.countries(self.p.visit(request).language), country=self.p.cfg.default_country,
            number="", step=1, chosen_mode=session.data.get("w.mode") or (modes[0] if modes else ""),
        )

    async def details(self, request: web.Request) -> web.StreamResponse:
        form = await self.web.form(request)
        session, user, _ = await self._allowed(request)
        kind = session.data.get("w.kind", "")
        data = {k: v for k, v in session.data.items() if k not in ("w.number", "w.seed", "w.mode")}
        if kind == "app":
            mode = form.get("mode", "")
            if mode not in ("push", "totp") or (mode == "push" and "push" not in self.p.methods):
                return await self.details_page(request, error=N_("Choose how the app signs you in."), status=400)
            data["w.mode"] = mode
            if mode == "totp":
                data["w.seed"] = base64.b32encode(secrets.token_bytes(SEED_BYTES)).decode()
        else:
            mode = form.get("mode", "voice") if kind == "mobile" else "voice"
            if mode not in self.p.methods or mode not in ("sms", "voice"):
                return await self.details_page(request, error=N_("Choose text or call."), status=400)
            try:
                data["w.number"] = phones.to_e164(form.get("country", ""), form.get("number", ""))
            except ValueError:
                return await self.details_page(
                    request, error=N_("That is not a phone number we can use. Check the country and the number."),
                    status=400)
            data["w.mode"] = mode
        await self.p.save(session, data=data)
        raise self.web.see_other("/enroll/verify")

    # ---- step 2: verify now ----

    async def verify_page(self, request: web.Request, *, error: str = "", detail: str = "",
                          status: int = 200) -> web.Response:
        session, user, _ = await self._allowed(request)
        mode, kind = session.data.get("w.mode", ""), session.data.get("w.kind", "")
        if not mode:
            raise self.web.see_other("/enroll")
        context: dict[str, object] = {}
        if mode == "totp":
            seed = base64.b32decode(session.data["w.seed"])
            uri = provisioning_uri(Token(0, user.name, "totp", seed), issuer=self.p.config.mfa.issuer)
            context = {"qr": qr.svg(uri, label="QR"), "secret": _grouped(session.data["w.seed"]), "uri": uri}
        elif mode == "push":
            topic = await self._topic(user)
            context = {"qr": qr.svg(topic["link"], label="QR"), "server": topic["server"], "topic": topic["topic"]}
        else:
            context = {"number": phones.shown(session.data.get("w.number", ""))}
        return self.web.page(request, "enroll_verify.html", status=status, mode=mode, kind=kind, error=error,
                             detail=detail, step=3 if kind == "backup" else 2, **context)

    async def _topic(self, user: User) -> dict[str, str]:
        """Where the ntfy app subscribes: the server and the user's secret topic."""
        assert self.p.phone is not None
        provider = self.p.phone.cfg.provider("push")
        server = provider.base_url if provider is not None else ""
        topic = self.p.phone.topic(user, await self.p.store.callback_key())
        host = urlsplit(server).netloc
        return {"server": server, "topic": topic, "link": f"ntfy://{host}/{quote(topic)}"}

    def _target(self, session: WebSession, user: User) -> tuple[str, str]:
        mode = session.data.get("w.mode", "")
        if mode == "push":
            return "push", self.p.push_topic(user)
        return mode, session.data.get("w.number", "")

    async def verify_start(self, request: web.Request) -> web.Response:
        await self.web.form(request)
        session, user, _ = await self._allowed(request)
        visit = self.p.visit(request)
        method, destination = self._target(session, user)
        if not method or method == "totp":
            raise self.web.see_other("/enroll/verify")
        started = await self.p.verifier.start(user, method, destination, purpose="enroll", address=visit.address,
                                              now=visit.now)
        if started.error:
            return await self.verify_page(request, error=started.error, detail=started.detail, status=503)
        await self.p.save(session, data={**verify.clear(session.data), **started.data})
        return self._prompt(request, method, destination, number=started.data.get("v.number", ""))

    def _prompt(
        self, request: web.Request, method: str, destination: str, error: str = "", *, number: str = ""
    ) -> web.Response:
        shown = phones.shown(destination) if method in ("sms", "voice") else ""
        choice = verify.Choice(method, method, destination, shown)
        if method in verify.HELD_METHODS:
            return self.web.page(request, "verify_wait.html", choice=choice, action="/enroll/verify/wait",
                                 status_url="/verify/status", error=error, number=number)
        return self.web.page(request, "verify_code.html", choice=choice, action="/enroll/verify/code", error=error,
                             status=401 if error else 200)

    async def verify_code(self, request: web.Request) -> web.StreamResponse:
        form = await self.web.form(request)
        session, user, tokens = await self._allowed(request)
        now = self.p.visit(request).now
        mode = session.data.get("w.mode", "")
        code = form.get("code", "")
        if mode == "totp":
            seed = base64.b32decode(session.data.get("w.seed", ""))
            data = {**session.data, "v.method": "totp"}
            ok, _ = await self.p.verifier.check_code(user, tokens, data, code, now=now, seed=seed)
            if not ok:
                return await self.verify_page(request, error=N_("That code is not right. Check the app and try again."),
                                              status=401)
            step = verify.first_step(seed, code.strip().replace(" ", ""), now=now,
                                     window=self.p.config.mfa.totp_window)
            return await self._commit(request, session, user, tokens, seed=seed, step=step)
        if session.data.get("v.method") not in verify.CODE_METHODS:
            raise self.web.see_other("/enroll/verify")
        ok, kept = await self.p.verifier.check_code(user, tokens, session.data, code, now=now)
        if ok:
            return await self._commit(request, session, user, tokens)
        if kept:
            await self.p.save(session, data={**session.data, **kept})
            return self._prompt(request, *self._target(session, user), error=N_("That code is not right. Try again."))
        await self.p.save(session, data=verify.clear(session.data))
        return await self.verify_page(request, error=N_("That did not work. Try again."), status=401)

    async def verify_wait(self, request: web.Request) -> web.StreamResponse:
        await self.web.form(request)
        session, user, tokens = await self._allowed(request)
        state = await self.p.verifier.poll(session.data, now=self.p.visit(request).now)
        if state == "pending":
            return self._prompt(request, *self._target(session, user), number=session.data.get("v.number", ""))
        if state == "approved":
            return await self._commit(request, session, user, tokens)
        await self.p.save(session, data=verify.clear(session.data))
        error = {"expired": N_("There was no answer in time."),
                 verify.WRONG_NUMBER: N_("The wrong number was chosen on your phone.")}.get(
                     state, N_("The verification was denied."))
        return await self.verify_page(request, error=error, status=401)

    # ---- storing what was verified ----

    async def _commit(
        self, request: web.Request, session: WebSession, user: User, tokens: list[Token],
        *, seed: bytes | None = None, step: int | None = None,
    ) -> web.StreamResponse:
        now = self.p.visit(request).now
        # Again at the moment of the change: the session may have aged on the way.
        if not self.p.may_change(session, user, tokens, now=now):
            raise self.web.see_other("/verify?next=enroll")
        kind, mode = session.data.get("w.kind", ""), session.data.get("w.mode", "")
        number = session.data.get("w.number", "")
        changes: dict[str, object] = {}
        replaced = None
        if mode == "totp" and seed is not None:
            token = await self.p.store.add_token(user.name, NewToken("totp", seed, label="app", last_step=step))
            detail = f"token={token.id}"
        elif mode == "push":
            changes["push_enrolled"] = True
            detail = "push=on"
        elif kind == "office":
            changes["office_phone"] = number
            detail = f"office_phone={number}"
        else:
            replaced = user.mobile if user.mobile != number else None
            changes["mobile"] = number
            detail = f"mobile={number}"
        if kind != "backup" and (not user.default_method or not self.p.has_factor(user, tokens)):
            changes["default_method"] = _DEFAULT_FOR.get(mode)
        if changes:
            await self.p.store.update_user(user.name, changes)
        what = "backup" if kind == "backup" else (mode if mode in ("push", "totp") else kind)
        await self.p.record(request, user, f"{what}.set" if what in ("mobile", "office", "backup") else f"{what}.add",
                            detail)
        await self.p.notify(user, _WHAT[what], language=self.p.visit(request).language, also_sms=replaced)
        data = {k: v for k, v in verify.clear(session.data).items() if not k.startswith("w.")}
        await self.p.save(session, verified_at=now, data=data)
        raise self.web.see_other(self._after(kind, mode, user))

    def _after(self, kind: str, mode: str, user: User) -> str:
        if kind == "app" and not user.mobile and self.p.methods & {"sms", "voice"}:
            return "/enroll/backup"
        return "/enroll/apppasswords" if self.p.config.mfa.app_passwords else "/enroll/done"

    # ---- step 3: a backup phone for the app ----

    async def backup_page(self, request: web.Request, *, error: str = "", status: int = 200) -> web.Response:
        _, user, _ = await self._allowed(request)
        return self.web.page(request, "enroll_backup.html", status=status, error=error, step=3,
                             countries=phones.countries(self.p.visit(request).language),
                             country=self.p.cfg.default_country, number="")

    async def backup(self, request: web.Request) -> web.StreamResponse:
        form = await self.web.form(request)
        session, _, _ = await self._allowed(request)
        if form.get("skip"):
            raise self.web.see_other("/enroll/apppasswords" if self.p.config.mfa.app_passwords else "/enroll/done")
        try:
            number = phones.to_e164(form.get("country", ""), form.get("number", ""))
        except ValueError:
            return await self.backup_page(
                request, error=N_("That is not a phone number we can use. Check the country and the number."),
                status=400)
        mode = "sms" if "sms" in self.p.methods else "voice"
        await self.p.save(session, data={**_wizard_cleared(session.data), "w.kind": "backup", "w.mode": mode,
                                         "w.number": number})
        raise self.web.see_other("/enroll/verify")

    async def done(self, request: web.Request) -> web.Response:
        await self.p.signed_in(request)
        return self.web.page(request, "enroll_done.html", step=5)


def _wizard_cleared(data: Mapping[str, str]) -> dict[str, str]:
    """The session data without a wizard step or a verification in progress."""
    return {k: v for k, v in data.items() if not k.startswith(("w.", "v."))}


def _grouped(secret: str) -> str:
    """A base32 secret in groups of four, as authenticator apps accept it typed."""
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))

