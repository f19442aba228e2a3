"""The management portal (`radmfa admin-portal`): its own process and
listener, meant for a management network ([admin_portal] listen on that
network's address, allow_from its networks).

Built on the user portal's foundation (sessions, CSRF, cookies, CSP,
escaping, idle timeout) and its sign-in: an administrator signs in with
their password (the configured upstream, or a local password) and their
own second factor, always; the enrollment links and "no factor yet" ways
in of the user portal are closed here. Who may do what: web/admin/pages.py.
"""

from __future__ import annotations

import asyncio
import signal
from contextlib import suppress
from datetime import UTC, datetime, timedelta

import structlog
from aiohttp import web

from radmfa.config import Config
from radmfa.core.admin_ports import Store
from radmfa.core.model import Token, User
from radmfa.core.ports import Upstream
from radmfa.delivery import Senders, build_senders
from radmfa.delivery.alerts import FraudNotifier
from radmfa.errors import ConfigError
from radmfa.service import health
from radmfa.service.live_settings import LiveSettings, reconcile
from radmfa.service.notify import sd_notify
from radmfa.upstream import build_upstream
from radmfa.upstream.passwords import Passwords
from radmfa.web import security
from radmfa.web.admin.cache import CachePages
from radmfa.web.admin.fraud import FraudPages
from radmfa.web.admin.messages import MessagePages
from radmfa.web.admin.pages import ADMIN_PORTAL, Pages
from radmfa.web.app import Handler, Site
from radmfa.web.i18n import N_
from radmfa.web.user.app import portal_core
from radmfa.web.user.portal import PASSWORD
from radmfa.web.user.signin import SignIn

log = structlog.get_logger("radmfa.admin_portal")
PURGE_INTERVAL_S = 60.0
# A token seed file or 10,000 pasted networks fit; the user portal keeps its 64 KiB.
MAX_UPLOAD_BYTES = 4 * 1024 * 1024


class AdminSignIn(SignIn):
    """The user portal's password and second-factor steps, for administrators only."""

    landing = "/"

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/signin", self.form)
        app.router.add_post("/signin", self.password)
        app.router.add_get("/verify", self.choose)
        app.router.add_post("/verify", self.start)
        app.router.add_post("/verify/code", self.code)
        app.router.add_get("/verify/status", self.status)
        app.router.add_post("/verify/wait", self.waited)
        app.router.add_post("/signout", self.signout)

    async def _after_password(self, request: web.Request, user: User, tokens: list[Token], token: str) -> web.Response:
        visit = self.p.visit(request)
        account = await self.p.store.get_admin(user.name)  # type: ignore[attr-defined]
        if token or account is None:
            # The same answer as a wrong password: the page does not tell who is an administrator.
            await self.p.audit(request, user.name, "reject", "management portal: not an administrator")
            return self.web.page(request, "signin.html", status=401, detail="", name=user.name, link="",
                                 error=N_("The user name or password is not right."))
        if not self.p.has_factor(user, tokens):
            await self.p.audit(request, user.name, "reject", "management portal: no second factor")
            return self.web.page(request, "message.html", status=403, heading=N_("A second factor is required"),
                                 text=N_("Administrators sign in with a second factor. Set one up in the user "
                                         "portal first."))
        response = self.web.see_other("/verify")
        await self.web.sessions.start(response, username=user.name, stage=PASSWORD, now=visit.now,
                                      data={"language": user.language or ""})
        raise response


def _allow_from(config: Config) -> web.middlewares._Middleware:  # type: ignore[name-defined]
    """Browsers outside [admin_portal] allow_from get 403 and nothing else."""
    cfg = config.admin_portal

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        address = security.client_address(request, cfg.trusted_proxies)
        # /healthz stays open to the load balancer's checks: it tells nothing.
        if cfg.allow_from and request.path != "/healthz" and not security.within(address, cfg.allow_from):
            log.warning("refused: outside allow_from", peer=address, path=request.path)
            response = web.Response(status=403, text="403: not from the management network\n")
            security.set_headers(response, secure=cfg.public_url.startswith("https://"))
            return response
        return await handler(request)

    return guard


