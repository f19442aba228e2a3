"""``[ldap_front]`` and its ``[ldap_front.clients.<name>]`` tables: the LDAP
front end, where applications bind and get a second factor."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

from radmfa.config.reader import IpNetwork, Section, is_loopback, one_of, parse_host_port

# ldaps://: TLS from the first byte; ldap://: StartTLS before a bind (except from loopback).
ListenScheme = Literal["ldaps", "ldap"]
LISTEN_SCHEMES: tuple[ListenScheme, ...] = get_args(ListenScheme)
DEFAULT_PORTS: Mapping[ListenScheme, int] = {"ldaps": 636, "ldap": 389}


@dataclass(frozen=True, slots=True)
class LdapListen:
    """One ``listen`` URL: ``ldaps://`` (TLS from the first byte) or
    ``ldap://`` (StartTLS required before a bind, except from loopback)."""

    scheme: ListenScheme
    host: str
    port: int

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"


@dataclass(frozen=True, slots=True)
class LdapFrontClient:
    """``[ldap_front.clients.<name>]``: an application allowed to connect.

    ``name`` is what audit rows show as the NAS and what [[mfa.cache]]
    ``clients`` and custom messages are keyed by, like a clients.conf name.
    """

    name: str
    networks: tuple[IpNetwork, ...]
    app_name: str = ""  # {app} in push texts and messages; "" = the name
    bind_timeout_s: float = 25.0  # answer every bind within this (the application's own timeout, less a margin)
    max_connections: int = 100  # open connections from this client, per worker process


@dataclass(frozen=True, slots=True)
class LdapFrontConfig:
    """``[ldap_front]``: applications bind here and get a second factor."""

    listen: tuple[LdapListen, ...]
    clients: tuple[LdapFrontClient, ...]
    cert_file: Path | None = None  # the server certificate (PEM, chain included)
    key_file: Path | None = None
    upstream: str = "default"  # the LDAP upstream that checks passwords and serves operations
    service_binds: tuple[str, ...] = ()  # DNs that bind without a second factor (audited)
    allow_anonymous: bool = False  # anonymous binds and operations before a bind
    rebind_seconds: int = 10  # the same bind again within this reuses the completed MFA; 0 = never
    max_operations: int = 10  # operations outstanding on one connection; more are answered busy
    idle_timeout_s: float = 120.0  # a connection with nothing to do is closed after this
    max_message_bytes: int = 262144  # a larger request closes the connection
    tls_handshake_timeout_s: float = 10.0


def parse_ldap_front(root: Section, *, ldap_upstreams: Mapping[str, bool]) -> LdapFrontConfig | None:
    """``ldap_upstreams``: every upstream name ("default" and each
    [upstreams.<name>]), True for those of type "ldap"."""
    if "ldap_front" not in root.data:
        return None
    sec = root.table("ldap_front")
    d = LdapFrontConfig((), ())
    cfg = LdapFrontConfig(
        listen=_listen(sec),
        clients=_clients(sec),
        cert_file=sec.path_value("cert_file", Path()) if "cert_file" in sec.data else None,
        key_file=sec.path_value("key_file", Path()) if "key_file" in sec.data else None,
        upstream=sec.get("upstream", str, d.upstream),
        service_binds=_service_binds(sec),
        allow_anonymous=sec.get("allow_anonymous", bool, d.allow_anonymous),
        rebind_seconds=sec.integer("rebind_seconds", d.rebind_seconds, minimum=0, maximum=300),
        max_operations=sec.integer("max_operations", d.max_operations, minimum=1, maximum=1000),
        idle_timeout_s=sec.number("idle_timeout_s", d.idle_timeout_s, minimum=1, maximum=86400),
        max_message_bytes=sec.integer("max_message_bytes", d.max_message_bytes, minimum=1024, maximum=16 << 20),
    )
    if cfg.upstream not in ldap_upstreams:
        sec.fail("upstream", f"no upstream named {cfg.upstream!r} ([upstream] is \"default\")")
    if not ldap_upstreams[cfg.upstream]:
        sec.fail("upstream", f"{cfg.upstream!r} is not an LDAP upstream: passwords are checked, and operations "
                 "served, by the directory")
    _check_tls(sec, cfg)
    sec.done()
    return cfg


