"""Wiring: config → store, upstream, pipeline, listeners; signals; sd_notify."""

from __future__ import annotations

import asyncio
import gc
import signal
import socket
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from aiohttp import web

from radmfa.config import PORTAL_CLIENT, ClientPolicy, Config, MfaConfig, format_host_port
from radmfa.config.clients import number_matching_warning
from radmfa.core import exemptions, limits, messages
from radmfa.core.admin_ports import Store
from radmfa.core.pipeline import Pipeline
from radmfa.core.ports import Upstream
from radmfa.delivery import Senders, build_senders
from radmfa.delivery.alerts import FraudNotifier
from radmfa.directory.sync import sync_loop
from radmfa.errors import ConfigError, RadmfaError
from radmfa.factors import build_factors
from radmfa.factors.phone import PhoneFactors
from radmfa.front.ldap.service import LdapFront, merged_policies
from radmfa.radius.clients import load_clients
from radmfa.service import health
from radmfa.service.accounting import AccountingListener, AccountingService, build_accounting
from radmfa.service.audit import AuditSink, configure_logging, log
from radmfa.service.binding import CannotListen, bind_failure
from radmfa.service.disconnect import Disconnector, ending_sessions
from radmfa.service.http import CallbackApp, start_http
from radmfa.service.live_settings import LiveSettings, reconcile
from radmfa.service.metrics import MetricsEndpoint, TimedDecider, time_store
from radmfa.service.notify import sd_notify
from radmfa.service.policies import PolicyTable
from radmfa.service.radius import Listener, RadiusService
from radmfa.service.radsec import RadsecListener
from radmfa.service.reuseport import attach_identifier_steering
from radmfa.service.udp import UdpEndpoint
from radmfa.store import open_store
from radmfa.upstream import ClientRouter, build_upstreams
from radmfa.upstream.passwords import Passwords

PURGE_INTERVAL_S = 60.0
DRAIN_TIMEOUT_S = 30.0


@dataclass
class App:
    config: Config
    store: Store
    upstream: Upstream
    audit: AuditSink
    service: RadiusService
    notifier: FraudNotifier  # the fraud.Notifier for raise_alert's call sites (voice, push)
    policies: PolicyTable  # [clients.<name>], shared by the pipeline and the listener
    transports: list[UdpEndpoint] = field(default_factory=list)
    addresses: list[tuple[str, int]] = field(default_factory=list)
    accounting_addresses: list[tuple[str, int]] = field(default_factory=list)
    senders: Senders = field(default_factory=Senders)
    phone: PhoneFactors | None = None
    http_runner: web.AppRunner | None = None
    ldap_front: LdapFront | None = None
    portal_runner: web.AppRunner | None = None  # [portal] embedded = true
    metrics: MetricsEndpoint | None = None  # [metrics] listen
    metrics_runner: web.AppRunner | None = None
    accounting: AccountingService | None = None  # [radius] accounting_listen
    radsec: RadsecListener | None = None  # [radius] radsec_listen
    settings: LiveSettings | None = None  # the store's settings, polled
    passwords: Passwords | None = None  # argon2 checks: their pool and counters

    def reload(self) -> None:
        """SIGHUP: re-read clients.conf; on error keep the old table."""
        try:
            table = load_clients(self.config.radius.clients_file)
            policies = merged_policies(self.config, self.config.client_policies(table), {c.name for c in table})
        except RadmfaError as e:
            log.error("clients.conf reload failed; keeping the previous clients", error=str(e))
            return
        for warning in table.warnings:
            log.warning("clients.conf", warning=warning)
        self.service.reload_clients(table)
        self.policies.replace(policies)
        if self.radsec is not None:
            self.radsec.reload()
        if isinstance(self.upstream, ClientRouter):
            self.upstream.route(policies)
        log.info("clients.conf reloaded", clients=len(table))

    async def close(self) -> None:
        self.service.stopping = True  # new packets are dropped; replies still go out
        await self.service.drain(DRAIN_TIMEOUT_S)
        if self.accounting is not None:
            self.accounting.stopping = True
            await self.accounting.drain(DRAIN_TIMEOUT_S)
            await self.accounting.close()
        for t in self.transports:
            t.close()
        if self.radsec is not None:
            await self.radsec.close()
        if self.ldap_front is not None:
            await self.ldap_front.close()
        for runner in (self.http_runner, self.portal_runner, self.metrics_runner):
            if runner is not None:
                await runner.cleanup()
        if self.metrics is not None:
            await self.metrics.close()
        if self.phone is not None:
            self.phone.close()
        await self.senders.close()
        await self.audit.close()
        await self.notifier.close()
        await self.upstream.close()
        if self.passwords is not None:
            self.passwords.close()
        await self.store.close()


