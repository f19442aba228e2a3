"""The LDAP front end: listeners, who may connect, and how many.

A connection from an address no ``[ldap_front.clients.<name>]`` lists is
closed at once and counted (on ``ldaps://`` right after the TLS handshake,
which asyncio completes before handing the connection over); so is one over
the client's ``max_connections`` (per worker process). An ``ldap://``
listener offers StartTLS and refuses binds and operations without TLS,
except from loopback.

The applications behind the listed addresses appear to the pipeline as
clients named like RADIUS clients: policy ``mode = "oob"`` (LDAP has no
challenge: a code comes inline, or the user's push or call is held),
trusted networks and cache stations by the application's address, and no
remembered devices (that address is an application server, not the user's
device).
"""

from __future__ import annotations

import asyncio
import ssl
from collections import Counter
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import partial

from radmfa.config import ClientPolicy, Config, LdapFrontClient, LdapFrontConfig, LdapListen, UpstreamConfig
from radmfa.core.exemptions import parse_ip
from radmfa.core.ports import Decider
from radmfa.errors import ConfigError
from radmfa.front.ldap.binds import Binder, BindStore, Peer
from radmfa.front.ldap.connection import Connection, Shared
from radmfa.front.ldap.directory import Directory, nodelay
from radmfa.front.ldap.lookup import Resolver
from radmfa.service.audit import AuditSink, log
from radmfa.upstream.failover import Failover

HOUSEKEEPING_S = 60.0


def policies(cfg: LdapFrontConfig) -> dict[str, ClientPolicy]:
    """How the pipeline treats each LDAP client, by name."""
    return {
        c.name: ClientPolicy(
            name=c.name, user_ip_attribute="source", mode="oob", primary="upstream", app_name=c.app_name,
            remember_days=0, upstream=cfg.upstream,
        )
        for c in cfg.clients
    }


def merged_policies(
    config: Config, radius: Mapping[str, ClientPolicy], radius_names: set[str]
) -> dict[str, ClientPolicy]:
    """The RADIUS clients' policies and the LDAP clients', one name space:
    an LDAP client may not share a clients.conf client's name."""
    if config.ldap_front is None:
        return dict(radius)
    ldap = policies(config.ldap_front)
    clash = sorted(ldap.keys() & radius_names)
    if clash:
        raise ConfigError(f"{config.path.name}: [ldap_front.clients.{clash[0]}]: clients.conf has a client of that "
                          "name; audit rows and policies would mix them up")
    return {**radius, **ldap}


def _upstream(config: Config, cfg: LdapFrontConfig) -> UpstreamConfig:
    upstream = config.upstream if cfg.upstream == "default" else config.upstreams[cfg.upstream]
    assert upstream.ldap is not None  # config/ldap_front.py checked it
    return upstream


def server_context(cfg: LdapFrontConfig, path_name: str) -> ssl.SSLContext | None:
    if cfg.cert_file is None or cfg.key_file is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(cfg.cert_file, cfg.key_file)
    except (ssl.SSLError, OSError) as e:
        raise ConfigError(f"{path_name}: [ldap_front] cert_file / key_file: cannot load: {e}") from None
    return context


class ClientTable:
    """The listed applications, most specific network first."""

    def __init__(self, clients: tuple[LdapFrontClient, ...]) -> None:
        pairs = [(net, c) for c in clients for net in c.networks]
        self._pairs = sorted(pairs, key=lambda p: -p[0].prefixlen)

    def match(self, address: str) -> LdapFrontClient | None:
        ip = parse_ip(address)
        if ip is None:
            return None
        return next((c for net, c in self._pairs if net.version == ip.version and ip in net), None)