async def build_admin_portal(
    config: Config, store: Store, upstream: Upstream, senders: Senders, notifier: FraudNotifier | None,
    *, settings: LiveSettings | None = None,
) -> web.Application:
    cfg = config.admin_portal
    site = Site(
        portal=ADMIN_PORTAL, public_url=cfg.public_url, title=cfg.title,
        idle=timedelta(minutes=cfg.session_idle_minutes), absolute=timedelta(hours=cfg.session_max_hours),
        trusted_proxies=cfg.trusted_proxies, template_packages=("radmfa.web.admin", "radmfa.web.user", "radmfa.web"),
        max_body=MAX_UPLOAD_BYTES,
    )
    portal = await portal_core(config, site, store, upstream, senders, notifier,
                               csrf_label=b"radmfa admin portal csrf", settings=settings)
    pages = Pages(portal, store, upstream, settings)

    def routes(app: web.Application) -> None:
        AdminSignIn(portal).routes(app)
        pages.routes(app)
        FraudPages(pages).routes(app)
        MessagePages(pages).routes(app)
        CachePages(pages).routes(app)

    app = portal.web.application(routes)
    app.on_shutdown.append(portal.shutdown)
    app.middlewares.insert(0, _allow_from(config))
    return app


async def run_admin_portal(config: Config, stop: asyncio.Event | None = None) -> None:
    from radmfa.service.audit import configure_logging
    from radmfa.store import open_store

    configure_logging(config.log)
    cfg = config.admin_portal
    if not cfg.listen:
        raise ConfigError(f"{config.path.name}: [admin_portal] listen: give the addresses to serve the "
                          "management portal on (the management network's)")
    store = await open_store(config.store.url, key_file=config.store.key_file, base_dir=config.base_dir)
    try:
        upstream = await build_upstream(config.upstream, store, Passwords(config.passwords, store))
    except BaseException:
        await store.close()
        raise
    senders = build_senders(config.phone)
    notifier = FraudNotifier(config.fraud, config.smtp, server=config.audit.server_name)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    runner: web.AppRunner | None = None
    poller: asyncio.Task[None] | None = None
    health_task: asyncio.Task[None] | None = None
    # Its test sends and sign-ins use the providers and upstreams too: it reports as a node of its own.
    reporter = health.HealthReporter(store, f"{config.audit.server_name} (admin portal)")
    reporter.install()
    try:
        await reconcile(store, config)
        settings = LiveSettings(store, config)
        await settings.refresh()
        app = await build_admin_portal(config, store, upstream, senders, notifier, settings=settings)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        try:
            for host, port in cfg.listen:
                await web.TCPSite(runner, host, port).start()
        except OSError as e:
            raise ConfigError(f"{config.path.name}: [admin_portal] listen: cannot listen: {e.strerror}") from None
        poller = loop.create_task(settings.run())
        health_task = loop.create_task(reporter.run())
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        log.info("radmfa admin portal ready", listen=[f"{h}:{p}" for h, p in cfg.listen], public_url=cfg.public_url)
        sd_notify("READY=1\nSTATUS=serving the management portal")
        while not stop.is_set():
            with suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), PURGE_INTERVAL_S)
            now = datetime.now(UTC)
            with suppress(Exception):
                await store.purge_web_sessions(idle_before=now - timedelta(minutes=cfg.session_idle_minutes), now=now)
        sd_notify("STOPPING=1")
    finally:
        reporter.uninstall()
        for task in (poller, health_task):
            if task is not None:
                task.cancel()
        if runner is not None:
            await runner.cleanup()
        await senders.close()
        await notifier.close()
        await upstream.close()
        await store.close()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with suppress(Exception):
                loop.remove_signal_handler(sig)
        log.info("admin portal stopped")