# A request allocates a few hundred container objects, nearly all freed by
# their reference counts within the request. At CPython's default first
# threshold (700 allocations) a collection ran every few requests: 2% of a
# proxied request's instructions (callgrind, docs/benchmarks.md). Cycles
# still go, 10,000 allocations later at most.
GC_THRESHOLDS = (10_000, 10, 10)


def tune_gc() -> None:
    """The collector's thresholds for a serving process (serve, and the
    benchmarks that measure what it runs)."""
    gc.set_threshold(*GC_THRESHOLDS)


async def build(config: Config) -> App:
    clients = load_clients(config.radius.clients_file)
    for warning in clients.warnings:
        log.warning("clients.conf", warning=warning)
    policies = merged_policies(config, config.client_policies(clients), {c.name for c in clients})
    unmatched = number_matching_warning([c.name for c in clients], policies, config.phone)
    if unmatched is not None:
        log.warning("configuration", warning=unmatched)
    store = await open_store(config.store.url, key_file=config.store.key_file, base_dir=config.base_dir)
    if config.metrics.listen:
        time_store(store)
    # Local and app passwords: one argon2 pool and one set of budgets per process.
    passwords = Passwords(config.passwords, store, workers=config.radius.workers)
    try:
        await reconcile(store, config)
        settings = LiveSettings(store, config)
        await settings.refresh()
        upstream = await build_upstreams(config, store, policies, passwords)
    except BaseException:
        await store.close()
        raise
    factors = build_factors(
        store,
        window=config.mfa.totp_window,
        prompt=config.mfa.prompt,
        max_failures=config.mfa.max_code_failures,
        lockout_s=config.mfa.code_lockout_s,
        hotp_window=config.mfa.hotp_window,
    )
    table = PolicyTable(policies)
    notifier = FraudNotifier(config.fraud, config.smtp, server=config.audit.server_name)
    senders = build_senders(config.phone)  # phone, push and e-mail factors

    def app_name(client: str) -> str:  # {app}: [clients.<name>] app_name, also after SIGHUP
        return config.portal.title if client == PORTAL_CLIENT else messages.app_name(table.policy_for(client), client)

    # Users' own fraud reports (push "Deny and report fraud", the voice fraud
    # code) also end their live sessions on the NASes (service/disconnect.py).
    disconnector = Disconnector(store, lambda: service.clients, table, actor="radmfa")
    phone = None
    if senders.methods():
        # The voice fraud code and push "Deny and report fraud" alert the security team.
        phone = PhoneFactors(
            store, senders, config.phone, config.fraud, public_url=config.http.public_url, limits_cfg=config.limits,
            app_name=app_name, notify=ending_sessions(notifier, disconnector),
        )
    pipeline = Pipeline(
        config.mfa, upstream, store, factors["otp"], policies=table, passwords=passwords, phone=phone
    )
    settings.subscribe(pipeline.use_settings)
    settings.subscribe_config(notifier.use_config)
    if phone is not None:
        settings.subscribe_config(phone.use_config)
    audit = AuditSink(store, settings=config.audit)
    service = RadiusService(
        config.radius, clients, TimedDecider(pipeline) if config.metrics.listen else pipeline, audit, policies=table,
        upstream_healthy=upstream.healthy,
    )
    endpoint = MetricsEndpoint(store, service) if config.metrics.listen else None
    service.node_ip = config.audit.server_ip or _node_ip()
    front = LdapFront(config, pipeline=pipeline, store=store, audit=audit) if config.ldap_front else None
    accounting = build_accounting(config, lambda: service.clients, store, table)
    return App(
        config, store, upstream, audit, service, notifier, table, senders=senders, phone=phone, ldap_front=front,
        metrics=endpoint,
        accounting=accounting,
        settings=settings,
        passwords=passwords,
    )


