"""``[upstream]`` and ``[upstreams.<name>]``: primary (password) authentication."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal, get_args

from radmfa.config.ldap import LdapConfig, parse_ldap
from radmfa.config.reader import HostPort, Section
from radmfa.config.tls import RADSEC_PORT, RADSEC_SECRET, cert_name, tls_file
from radmfa.errors import ConfigError

UpstreamType = Literal["radius", "ldap", "local"]
UPSTREAM_TYPES: tuple[UpstreamType, ...] = get_args(UpstreamType)
# How a RADIUS upstream is reached: datagrams, or RADIUS over TLS (RFC 6614; upstream/radsec.py).
UpstreamTransport = Literal["udp", "radsec"]
UPSTREAM_TRANSPORTS: tuple[UpstreamTransport, ...] = get_args(UpstreamTransport)


@dataclass(frozen=True, slots=True)
class UpstreamConfig:
    """Primary (password) authentication."""

    type: UpstreamType = "local"
    servers: tuple[HostPort, ...] = ()
    secret: bytes = b""
    timeout_s: float = 2.0  # wait per attempt
    retries: int = 3  # attempts per request, cycling through servers in order
    require_message_authenticator: bool = False  # FreeRADIUS < 3.2.5 / old NPS send none
    dead_time_s: float = 30.0  # a server that timed out is tried last for this long
    status_check_interval_s: float = 10.0  # Status-Server to dead servers this often; 0 = never
    ldap: LdapConfig | None = None  # set when type = "ldap"
    name: str = "default"  # "default" for [upstream], else the <name> of [upstreams.<name>]
    # Accounting-Requests go here (RFC 2866), same failover as servers; none =
    # radmfa records them and answers itself. The secret defaults to secret.
    accounting_servers: tuple[HostPort, ...] = ()
    accounting_secret: bytes = b""
    transport: UpstreamTransport = "udp"
    tls_cert: Path | None = None  # transport = "radsec": radmfa's client certificate (PEM)
    tls_key: Path | None = None  # its private key
    tls_ca: Path | None = None  # the CA that signs the servers' certificates
    tls_name: str = ""  # the name their certificates must show; "" = the host in servers

    def __repr__(self) -> str:
        return (
            f"UpstreamConfig(type={self.type!r}, servers={self.servers!r}, "
            f"accounting_servers={self.accounting_servers!r}, secret=<redacted>)"
        )


def parse_upstreams(root: Section) -> tuple[UpstreamConfig, dict[str, UpstreamConfig]]:
    """``[upstream]`` (named "default") and the ``[upstreams.<name>]`` that
    ``[clients.<name>] upstream`` can choose instead."""
    default = parse_upstream(root.table("upstream"), "default")
    named: dict[str, UpstreamConfig] = {}
    for name, table in root.tables("upstreams"):
        if name == "default":
            raise ConfigError(f"{root.path.name}: [upstreams.{name}]: the name 'default' is [upstream] itself")
        named[name] = parse_upstream(table, name)
    return default, named


def parse_upstream(u: Section, name: str) -> UpstreamConfig:
    du = UpstreamConfig()
    kind = u.choice("type", du.type, UPSTREAM_TYPES)
    transport = u.choice("transport", du.transport, UPSTREAM_TRANSPORTS) if kind == "radius" else du.transport
    radsec = transport == "radsec"
    upstream = UpstreamConfig(
        type=kind,
        servers=() if kind == "ldap" else u.host_ports("servers", (), RADSEC_PORT if radsec else 1812),
        secret=b"" if kind == "ldap" else (u.secret("secret") or (RADSEC_SECRET if radsec else b"")),
        timeout_s=u.number("timeout_s", du.timeout_s, minimum=0.05, maximum=60),
        retries=u.integer("retries", du.retries, minimum=1, maximum=10),
        require_message_authenticator=u.get("require_message_authenticator", bool, False),
        dead_time_s=u.number("dead_time_s", du.dead_time_s, minimum=0, maximum=3600),
        status_check_interval_s=u.number("status_check_interval_s", du.status_check_interval_s, minimum=0,
                                         maximum=3600),
        ldap=parse_ldap(u) if kind == "ldap" else None,
        name=name,
        transport=transport,
        tls_cert=tls_file(u, "tls_cert") if radsec else None,
        tls_key=tls_file(u, "tls_key") if radsec else None,
        tls_ca=tls_file(u, "tls_ca") if radsec else None,
        tls_name=cert_name(u, "tls_name") if radsec else "",
    )
    accounting = u.host_ports("accounting_servers", (), RADSEC_PORT if radsec else 1813)  # RFC 6614 §2.1
    accounting_secret = u.secret("accounting_secret") or upstream.secret
    if accounting and not accounting_secret:
        u.fail("accounting_secret", "accounting_servers need a shared secret (accounting_secret or secret)")
    upstream = replace(upstream, accounting_servers=accounting, accounting_secret=accounting_secret)
    if radsec:
        for key in ("tls_cert", "tls_key", "tls_ca"):
            if getattr(upstream, key) is None:
                u.fail(key, 'transport = "radsec" needs tls_cert, tls_key and tls_ca (PEM files)')
    if upstream.type == "radius":
        if not upstream.servers:
            u.fail("servers", 'type = "radius" needs at least one server')
        if not upstream.secret:
            u.fail("secret", 'type = "radius" needs a shared secret (secret or secret_file)')
    u.done()
    return upstream
