"""Building and running the user portal: `radmfa portal` (its own process,
for a perimeter network: it needs only the store and the upstream), or
inside `radmfa serve` with ``[portal] embedded = true``.

The portal's calls and pushes are answered through the provider callbacks
of ``[http]`` (served by `radmfa serve`); the decision lands in the store,
where the portal reads it.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import signal
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import structlog
from aiohttp import web

from radmfa.config import Config
from radmfa.core import fraud
from radmfa.core.admin_ports import PortalStore, Store
from radmfa.core.ports import Upstream
from radmfa.delivery import Senders, build_senders
from radmfa.delivery.alerts import FraudNotifier
from radmfa.errors import ConfigError
from radmfa.factors import build_factors
from radmfa.factors.phone import PhoneFactors
from radmfa.service.live_settings import LiveSettings, reconcile
from radmfa.service.notify import sd_notify
from radmfa.upstream import ClientRouter, build_upstream
from radmfa.upstream.passwords import Passwords
from radmfa.web import i18n
from radmfa.web.app import Foundation, Site
from radmfa.web.render import Renderer
from radmfa.web.user.account import Account
from radmfa.web.user.portal import UserPortal, UserPortalStore
from radmfa.web.user.signin import SignIn
from radmfa.web.user.wizard import Wizard

log = structlog.get_logger("radmfa.portal")
PURGE_INTERVAL_S = 60.0


async def portal_core(
    config: Config, site: Site, store: UserPortalStore, upstream: Upstream, senders: Senders,
    notifier: fraud.Notifier | None, *, csrf_label: bytes, settings: LiveSettings | None = None,
) -> UserPortal:
    """What both portals are built on: templates, the CSRF key, sessions
    (``Foundation``), the factors and phone senders, and the sign-in and
    account logic, following the store's settings."""
    renderer = Renderer(site.template_packages, i18n.load_catalogs())
    key = hmac.new(await store.callback_key(), csrf_label, hashlib.sha256).digest()
    foundation = Foundation(site, store, renderer, key)
    phone = None
    if senders.methods():
        phone = PhoneFactors(store, senders, config.phone, config.fraud, public_url=config.http.public_url,
                             limits_cfg=config.limits, app_name=lambda _client: site.title)
    factors = build_factors(store, window=config.mfa.totp_window, prompt=config.mfa.prompt,
                            max_failures=config.mfa.max_code_failures, lockout_s=config.mfa.code_lockout_s,
                            hotp_window=config.mfa.hotp_window)
    portal = UserPortal(config, store, upstream, phone, factors["otp"], senders, foundation, notifier)
    if settings is not None:
        settings.subscribe_config(portal.use_config)
        if isinstance(notifier, FraudNotifier):  # (a test may pass a plain function)
            settings.subscribe_config(notifier.use_config)
    return portal


async def build_user_portal(
    config: Config, store: UserPortalStore, upstream: Upstream, senders: Senders, notifier: fraud.Notifier | None,
    *, settings: LiveSettings | None = None,
) -> web.Application:
    cfg = config.portal
    site = Site(
        portal="user", public_url=cfg.public_url, title=cfg.title,
        idle=timedelta(minutes=cfg.session_idle_minutes), absolute=timedelta(hours=cfg.session_max_hours),
        trusted_proxies=cfg.trusted_proxies, template_packages=("radmfa.web.user", "radmfa.web"),
    )
    portal = await portal_core(config, site, store, upstream, senders, notifier, csrf_label=b"radmfa portal csrf",
                               settings=settings)

    def routes(app: web.Application) -> None:
        SignIn(portal).routes(app)
        Wizard(portal).routes(app)
        Account(portal).routes(app)

    app = portal.web.application(routes)
    app.on_shutdown.append(portal.shutdown)
    return app


def portal_upstream(upstream: Upstream, name: str) -> Upstream:
    """The upstream [portal] upstream names, out of serve's client router."""
    if isinstance(upstream, ClientRouter):
        return upstream.named.get(name, upstream.named["default"])
    return upstream


async def start_site(app: web.Application, config: Config, *, reuse_port: bool = False) -> web.AppRunner:
    runner = web.AppRunner(app, access_log=None)  # no access log: paths may hold an enrollment link
    await runner.setup()
    try:
        for host, port in config.portal.listen:
            await web.TCPSite(runner, host, port, reuse_port=reuse_port or None).start()
    except OSError as e:
        await runner.cleanup()
        raise ConfigError(f"{config.path.name}: [portal] listen: cannot listen: {e.strerror}") from None
    return runner


async def purge_sessions(store: PortalStore, config: Config, *, now: datetime) -> int:
    idle = timedelta(minutes=config.portal.session_idle_minutes)
    return await store.purge_web_sessions(idle_before=now - idle, now=now)


@dataclass
class PortalProcess:
    """`radmfa portal`: the store, the portal's upstream, the senders."""

    config: Config
    store: Store
    upstream: Upstream
    senders: Senders
    notifier: FraudNotifier

    async def close(self) -> None:
        await self.senders.close()
        await self.notifier.close()
        await self.upstream.close()
        await self.store.close()


async def run_portal(config: Config, stop: asyncio.Event | None = None) -> None:
    from radmfa.service.audit import configure_logging
    from radmfa.store import open_store

    configure_logging(config.log)
    if not config.portal.listen:
        raise ConfigError(f"{config.path.name}: [portal] listen: give the addresses to serve the portal on")
    store = await open_store(config.store.url, key_file=config.store.key_file, base_dir=config.base_dir)
    chosen = config.upstream if config.portal.upstream == "default" else config.upstreams[config.portal.upstream]
    try:
        upstream = await build_upstream(chosen, store, Passwords(config.passwords, store))
    except BaseException:
        await store.close()
        raise
    proc = PortalProcess(config, store, upstream, build_senders(config.phone),
                         FraudNotifier(config.fraud, config.smtp, server=config.audit.server_name))
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    runner = None
    poller: asyncio.Task[None] | None = None
    try:
        await reconcile(store, config)
        settings = LiveSettings(store, config)
        await settings.refresh()
        app = await build_user_portal(config, store, upstream, proc.senders, proc.notifier, settings=settings)
        runner = await start_site(app, config)
        poller = loop.create_task(settings.run())
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        log.info("radmfa portal ready", listen=[f"{h}:{p}" for h, p in config.portal.listen],
                 public_url=config.portal.public_url)
        sd_notify("READY=1\nSTATUS=serving the portal")
        while not stop.is_set():
            with suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), PURGE_INTERVAL_S)
            try:
                await purge_sessions(store, config, now=datetime.now(UTC))
            except Exception as e:
                log.warning("housekeeping failed", error=str(e))
        sd_notify("STOPPING=1")
    finally:
        if poller is not None:
            poller.cancel()
        if runner is not None:
            await runner.cleanup()
        await proc.close()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with suppress(Exception):
                loop.remove_signal_handler(sig)
        log.info("portal stopped")