def _node_ip() -> str:
    """This host's address on its default route, for audit rows of requests
    that came in on a wildcard listener. A UDP connect sends nothing; 192.0.2.1
    is TEST-NET-1 (RFC 5737). "" when there is no route."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(("192.0.2.1", 9))
            return str(probe.getsockname()[0])
    except OSError:
        return ""


async def listen(app: App, *, reuse_port: bool = False) -> None:
    """Open every listener; a CannotListen becomes a ConfigError naming the setting."""
    loop = asyncio.get_running_loop()
    where = app.config.path.name
    # HTTP first: once RADIUS answers, a call or push it starts can already be
    # called back (and /healthz answers), also while the UDP sockets open.
    if app.config.http.listen:  # provider callbacks and /healthz
        callbacks = CallbackApp(app.config.http, app.config.phone, app.phone, app.service.healthy)
        if app.settings is not None:
            app.settings.subscribe_config(callbacks.use_config)
        try:
            app.http_runner = await start_http(callbacks.app(), app.config.http.listen, reuse_port=reuse_port)
        except CannotListen as e:
            raise ConfigError(f"{where}: [http] listen: {e}") from None
    if app.metrics is not None:  # GET /metrics, on its own (management) address
        try:
            app.metrics_runner = await start_http(app.metrics.app(), app.config.metrics.listen, reuse_port=reuse_port)
        except CannotListen as e:
            raise ConfigError(f"{where}: [metrics] listen: {e}") from None
        app.metrics.start_sampling()
    if app.config.portal.embedded:  # small sites: the user portal in this process
        from radmfa.web.user.app import build_user_portal, portal_upstream, start_site

        upstream = portal_upstream(app.upstream, app.config.portal.upstream)
        portal = await build_user_portal(app.config, app.store, upstream, app.senders, app.notifier,
                                         settings=app.settings)
        app.portal_runner = await start_site(portal, app.config, reuse_port=reuse_port)
    for host, port in app.config.radius.listen:
        listener = Listener(app.service)
        try:
            transport = UdpEndpoint.bind(host, port, listener.datagram_received, reuse_port=reuse_port)
        except OSError as e:
            failure = bind_failure(e, host, port, kind=socket.SOCK_DGRAM, reuse_port=reuse_port)
            raise ConfigError(f"{where}: [radius] listen: {failure}") from None
        listener.transport = transport
        transport.start(loop)
        app.transports.append(transport)
        if reuse_port and not attach_identifier_steering(transport.get_extra_info("socket"), app.config.radius.workers):
            log.warning("cannot steer packets by RADIUS Identifier; the kernel will hash by source port")
        sockname = transport.get_extra_info("sockname")
        app.addresses.append((sockname[0], sockname[1]))
    if app.accounting is not None:
        await _listen_accounting(app, app.accounting, reuse_port=reuse_port)
    if app.config.radius.radsec_listen:  # RADIUS over TLS (RFC 6614), the same services behind it
        app.radsec = RadsecListener(app.config.radius, app.service, app.policies, accounting=app.accounting)
        app.radsec.check(where, {n: p.radsec_ca for n, p in app.config.clients.items() if p.radsec_ca})
        await app.radsec.start(where, reuse_port=reuse_port)
    if app.ldap_front is not None:  # applications binding over LDAP, on the same pipeline
        await app.ldap_front.start(reuse_port=reuse_port)


async def _listen_accounting(app: App, service: AccountingService, *, reuse_port: bool) -> None:
    """[radius] accounting_listen: Accounting-Requests (service/accounting.py);
    none bound when it is empty (RadSec alone then brings them)."""
    await service.start()
    for host, port in app.config.radius.accounting_listen:
        listener = AccountingListener(service)
        try:
            transport = UdpEndpoint.bind(host, port, listener.datagram_received, reuse_port=reuse_port)
        except OSError as e:
            failure = bind_failure(e, host, port, kind=socket.SOCK_DGRAM, reuse_port=reuse_port)
            raise ConfigError(f"{app.config.path.name}: [radius] accounting_listen: {failure}") from None
        listener.transport = transport
        transport.start(asyncio.get_running_loop())
        app.transports.append(transport)
        sockname = transport.get_extra_info("sockname")
        app.accounting_addresses.append((sockname[0], sockname[1]))


async def purge_once(store: Store, config: Config, *, now: datetime, mfa: MfaConfig | None = None) -> None:
    """Drop what has expired: challenges, ended send-limit windows, audit rows
    past retention, cache entries and remembered devices past any window
    (``mfa``: the settings in force, with the store's caching rules)."""
    await store.purge_expired(now=now)
    await limits.purge(store, now=now)
    await store.purge_oob(before=now - timedelta(seconds=PURGE_INTERVAL_S))  # held calls and pushes, sent codes
    await store.purge_audit(before=now - timedelta(days=config.audit.keep_days))
    if config.portal.public_url:  # portal sessions idle past their timeout
        await store.purge_web_sessions(idle_before=now - timedelta(minutes=config.portal.session_idle_minutes), now=now)
    rules = (mfa or config.mfa).cache
    cache_for, devices_for = exemptions.retention(rules, [ClientPolicy(), *config.clients.values()])
    await store.purge_exemptions(cache_before=now - cache_for, devices_before=now - devices_for)
    await store.purge_nas_sessions(before=now - timedelta(days=config.audit.keep_days))  # ended, or long silent
    await store.purge_health(before=now - health.KEEP_FOR)  # nodes that stopped reporting


async def _housekeeping(app: App) -> None:
    """Once a minute: drop expired challenges, ended send-limit windows and old audit rows; log the counters."""
    while True:
        await asyncio.sleep(PURGE_INTERVAL_S)
        try:
            await purge_once(app.store, app.config, now=datetime.now(UTC),
                             mfa=app.settings.mfa if app.settings is not None else None)
        except Exception as e:
            log.warning("housekeeping failed", error=str(e))
        accounting = app.accounting.counters() if app.accounting is not None else None
        log.info("stats", **app.service.counters(), accounting=accounting,
                 send_errors=sum(t.send_errors for t in app.transports))


async def serve(config: Config, *, reuse_port: bool = False, stop: asyncio.Event | None = None) -> None:
    """Run until SIGTERM/SIGINT (or ``stop``), then finish in-flight requests."""
    configure_logging(config.log)
    for warning in config.warnings:
        log.warning("configuration", warning=warning)
    app = await build(config)
    tune_gc()
    loop = asyncio.get_running_loop()
    stop = stop or asyncio.Event()
    purger: asyncio.Task[None] | None = None
    watchdog: asyncio.Task[None] | None = None
    syncer: asyncio.Task[None] | None = None
    poller: asyncio.Task[None] | None = None
    health_task: asyncio.Task[None] | None = None
    reporter = health.HealthReporter(app.store, health.node_name(config))
    reporter.install()  # in front of the [metrics] instruments, enabled by build()
    try:
        await listen(app, reuse_port=reuse_port)
    except BaseException:
        reporter.uninstall()
        await app.close()  # never served: no "stopped" line for a start that failed
        raise
    try:
        app.audit.start()
        purger = loop.create_task(_housekeeping(app))
        watchdog = loop.create_task(app.service.watchdog())
        health_task = loop.create_task(reporter.run())
        if app.settings is not None:
            poller = loop.create_task(app.settings.run())
        if config.sync.every_minutes:
            syncer = loop.create_task(sync_loop(config, app.store))
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        loop.add_signal_handler(signal.SIGHUP, app.reload)
        log.info(
            "radmfa ready",
            listen=[format_host_port(h, p) for h, p in app.addresses],
            accounting_listen=[format_host_port(h, p) for h, p in app.accounting_addresses],
            ldap_listen=app.ldap_front.addresses if app.ldap_front is not None else None,
            radsec_listen=[format_host_port(h, p) for h, p in app.radsec.addresses] if app.radsec else None,
            upstream=config.upstream.type,
            clients=len(app.service.clients),
            event_loop=type(loop).__module__.partition(".")[0],
        )
        sd_notify("READY=1\nSTATUS=serving")
        await stop.wait()
        sd_notify("STOPPING=1")
        log.info("stopping: finishing requests in flight", in_flight=len(app.service.flights))
    finally:
        for task in (purger, watchdog, syncer, poller, health_task):
            if task is not None:
                task.cancel()
        # Handlers stay installed while draining: a second SIGTERM (systemd
        # signals the whole cgroup, the parent forwards one too) or a reload
        # must not kill a worker that is finishing requests.
        reporter.uninstall()
        await app.close()
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            with suppress(Exception):
                loop.remove_signal_handler(sig)
        log.info(
            "stopped",
            answered=dict(app.service.answered),
            dropped=dict(app.service.dropped),
            dropped_by_client={k: dict(v) for k, v in app.service.dropped_by_client.items()},
            hash_checks=app.passwords.stats() if app.passwords else {},  # argon2: local and app passwords
        )
