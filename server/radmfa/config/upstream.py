"""``[upstream]`` and ``[upstreams.<name>]``: primary (password) authentication."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal, get_args

from radmfa.config.ldap import LdapConfig, parse_ldap
from radmfa.config.reader import HostPort, Section
from radmfa.errors import ConfigError

UpstreamType = Literal["radius", "ldap", "local"]
UPSTREAM_TYPES: tuple[UpstreamType, ...] = get_args(UpstreamType)


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
    upstream = UpstreamConfig(
        type=kind,
        servers=() if kind == "ldap" else u.host_ports("servers", (), 1812),
        secret=b"" if kind == "ldap" else u.secret("secret"),
        timeout_s=u.number("timeout_s", du.timeout_s, minimum=0.05, maximum=60),
        retries=u.integer("retries", du.retries, minimum=1, maximum=10),
        require_message_authenticator=u.get("require_message_authenticator", bool, False),
        dead_time_s=u.number("dead_time_s", du.dead_time_s, minimum=0, maximum=3600),
        status_check_interval_s=u.number("status_check_interval_s", du.status_check_interval_s, minimum=0,
                                         maximum=3600),
        ldap=parse_ldap(u) if kind == "ldap" else None,
        name=name,
    )
    accounting = u.host_ports("accounting_servers", (), 1813)
    accounting_secret = u.secret("accounting_secret") or upstream.secret
    if accounting and not accounting_secret:
        u.fail("accounting_secret", "accounting_servers need a shared secret (accounting_secret or secret)")
    upstream = replace(upstream, accounting_servers=accounting, accounting_secret=accounting_secret)
    if upstream.type == "radius":
        if not upstream.servers:
            u.fail("servers", 'type = "radius" needs at least one server')
        if not upstream.secret:
            u.fail("secret", 'type = "radius" needs a shared secret (secret or secret_file)')
    u.done()
    return upstream
