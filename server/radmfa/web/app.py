"""The application factory every portal is built on.

``Foundation.application`` makes an aiohttp application with the portal's
routes and the shared middleware: each request gets its session (from the
store), its language and its CSRF token; each response its security
headers (security.py); static files are served from radmfa.web/static, so
a page never needs anything from another host. Handlers answer with
``page`` (a template), ``see_other`` (a redirect after a POST) and read
forms with ``form``, which refuses a POST without the right CSRF token or
from another origin.
"""

from __future__ import annotations

import hashlib
import mimetypes
import re
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

import structlog
from aiohttp import web

from radmfa.config import IpNetwork
from radmfa.core.admin_model import WebSession
from radmfa.core.admin_ports import PortalStore
from radmfa.web import i18n, security
from radmfa.web.i18n import N_
from radmfa.web.render import Renderer
from radmfa.web.sessions import SessionManager

log = structlog.get_logger("radmfa.web")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
LANGUAGE_COOKIE = "radmfa-lang"
MAX_FORM_BYTES = 64 * 1024
DEFAULT_TITLE = N_("Sign-in security")  # [portal] title's default, translated when shown
_SECRET_PATH = re.compile(r"^(/enroll/)[^/]+")  # an enrollment link's token: never logged


@dataclass(frozen=True, slots=True)
class Site:
    """What a portal tells the foundation about itself."""

    portal: str  # "user"; names the cookies and keeps sessions of portals apart
    public_url: str  # what the browser sees (behind the reverse proxy)
    title: str
    idle: timedelta
    absolute: timedelta
    trusted_proxies: tuple[IpNetwork, ...] = ()
    template_packages: tuple[str, ...] = ("radmfa.web",)
    max_body: int = MAX_FORM_BYTES  # the largest request body read


@dataclass(slots=True)
class Visit:
    """What the foundation learned about one request."""

    session: WebSession | None
    language: str
    csrf: str
    address: str
    now: datetime
    new_pre: str = ""  # a pre-sign-in cookie to set on the response
    extra: dict[str, Any] = field(default_factory=dict)


def safe_path(path: str) -> str:
    """``path`` as it may be logged (an enrollment token masked)."""
    return _SECRET_PATH.sub(r"\1…", path)