def _listen(sec: Section) -> tuple[LdapListen, ...]:
    values = sec.get("listen", list, [])
    if not values:
        sec.fail("listen", 'needs at least one address, e.g. "ldaps://0.0.0.0:636"')
    out = []
    for i, value in enumerate(values):
        text, sep, rest = value.partition("://") if isinstance(value, str) else ("", "", "")
        scheme = one_of(text, LISTEN_SCHEMES)
        if not sep or scheme is None or "/" in rest:
            sec.fail(f"listen[{i}]", f'expected "ldaps://host[:port]" or "ldap://host[:port]", got {value!r}')
        try:
            host, port = parse_host_port(rest, DEFAULT_PORTS[scheme])
        except ValueError as e:
            sec.fail(f"listen[{i}]", str(e))
        out.append(LdapListen(scheme, host, port))
    return tuple(out)


def _clients(parent: Section) -> tuple[LdapFrontClient, ...]:
    tables = parent.data.get("clients")
    if not isinstance(tables, dict) or not tables:
        parent.fail("clients", "needs at least one [ldap_front.clients.<name>] table with its networks")
    bind_timeout = parent.number("bind_timeout_s", 25.0, minimum=1, maximum=600)
    max_connections = parent.integer("max_connections_per_client", 100, minimum=1, maximum=100_000)
    out = []
    for name, c in parent.tables("clients"):
        client = LdapFrontClient(
            name=name,
            networks=c.networks("networks"),
            app_name=c.get("app_name", str, ""),
            bind_timeout_s=c.number("bind_timeout_s", bind_timeout, minimum=1, maximum=600),
            max_connections=c.integer("max_connections", max_connections, minimum=1, maximum=100_000),
        )
        if not client.networks:
            c.fail("networks", 'needs the addresses the application connects from, e.g. ["10.0.5.20/32"]')
        if len(client.app_name) > 64 or not client.app_name.isprintable():
            c.fail("app_name", "must be at most 64 printable characters (it goes into texts and prompts)")
        c.done()
        out.append(client)
    return tuple(out)


def _service_binds(sec: Section) -> tuple[str, ...]:
    # ldap3 loads sockets and TLS: imported only when a config names service
    # binds, so importing the configuration stays free of I/O libraries.
    from ldap3.core.exceptions import LDAPInvalidDnError
    from ldap3.utils.dn import parse_dn

    values = sec.get("service_binds", list, [])
    for i, dn in enumerate(values):
        try:
            if not isinstance(dn, str) or not parse_dn(dn):
                raise LDAPInvalidDnError(dn)
        except LDAPInvalidDnError:
            sec.fail(f"service_binds[{i}]", f"not a DN: {dn!r}")
    return tuple(values)


def _check_tls(sec: Section, cfg: LdapFrontConfig) -> None:
    for key in ("cert_file", "key_file"):
        value = getattr(cfg, key)
        if value is not None and not value.is_file():
            sec.fail(key, f"no such file: {value}")
    if (cfg.cert_file is None) != (cfg.key_file is None):
        sec.fail("key_file" if cfg.key_file is None else "cert_file", "give both cert_file and key_file")
    for i, where in enumerate(cfg.listen):
        if cfg.cert_file is not None:
            continue
        if where.scheme == "ldaps":
            sec.fail("cert_file", f"{where.url} needs a certificate (cert_file and key_file)")
        if not is_loopback(where.host):
            sec.fail("cert_file", f"listen[{i}] {where.url} is reachable from other hosts: binds there need "
                     "StartTLS, so give cert_file and key_file")
