"""radmfa.toml → frozen dataclasses. The only place configuration is validated.

Every error names the file and the key, e.g.
``radmfa.toml: [upstream] servers[1]: not host:port: 'nps1'``.
Relative paths are relative to the directory of the config file.

One module per group of sections; this one holds :class:`Config` and
:func:`load`, and re-exports every name the rest of radmfa imports:

    reader      the one table reader: typed reads, host:port, networks,
                secrets, the one loop over [x.<name>] tables
    radius      [radius]
    clients     [clients.<name>]
    upstream    [upstream], [upstreams.<name>]
    ldap        their LDAP keys (type = "ldap")
    mfa         [mfa], [[mfa.cache]]
    phone       [http], [providers.<name>], the out-of-band keys of [mfa]
    fraud       [fraud], [limits]
    sync        [sync]
    audit       [audit], [log], [smtp]
    store       [store]
    portal      [portal]
    admin_portal [admin_portal]
    stored      the settings kept in the store, not here
    ldap_front  [ldap_front], [ldap_front.clients.<name>]
    metrics     [metrics]

Importing it does no I/O and loads no I/O library: ``load`` reads the file
(and this host's name, the default ``[audit] server_name``).
"""

from __future__ import annotations

import os
import platform
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from radmfa.config.admin_portal import AdminPortalConfig, parse_admin_portal
from radmfa.config.audit import (
    DESTINATIONS,
    AuditConfig,
    Destinations,
    LogConfig,
    LogFormat,
    LogLevel,
    SmtpConfig,
    parse_audit,
    parse_log,
    parse_smtp,
)
from radmfa.config.clients import (
    APP_PASSWORD_CHOICES,
    CLIENT_MODES,
    CLIENT_PRIMARY,
    USER_IP_ATTRIBUTES,
    ClientPolicy,
    UserIpAttribute,
    check_oob_clients,
    parse_clients,
)
from radmfa.config.fraud import FraudConfig, LimitsConfig, MethodLimit, parse_fraud, parse_limits
from radmfa.config.ldap import LdapConfig, LdapServer, naming_attribute, plaintext, template_is_dn
from radmfa.config.ldap_front import LdapFrontClient, LdapFrontConfig, LdapListen, parse_ldap_front
from radmfa.config.metrics import MetricsConfig, parse_metrics
from radmfa.config.mfa import (
    CACHE_TYPES,
    MAX_HOTP_WINDOW,
    NEW_USER_CHOICES,
    CacheRule,
    CacheType,
    MfaConfig,
    parse_mfa,
)
from radmfa.config.phone import (
    PROVIDER_METHODS,
    PROVIDER_TYPES,
    SEND_METHODS,
    HttpConfig,
    PhoneConfig,
    ProviderConfig,
    ProviderType,
    finish_phone,
    parse_http,
    parse_mfa_keys,
    parse_providers,
    phone_warnings,
)
from radmfa.config.portal import PORTAL_CLIENT, PortalConfig, enroll_message, parse_portal
from radmfa.config.radius import OnBackendFailure, RadiusConfig, parse_radius
from radmfa.config.reader import HostPort, IpNetwork, Section, format_host_port, parse_host_port
from radmfa.config.store import StoreConfig, parse_store
from radmfa.config.stored import given_in_file
from radmfa.config.sync import SYNC_ATTRIBUTES, SyncConfig, parse_sync
from radmfa.config.upstream import UpstreamConfig, UpstreamType, parse_upstreams
from radmfa.errors import ConfigError

if TYPE_CHECKING:
    from radmfa.radius.clients import Client

__all__ = [
    "APP_PASSWORD_CHOICES", "CACHE_TYPES", "CLIENT_MODES", "CLIENT_PRIMARY", "DESTINATIONS", "MAX_HOTP_WINDOW",
    "NEW_USER_CHOICES", "PORTAL_CLIENT", "PROVIDER_METHODS", "PROVIDER_TYPES", "SEND_METHODS", "SYNC_ATTRIBUTES",
    "USER_IP_ATTRIBUTES", "AdminPortalConfig", "AuditConfig", "CacheRule", "CacheType", "ClientPolicy",
    "Config", "Destinations", "FraudConfig", "HostPort", "HttpConfig", "IpNetwork", "LdapConfig",
    "LdapFrontClient", "LdapFrontConfig", "LdapListen", "LdapServer", "LimitsConfig", "LogConfig", "LogFormat",
    "LogLevel", "MethodLimit", "MetricsConfig", "MfaConfig", "OnBackendFailure", "PhoneConfig", "PortalConfig",
    "ProviderConfig", "ProviderType", "RadiusConfig", "SmtpConfig", "StoreConfig", "SyncConfig",
    "UpstreamConfig", "UpstreamType", "UserIpAttribute", "default_path", "enroll_message",
    "format_host_port", "load", "naming_attribute", "parse_host_port", "plaintext", "template_is_dn",
]

SECTIONS = (
    "radius", "upstream", "upstreams", "mfa", "store", "log", "clients", "fraud", "limits", "sync",
    "smtp", "audit", "http", "providers", "ldap_front", "portal", "metrics", "admin_portal",
)