class Foundation:
    def __init__(self, site: Site, store: PortalStore, renderer: Renderer, key: bytes) -> None:
        self.site, self.store, self.renderer = site, store, renderer
        self._key = key  # signs the pre-sign-in CSRF tokens (derived from the store's callback key)
        self.origin = security.origin_of(site.public_url)
        self.prefix = urlsplit(site.public_url).path.rstrip("/")
        self.secure = site.public_url.startswith("https://")
        self.sessions = SessionManager(
            store, portal=site.portal, public_url=site.public_url, idle=site.idle, absolute=site.absolute
        )
        self._static = _load_static()
        self.language_of: Callable[[WebSession], str | None] = lambda s: s.data.get("language")

    # ---- the application ----

    def application(self, routes: Callable[[web.Application], None]) -> web.Application:
        app = web.Application(middlewares=[self._middleware], client_max_size=self.site.max_body)
        app.router.add_get("/static/{name}", self._serve_static)
        app.router.add_get("/healthz", self._healthz)
        app.router.add_post("/language", self._language)
        routes(app)
        return app

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        now = datetime.now(UTC)
        if request.path.startswith("/static/") or request.path == "/healthz":
            response = await handler(request)
            security.set_headers(response, secure=self.secure, cacheable=request.path.startswith("/static/"))
            return response
        visit = await self._visit(request, now)
        request["visit"] = visit
        try:
            response = await handler(request)
        except web.HTTPException as e:
            response = e if e.status < 400 else self._error_page(request, e.status)
        except Exception as e:
            log.error("portal error", path=safe_path(request.path), error=type(e).__name__, detail=str(e)[:200])
            response = self._error_page(request, 500)
        if visit.new_pre and visit.session is None:
            self.sessions.set_cookie(response, self.sessions.pre_cookie, visit.new_pre)
        security.set_headers(response, secure=self.secure)
        if isinstance(response, web.HTTPException):
            raise response  # aiohttp wants redirects raised, not returned
        return response

    async def _visit(self, request: web.Request, now: datetime) -> Visit:
        session = await self.sessions.load(request, now=now)
        address = security.client_address(request, self.site.trusted_proxies)
        chosen = request.cookies.get(LANGUAGE_COOKIE)
        user_language = self.language_of(session) if session is not None else None
        language = i18n.choose(chosen, user_language, accept_language=request.headers.get("Accept-Language", ""))
        if session is not None:
            return Visit(session, language, session.csrf, address, now)
        pre = request.cookies.get(self.sessions.pre_cookie, "")
        new_pre = ""
        if not pre or len(pre) > 100:
            pre = new_pre = secrets.token_urlsafe(24)
        return Visit(None, language, security.pre_token(self._key, pre), address, now, new_pre)

    # ---- answers ----

    def url(self, path: str) -> str:
        return self.prefix + path

    def static_url(self, name: str) -> str:
        return self.url(f"/static/{name}?v={self._static[name][2][:10]}")

    def page(self, request: web.Request, template: str, *, status: int = 200, **context: Any) -> web.Response:
        visit: Visit = request["visit"]
        base = {
            "title": self.site.title,
            "lang": visit.language,
            "languages": i18n.LANGUAGES,
            "csrf": visit.csrf,
            "url": self.url,
            "static": self.static_url,
            "here": request.path_qs if request.method == "GET" else "/",
            "session": visit.session,
            **visit.extra,
        }
        text = self.renderer.render(template, visit.language, {**base, **context})
        return web.Response(text=text, status=status, content_type="text/html", charset="utf-8")

    def see_other(self, path: str) -> web.HTTPSeeOther:
        """The redirect after a POST (303: the browser GETs the next page)."""
        return web.HTTPSeeOther(self.url(path))

    def _error_page(self, request: web.Request, status: int) -> web.Response:
        if "visit" not in request:
            return web.Response(status=status, text=f"{status}\n")
        return self.page(request, "error.html", status=status, status_code=status)

    async def form(self, request: web.Request) -> Mapping[str, str]:
        """The POSTed form, once its CSRF token and origin are checked;
        otherwise 403 and nothing else happens."""
        visit: Visit = request["visit"]
        data = await request.post()
        sent = data.get("csrf")
        if not security.same_origin(request, self.origin) or not isinstance(sent, str) or not security.token_ok(
            sent, visit.csrf
        ):
            log.warning("form refused", reason="csrf", path=safe_path(request.path), peer=visit.address)
            raise web.HTTPForbidden()
        return {k: v for k, v in data.items() if isinstance(v, str)}

    # ---- built-in routes ----

    async def _healthz(self, request: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def _serve_static(self, request: web.Request) -> web.Response:
        found = self._static.get(request.match_info["name"])
        if found is None:
            raise web.HTTPNotFound()
        body, content_type, etag = found
        if request.headers.get("If-None-Match") == f'"{etag}"':
            return web.Response(status=304, headers={"ETag": f'"{etag}"'})
        response = web.Response(body=body, content_type=content_type, headers={"ETag": f'"{etag}"'})
        response.headers["Cache-Control"] = "public, max-age=31536000, immutable"  # URLs carry ?v=<hash>
        return response

    async def _language(self, request: web.Request) -> web.StreamResponse:
        form = await self.form(request)
        chosen = i18n.match(form.get("lang", ""))
        target = form.get("next", "/")
        if not target.startswith("/") or target.startswith("//"):
            target = "/"  # only a path of this portal: no open redirect
        response = web.HTTPSeeOther(self.url(target))
        if chosen is not None:
            response.set_cookie(LANGUAGE_COOKIE, chosen, path=self.sessions.path, secure=self.secure,
                                httponly=True, samesite="Strict", max_age=365 * 86400)
        return response


def _load_static() -> dict[str, tuple[bytes, str, str]]:
    """Every file in radmfa.web/static, read once: name → (bytes, type, ETag)."""
    out: dict[str, tuple[bytes, str, str]] = {}
    for entry in resources.files("radmfa.web").joinpath("static").iterdir():
        if entry.is_file() and not entry.name.startswith("."):
            body = entry.read_bytes()
            content_type = mimetypes.guess_type(entry.name)[0] or "application/octet-stream"
            out[entry.name] = (body, content_type, hashlib.sha256(body).hexdigest())
    return out
