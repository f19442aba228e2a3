"""Signing in: the password (checked by the configured upstream, with the
RADIUS side's name rules), then a second factor of the user's own.

A user with no factor yet goes to the enrollment wizard instead, when the
policy lets them ([mfa] new_user = "enroll") or an administrator's one-time
link does. The same wizard pages serve a step-up: any change of a factor
or phone needs a factor passed within [portal] step_up_minutes.

Password attempts are limited per user name and per client address
(fixed windows counted in the store, like the send limits); wrong second
factors count towards the RADIUS lockout.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from aiohttp import web

from radmfa.core import policy
from radmfa.core.admin_model import WebSession
from radmfa.core.limits import window
from radmfa.core.model import AuthRequest, Token, User
from radmfa.errors import UpstreamUnavailable
from radmfa.radius import wire
from radmfa.web.i18n import N_
from radmfa.web.user import verify
from radmfa.web.user.portal import PASSWORD, SIGNED_IN, UserPortal

_LIMIT_METHOD = "portal-signin"
_NEXT = {"account": "/account", "enroll": "/enroll", "signins": "/account#signins"}
_LINK_GONE = N_("This link cannot be used")
_LINK_GONE_TEXT = N_("It has been used already or it has expired. Ask your helpdesk for a new one.")


def link_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


class SignIn:
    landing = "/account"  # where a completed sign-in lands

    def __init__(self, portal: UserPortal) -> None:
        self.p = portal
        self.web = portal.web

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/", self.home)
        app.router.add_get("/signin", self.form)
        app.router.add_post("/signin", self.password)
        app.router.add_get("/enroll/{token}", self.link)
        app.router.add_get("/verify", self.choose)
        app.router.add_post("/verify", self.start)
        app.router.add_post("/verify/code", self.code)
        app.router.add_get("/verify/status", self.status)
        app.router.add_post("/verify/wait", self.waited)
        app.router.add_post("/signout", self.signout)

    # ---- pages ----

    async def home(self, request: web.Request) -> web.StreamResponse:
        session = self.p.visit(request).session
        raise self.web.see_other("/account" if session and session.stage == SIGNED_IN else "/signin")

    async def form(self, request: web.Request) -> web.Response:
        return self.web.page(request, "signin.html", error="", detail="", name="", link="")

    async def link(self, request: web.Request) -> web.Response:
        """An enrollment link: the sign-in page carrying it. A GET never uses
        the link (mail scanners fetch links); the password does."""
        token = request.match_info["token"]
        found = await self.p.store.peek_enrollment_link(link_hash(token), now=self.p.visit(request).now)
        if found is None:
            return self.web.page(request, "message.html", status=410, heading=_LINK_GONE, text=_LINK_GONE_TEXT)
        response = self.web.page(request, "signin.html", error="", detail="", name=found.username, link=token)
        response.headers["Referrer-Policy"] = "no-referrer"  # the path holds the token
        return response

    # ---- the password ----

    async def password(self, request: web.Request) -> web.StreamResponse:
        form = await self.web.form(request)
        visit = self.p.visit(request)
        name, secret, token = form.get("name", "").strip(), form.get("password", ""), form.get("link", "")

        def again(error: str, status: int, detail: str = "") -> web.Response:
            return self.web.page(request, "signin.html", status=status, error=error, detail=detail,
                                 name=name, link=token)

        if not name or not secret or len(name.encode()) > 253:
            return again(N_("Enter your user name and password."), 400)
        if await self._throttled(name, visit.address, now=visit.now):
            return again(N_("Too many sign-in attempts. Wait a few minutes and try again."), 429)
        user, tokens = await self.p.store.login_view(name)
        try:
            result = await self.p.upstream.authenticate(self._request(name, secret, visit.address), secret.encode())
        except UpstreamUnavailable:
            await self.p.audit(request, name, "reject", "upstream unavailable")
            return again(N_("Sign-in is not possible right now. Try again later."), 503)
        same = result.canonical_name is None or policy.name_key(result.canonical_name) == policy.name_key(name)
        if not result.accepted or user is None or not same:
            reason = (result.reason or "upstream reject") if not result.accepted else (
                "directory names another user" if not same else "unknown user")
            await self.p.audit(request, name, "reject", reason)
            return again(N_("The user name or password is not right."), 401)
        if self.p.blocked(user, now=visit.now):
            await self.p.audit(request, user.name, "reject", "blocked")
            return again(N_("This account is blocked. Contact your helpdesk."), 403)
        tokens = self.p.otp.usable(tokens)
        return await self._after_password(request, user, tokens, token)

    async def _after_password(self, request: web.Request, user: User, tokens: list[Token], token: str) -> web.Response:
        visit = self.p.visit(request)
        response = self.web.see_other("/verify")
        data = {"language": user.language or ""}
        if token:
            used = await self.p.store.consume_enrollment_link(link_hash(token), username=user.name, now=visit.now)
            if used is None:
                await self.p.audit(request, user.name, "reject", "enrollment link used or expired")
                return self.web.page(request, "message.html", status=410, heading=_LINK_GONE, text=_LINK_GONE_TEXT)
            # An administrator vouched for this user: the link stands in for
            # the second factor, once (it is used up now).
            await self.p.audit(request, user.name, "accept", "enrollment link", "link")
            await self.p.record(request, user, "link.used", f"link={used.id}")
            await self.web.sessions.start(response, username=user.name, stage=SIGNED_IN, now=visit.now,
                                          verified_at=visit.now, data={**data, "enroll": "link"})
            response.location = self.web.url("/enroll")
            raise response
        if self.p.has_factor(user, tokens):
            await self.web.sessions.start(response, username=user.name, stage=PASSWORD, now=visit.now, data=data)
            raise response
        if self.p.may_self_enroll(user, tokens, now=visit.now):
            await self.p.audit(request, user.name, "accept", "portal: password, no factor yet (enroll)", "none")
            await self.web.sessions.start(response, username=user.name, stage=SIGNED_IN, now=visit.now,
                                          data={**data, "enroll": "self"})
            response.location = self.web.url("/enroll")
            raise response
        await self.p.audit(request, user.name, "reject", "no factor enrolled")
        return self.web.page(request, "message.html", status=403, heading=N_("No sign-in method yet"),
                             text=N_("Your account has no second factor. Ask your helpdesk for an enrollment link."))

    def _request(self, name: str, secret: str, address: str) -> AuthRequest:
        """A RADIUS-shaped request for the upstream: the name as typed (the
        upstream matches names its own way; the store already found the
        user by name_key), the portal as the NAS, the browser's address."""
        attrs = (
            (wire.USER_NAME, name.encode()),
            (wire.USER_PASSWORD, b""),  # the RADIUS upstream hides the password in its place
            (wire.NAS_IDENTIFIER, b"radmfa-portal"),
            (wire.CALLING_STATION_ID, address.encode()),
        )
        return AuthRequest(
            request_id="portal", client=verify.PORTAL_CLIENT, client_ip="127.0.0.1", username=name.encode(),
            password=secret.encode(), state=None, calling_station_id=address, authenticator=b"\x00" * 16, attrs=attrs,
        )

    async def _throttled(self, name: str, address: str, *, now: datetime) -> bool:
        start, end = window(now, self.p.cfg.signin_window_s)
        expires = datetime.fromtimestamp(end, now.tzinfo)
        for scope, limit in (
            ("portal-user:" + policy.name_key(name), self.p.cfg.signin_per_user),
            ("portal-address:" + address, self.p.cfg.signin_per_address),
        ):
            if limit and await self.p.store.count_send(scope, _LIMIT_METHOD, start, expires_at=expires) > limit:
                return True
        return False

    # ---- the second factor (also the step-up) ----

    async def _pending(self, request: web.Request) -> tuple[WebSession, User, list[Token]]:
        """The session passing a factor: after the password, or signed in for a step-up."""
        session = self.p.visit(request).session
        if session is None or session.stage not in (PASSWORD, SIGNED_IN):
            raise self.web.see_other("/signin")
        user, tokens = await self.p.store.login_view(session.username)
        if user is None or self.p.blocked(user, now=self.p.visit(request).now):
            await self.p.store.delete_web_session(session.id_hash)
            raise self.web.see_other("/signin")
        return session, user, self.p.otp.usable(tokens)

    async def choose(self, request: web.Request) -> web.Response:
        session, user, tokens = await self._pending(request)
        nxt = request.query.get("next", "")
        if nxt in _NEXT and session.stage == SIGNED_IN:
            session = await self.p.save(session, data={**session.data, "v.next": nxt})
        options = self.p.choices(user, tokens)
        if not options:
            raise self.web.see_other("/enroll" if session.stage == SIGNED_IN else "/signin")
        chosen = next((c.key for c in options if c.method == user.default_method), options[0].key)
        return self.web.page(request, "verify_choose.html", options=options, chosen=chosen, user=user,
                             stepup=session.stage == SIGNED_IN, error="", detail="")

    async def start(self, request: web.Request) -> web.Response:
        form = await self.web.form(request)
        session, user, tokens = await self._pending(request)
        visit = self.p.visit(request)
        chosen = next((c for c in self.p.choices(user, tokens) if c.key == form.get("method")), None)
        if chosen is None:
            raise self.web.see_other("/verify")
        purpose = "stepup" if session.stage == SIGNED_IN else "signin"
        started = await self.p.verifier.start(
            user, chosen.method, chosen.destination, purpose=purpose, address=visit.address, now=visit.now
        )
        if started.error:
            return self.web.page(request, "verify_choose.html", status=503, options=self.p.choices(user, tokens),
                                 chosen=chosen.key, user=user, stepup=purpose == "stepup",
                                 error=started.error, detail=started.detail)
        session = await self.p.save(session, data={**verify.clear(session.data), **started.data,
                                                   "v.next": session.data.get("v.next", "")})
        return self._prompt(request, chosen, session)

    def _prompt(
        self, request: web.Request, chosen: verify.Choice, session: WebSession, error: str = ""
    ) -> web.Response:
        if chosen.method in verify.HELD_METHODS:
            return self.web.page(request, "verify_wait.html", choice=chosen, action="/verify/wait",
                                 status_url="/verify/status", error=error, number=session.data.get("v.number", ""))
        return self.web.page(request, "verify_code.html", choice=chosen, action="/verify/code", error=error,
                             status=401 if error else 200)

    def _current(self, session: WebSession, user: User, tokens: list[Token]) -> verify.Choice | None:
        method, dest = session.data.get("v.method"), session.data.get("v.dest", "")
        return next((c for c in self.p.choices(user, tokens) if c.method == method and c.destination == dest), None)

    async def code(self, request: web.Request) -> web.Response:
        form = await self.web.form(request)
        session, user, tokens = await self._pending(request)
        now = self.p.visit(request).now
        chosen = self._current(session, user, tokens)
        if chosen is None or chosen.method in verify.HELD_METHODS:
            raise self.web.see_other("/verify")
        ok, kept = await self.p.verifier.check_code(user, tokens, session.data, form.get("code", ""), now=now,
                                                     max_attempts=self.p.config.mfa.max_attempts)
        if ok:
            return await self._passed(request, session, user, chosen.method)
        return await self._failed(request, session, user, chosen, kept, expired=ok is None)

    async def status(self, request: web.Request) -> web.Response:
        session = self.p.visit(request).session
        if session is None:
            return web.json_response({"state": "expired"})
        state = await self.p.verifier.poll(session.data, now=self.p.visit(request).now)
        return web.json_response({"state": state})

    async def waited(self, request: web.Request) -> web.Response:
        await self.web.form(request)
        session, user, tokens = await self._pending(request)
        chosen = self._current(session, user, tokens)
        if chosen is None or chosen.method not in verify.HELD_METHODS:
            raise self.web.see_other("/verify")
        state = await self.p.verifier.poll(session.data, now=self.p.visit(request).now)
        if state == "pending":
            return self._prompt(request, chosen, session)
        if state == "approved":
            return await self._passed(request, session, user, chosen.method)
        return await self._failed(request, session, user, chosen, {}, expired=state == "expired",
                                  wrong_number=state == verify.WRONG_NUMBER)

    async def _passed(self, request: web.Request, session: WebSession, user: User, method: str) -> web.Response:
        visit = self.p.visit(request)
        await self.p.store.clear_mfa_failures(user.id)
        nxt = _NEXT.get(session.data.get("v.next", ""), self.landing)
        data = verify.clear(session.data)
        response = self.web.see_other(nxt)
        if session.stage == PASSWORD:
            await self.p.audit(request, user.name, "accept", "portal sign-in", method)
            # New rights, new id: whatever id existed before this is worthless now.
            await self.web.sessions.start(response, username=user.name, stage=SIGNED_IN, now=visit.now,
                                          replaces=session, verified_at=visit.now, data=data)
        else:
            await self.p.save(session, verified_at=visit.now, data=data)
        raise response

    async def _failed(
        self, request: web.Request, session: WebSession, user: User, chosen: verify.Choice,
        kept: dict[str, str], *, expired: bool, wrong_number: bool = False,
    ) -> web.Response:
        visit = self.p.visit(request)
        if not expired or chosen.method in verify.HELD_METHODS:
            await self.p.audit(request, user.name, "reject", "portal: wrong code or denied", chosen.method)
            if await self.p.factor_failed(user, now=visit.now):
                response = self.web.page(request, "message.html", status=403, heading=N_("Account locked"),
                                         text=N_("Too many wrong answers. Your account is locked for a while."))
                await self.web.sessions.end(response, session)
                return response
        if kept:
            session = await self.p.save(session, data={**session.data, **kept})
            return self._prompt(request, chosen, session, error=N_("That code is not right. Try again."))
        await self.p.save(session, data=verify.clear(session.data))
        error = (N_("The wrong number was chosen on your phone. Choose a method and try again.") if wrong_number
                 else N_("That did not work. Choose a method and try again."))
        return self.web.page(request, "verify_choose.html", status=401, options=self.p.choices(user, self.p.otp.usable(
            (await self.p.store.login_view(user.name))[1])), chosen=chosen.key, user=user,
            stepup=session.stage == SIGNED_IN, error=error, detail="")

    async def signout(self, request: web.Request) -> web.StreamResponse:
        await self.web.form(request)
        response = self.web.see_other("/signin")
        await self.web.sessions.end(response, self.p.visit(request).session)
        raise response