@dataclass(frozen=True, slots=True)
class Config:
    path: Path
    radius: RadiusConfig
    upstream: UpstreamConfig
    mfa: MfaConfig
    store: StoreConfig
    log: LogConfig
    clients: Mapping[str, ClientPolicy] = field(default_factory=dict)  # by the name in [clients.<name>]
    fraud: FraudConfig = FraudConfig()
    http: HttpConfig = HttpConfig()
    phone: PhoneConfig = PhoneConfig()  # [mfa] out-of-band keys + [providers.*]
    upstreams: Mapping[str, UpstreamConfig] = field(default_factory=dict)  # [upstreams.<name>]
    sync: SyncConfig = SyncConfig()
    smtp: SmtpConfig = SmtpConfig()
    audit: AuditConfig = AuditConfig()
    warnings: tuple[str, ...] = ()  # deprecated keys and the like, logged at start-up
    limits: LimitsConfig = LimitsConfig()
    ldap_front: LdapFrontConfig | None = None  # [ldap_front]: applications bind over LDAP
    portal: PortalConfig = PortalConfig()  # the user portal
    metrics: MetricsConfig = MetricsConfig()  # GET /metrics
    admin_portal: AdminPortalConfig = AdminPortalConfig()  # the management portal
    moved_keys: tuple[str, ...] = ()  # settings kept in the store that this file still gives (config/stored.py)

    @property
    def base_dir(self) -> Path:
        return self.path.parent

    def client_policies(self, table: Iterable[Client]) -> dict[str, ClientPolicy]:
        """Each clients.conf client's policy, keyed by its section name (what
        AuthRequest.client holds). Raises ConfigError for a [clients.<name>]
        that names no client, so a typo cannot silently drop a setting."""
        found: dict[str, ClientPolicy] = {}
        named: set[str] = set()
        for client in table:
            policy = self.clients.get(client.name) or self.clients.get(client.shortname)
            if policy is not None:
                found[client.name] = policy
                named.add(policy.name)
        for name in self.clients:
            if name not in named:
                raise ConfigError(
                    f"{self.path.name}: [clients.{name}]: no client with that name or shortname in clients.conf"
                )
        self._check_cache_clients({client.name for client in table})
        return found

    def _check_cache_clients(self, names: set[str]) -> None:
        for i, rule in enumerate(self.mfa.cache):
            for client in rule.clients:
                if client not in names:
                    raise ConfigError(
                        f"{self.path.name}: [mfa] cache[{i}].clients: no client section named "
                        f"{client!r} in clients.conf"
                    )


def default_path() -> Path:
    return Path(os.environ.get("RADMFA_CONFIG", "radmfa.toml"))


def load(path: str | os.PathLike[str]) -> Config:
    p = Path(path).absolute()
    try:
        raw = p.read_bytes()
    except OSError as e:
        raise ConfigError(f"{p}: cannot read config file: {e.strerror}") from None
    try:
        doc = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"{p}: {e}") from None
    return _build(doc, p, host=platform.node())


def _build(doc: dict[str, Any], path: Path, *, host: str) -> Config:
    """The Config of a parsed radmfa.toml at ``path``; ``host`` is this host's name."""
    for name in doc:
        if name not in SECTIONS:
            raise ConfigError(f"{path.name}: [{name}]: unknown section")
    root = Section.document(doc, path)
    radius = parse_radius(root.table("radius"))
    upstream, upstreams = parse_upstreams(root)
    m = root.table("mfa")
    mfa = parse_mfa(m)
    phone_keys = parse_mfa_keys(m)
    m.done()
    store, old_retention = parse_store(root.table("store"))
    log = parse_log(root.table("log"))
    clients = parse_clients(root, upstreams)
    smtp = parse_smtp(root.table("smtp"))
    fraud = parse_fraud(root.table("fraud"), smtp)
    audit, warnings = parse_audit(root.table("audit"), old_retention, host)
    http = parse_http(root.table("http"))
    phone = finish_phone(phone_keys, parse_providers(root), http, path)
    check_oob_clients(clients, phone, path)
    ldap_front = parse_ldap_front(
        root, ldap_upstreams={name: u.type == "ldap" for name, u in {"default": upstream, **upstreams}.items()}
    )
    portal = parse_portal(root.table("portal"), frozenset(upstreams))
    warnings += tuple(phone_warnings(phone))
    if portal.public_url and "no_factor_message" not in doc.get("mfa", {}):
        # Users who must enroll are told where: the portal's address.
        mfa = replace(mfa, no_factor_message=enroll_message(portal))
    return Config(
        path=path, radius=radius, upstream=upstream, mfa=mfa, store=store, log=log, clients=clients,
        fraud=fraud, limits=parse_limits(root.table("limits")), http=http, phone=phone, upstreams=upstreams,
        sync=parse_sync(root.table("sync"), upstream, upstreams), smtp=smtp, audit=audit,
        warnings=warnings, ldap_front=ldap_front, portal=portal,
        metrics=parse_metrics(root.table("metrics")),
        admin_portal=parse_admin_portal(root.table("admin_portal")), moved_keys=given_in_file(doc),
    )