class LdapFront:
    def __init__(self, config: Config, *, pipeline: Decider, store: BindStore, audit: AuditSink) -> None:
        assert config.ldap_front is not None
        cfg = self.cfg = config.ldap_front
        upstream = _upstream(config, cfg)
        assert upstream.ldap is not None
        # One dead-server memory for the lookups and the directory links: the same servers.
        failover = Failover(upstream.ldap.servers, upstream.dead_time_s)
        self.resolver = Resolver(upstream.ldap, timeout_s=upstream.timeout_s, failover=failover)
        self.directory = Directory(upstream.ldap, timeout_s=upstream.timeout_s, failover=failover)
        binder = Binder(
            cfg, config.mfa, pipeline=pipeline, store=store, resolver=self.resolver, directory=self.directory,
            audit=audit,
        )
        self.dropped: Counter[str] = Counter()
        self.shared = Shared(cfg, binder, self.directory, server_context(cfg, config.path.name), self.dropped)
        self.clients = ClientTable(cfg.clients)
        self.open: Counter[str] = Counter()  # connections per client name
        self.addresses: list[str] = []  # the URLs listened on, with the ports bound
        self._servers: list[asyncio.Server] = []
        self._sessions: set[Connection] = set()
        self._housekeeper: asyncio.Task[None] | None = None
        self._last_unknown = ""
        self._file = config.path.name

    async def start(self, *, reuse_port: bool = False) -> None:
        for where in self.cfg.listen:
            try:
                tls = self.shared.tls if where.scheme == "ldaps" else None
                server = await asyncio.start_server(
                    partial(self._accept, where), where.host, where.port, reuse_port=reuse_port, ssl=tls,
                    ssl_handshake_timeout=self.cfg.tls_handshake_timeout_s if tls else None,
                )
            except OSError as e:
                raise ConfigError(
                    f"{self._file}: [ldap_front] listen: cannot listen on {where.url}: {e.strerror}"
                ) from None
            self._servers.append(server)
            for sock in server.sockets:
                host, port = sock.getsockname()[:2]
                self.addresses.append(LdapListen(where.scheme, host, port).url)
        self._housekeeper = asyncio.get_running_loop().create_task(self._housekeeping())

    async def _accept(self, where: LdapListen, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer_ip, local_ip = writer.get_extra_info("peername")[0], writer.get_extra_info("sockname")[0]
        client = self.clients.match(peer_ip)
        if client is None:
            self._last_unknown = peer_ip
            return self._turn_away(writer, "unknown_client")
        if self.open[client.name] >= client.max_connections:
            return self._turn_away(writer, "too_many_connections")
        nodelay(writer)
        peer = Peer(client, peer_ip, local_ip, where.scheme == "ldaps", _loopback(peer_ip))
        session = Connection(self.shared, peer, reader, writer)
        self._sessions.add(session)
        self.open[client.name] += 1
        try:
            await session.run()
        finally:
            self.open[client.name] -= 1
            self._sessions.discard(session)

    def _turn_away(self, writer: asyncio.StreamWriter, reason: str) -> None:
        self.dropped[reason] += 1
        writer.close()

    async def _housekeeping(self) -> None:
        """Once a minute: completed binds past rebind_seconds go; the counters are logged."""
        while True:
            await asyncio.sleep(HOUSEKEEPING_S)
            try:
                await self.shared.binder.rebinds.purge(now=datetime.now(UTC))
            except Exception as e:
                log.warning("ldap front housekeeping failed", error=str(e))
            log.info("ldap front stats", connections=sum(self.open.values()), dropped=dict(self.dropped),
                     last_unknown_client=self._last_unknown or None)

    async def close(self) -> None:
        """Stop listening, end every session (binds waiting for a push are
        refused), close the directory connections."""
        for server in self._servers:
            server.close()
        if self._housekeeper is not None:
            self._housekeeper.cancel()
        sessions = list(self._sessions)
        for session in sessions:
            session.abort()
        if sessions:
            await asyncio.wait([asyncio.ensure_future(s.closed.wait()) for s in sessions], timeout=10)
        self.directory.close()
        await self.resolver.close()
        log.info("ldap front stopped", dropped=dict(self.dropped))


def _loopback(address: str) -> bool:
    ip = parse_ip(address)
    return ip is not None and ip.is_loopback

