"""radmfa.toml → frozen dataclasses. The only place configuration is validated.

Every error names the file and the key, e.g.
``radmfa.toml: [upstream] servers[1]: not host:port: 'nps1'``.
Relative paths are relative to the directory of the config file.
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from radmfa.config_audit import AuditConfig, SmtpConfig, file_secret, mailbox, parse_audit, parse_smtp
from radmfa.config_ldap_front import LdapFrontConfig, parse_ldap_front
from radmfa.config_phone import (
    CLIENT_MODES,
    CLIENT_PRIMARY,
    HttpConfig,
    PhoneConfig,
    finish_phone,
    parse_http,
    parse_mfa_keys,
    parse_providers,
    phone_warnings,
)
from radmfa.config_portal import PortalConfig, enroll_message, parse_portal
from radmfa.errors import ConfigError

if TYPE_CHECKING:
    from radmfa.radius.clients import Client

HostPort = tuple[str, int]


@dataclass(frozen=True, slots=True)
class RadiusConfig:
    """The NAS-facing listener."""

    listen: tuple[HostPort, ...] = (("127.0.0.1", 1812), ("::1", 1812))
    clients_file: Path = Path("clients.conf")  # FreeRADIUS syntax
    dictionary_file: Path = Path("dictionary")  # FreeRADIUS format
    duplicate_window_s: float = 10.0  # RFC 5080 §2.2.2: resend the cached reply this long
    reject_delay_s: float = 1.0  # delay for rejects radmfa originates (not proxied ones)
    workers: int = 1  # processes sharing the port with SO_REUSEPORT
    max_pending: int = 65536  # in-flight + cached requests per listening socket and process (DUP-6)
    request_timeout_s: float = 30.0  # longest radmfa works on one request before rejecting it
    on_backend_failure: str = "reject"  # "reject" | "drop" (no answer, so the NAS fails over)
    # Fairness (service/fairness.py), per worker process: requests decided at
    # once, and requests one clients.conf entry may have waiting or being
    # decided at once; more from that client are dropped (client_busy).
    max_active: int = 512
    client_max_requests: int = 256


@dataclass(frozen=True, slots=True)
class LdapServer:
    """One directory server from ``servers = ["ldaps://dc1.corp.example"]``."""

    scheme: str  # "ldap" | "ldaps"
    host: str
    port: int

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"


@dataclass(frozen=True, slots=True)
class LdapConfig:
    """``[upstream] type = "ldap"``: search-then-bind or a bind-DN template."""

    servers: tuple[LdapServer, ...]
    start_tls: bool = False  # on ldap:// servers, before any bind (RFC 4511 §4.14)
    ca_file: Path | None = None  # None: the system's trusted CAs
    verify: bool = True  # certificate and host name checks on ldaps:// and StartTLS
    bind_dn: str = ""  # service account for search-then-bind
    bind_password: str = ""
    bind_dn_template: str = ""  # e.g. "uid={user},ou=people,dc=example,dc=org" or "{user}@corp.example"
    base_dn: str = ""
    user_filter: str = "(uid={user})"  # {user} is RFC 4515-escaped
    require_group: str = ""  # DN of a group the user must belong to
    group_check: str = "nested"  # "nested" (AD 1.2.840.113556.1.4.1941) | "memberof" | "member"
    pool_size: int = 4  # threads and pooled service-account connections
    strip_realm: bool = True  # {user} without a DOMAIN\\ prefix or @realm
    # The entry's naming attribute (uid, sAMAccountName, userPrincipalName): the
    # directory's own spelling of the user name, checked against the User-Name.
    user_attribute: str = ""
    allow_plaintext: bool = False  # ldap:// with no StartTLS to a host that is not loopback

    def __repr__(self) -> str:
        return f"LdapConfig(servers={[s.url for s in self.servers]!r}, bind_dn={self.bind_dn!r}, password=<redacted>)"


@dataclass(frozen=True, slots=True)
class UpstreamConfig:
    """Primary (password) authentication."""

    type: str = "local"  # "radius" | "ldap" | "local"
    servers: tuple[HostPort, ...] = ()
    secret: bytes = b""
    timeout_s: float = 2.0  # wait per attempt
    retries: int = 3  # attempts per request, cycling through servers in order
    require_message_authenticator: bool = False  # FreeRADIUS < 3.2.5 / old NPS send none
    dead_time_s: float = 30.0  # a server that timed out is tried last for this long
    ldap: LdapConfig | None = None  # set when type = "ldap"
    name: str = "default"  # "default" for [upstream], else the <name> of [upstreams.<name>]

    def __repr__(self) -> str:
        return f"UpstreamConfig(type={self.type!r}, servers={self.servers!r}, secret=<redacted>)"


@dataclass(frozen=True, slots=True)
class MfaConfig:
    unknown_users: str = "reject"  # "reject" | "password-only"
    challenge_ttl_s: int = 300
    max_attempts: int = 3
    inline: bool = True  # accept "password<delimiter>code" in one request
    inline_delimiter: str = ","
    prompt: str = "Enter the code from your authenticator app:"
    retry_prompt: str = "Wrong code. Enter the code from your authenticator app:"
    no_factor_message: str = "No second factor is enrolled for this account. Contact your helpdesk."
    issuer: str = "radmfa"
    totp_window: int = 1  # steps accepted either side of now
    hotp_window: int = 10  # HOTP counters looked ahead at login (RFC 4226 §7.4), at most MAX_HOTP_WINDOW
    max_code_failures: int = 10  # wrong codes in a row before a token is locked …
    code_lockout_s: int = 300  # … for this long (renewed by each further wrong code)
    # The admin's controls (issue 5): see core/exemptions.py and the operator
    # guide's "Order of evaluation".
    new_user: str = "enroll"  # enabled user with no factor: "allow" | "enroll" | "deny"
    trusted_networks: tuple[IpNetwork, ...] = ()  # matched against each client's user_ip_attribute
    app_passwords: bool = False  # the global switch; [clients.<name>] app_passwords narrows it
    lockout_failures: int = 5  # second-factor failures in a row before the user is blocked; 0 = never
    lockout_minutes: int = 15  # how long a lockout block lasts; 0 = until `radmfa user unblock`
    cache: tuple[CacheRule, ...] = ()  # [[mfa.cache]] rules, in the order written


IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
CACHE_TYPES = ("user", "user+client", "user+station")
NEW_USER_CHOICES = ("allow", "enroll", "deny")
APP_PASSWORD_CHOICES = ("allow", "require", "deny")


@dataclass(frozen=True, slots=True)
class CacheRule:
    """``[[mfa.cache]]``: after a complete MFA success, later logins matching
    the rule within ``seconds`` skip the second factor (never the password)."""

    type: str  # one of CACHE_TYPES: what else must match besides the user
    seconds: int
    clients: tuple[str, ...] = ()  # clients.conf section names it applies to; empty = every client

    def applies_to(self, client: str) -> bool:
        return not self.clients or client in self.clients


# Where a client's requests say the end user's address is (trusted networks,
# remembered devices and the audit log read it from there).
USER_IP_ATTRIBUTES = ("Calling-Station-Id", "Framed-IP-Address", "source")


@dataclass(frozen=True, slots=True)
class ClientPolicy:
    """``[clients.<name>]``: how radmfa treats one NAS of clients.conf.

    ``<name>`` is the client's section name in clients.conf or its shortname.
    A client without a table gets these defaults.
    """

    name: str = ""
    user_ip_attribute: str = "Calling-Station-Id"  # one of USER_IP_ATTRIBUTES; "source" = the NAS's address
    # -- issue 4: phone factors --
    mode: str = "challenge"  # "challenge" (menu) | "oob" (hold for call/push) | "auto" (inline keyword or menu)
    primary: str = "upstream"  # "upstream" | "none" (the NAS checked the password; only User-Name comes)
    app_name: str = ""  # {app} in messages to users; "" = the client's name
    app_passwords: str = "allow"  # one of APP_PASSWORD_CHOICES (only with [mfa] app_passwords = true)
    remember_days: int = 14  # remembered devices after a complete MFA success; 0 = off
    upstream: str = "default"  # "default" ([upstream]) or the <name> of an [upstreams.<name>]


# User fields `radmfa sync` fills from the directory, and the LDAP attribute
# each is read from by default (OpenLDAP inetOrgPerson; AD uses sAMAccountName).
SYNC_ATTRIBUTES = {
    "user_name": "uid",
    "first_name": "givenName",
    "last_name": "sn",
    "email": "mail",
    "mobile": "mobile",
    "office_phone": "telephoneNumber",
    "language": "preferredLanguage",
}


@dataclass(frozen=True, slots=True)
class SyncConfig:
    """``[sync]``: import users from an LDAP upstream's directory."""

    upstream: str = ""  # "" = none configured; "default" or an [upstreams.<name>] of type "ldap"
    base_dn: str = ""  # "" = the upstream's base_dn
    filter: str = "(objectClass=inetOrgPerson)"
    attributes: Mapping[str, str] = field(default_factory=lambda: dict(SYNC_ATTRIBUTES))
    every_minutes: int = 0  # 0 = only `radmfa sync`; else also in the service
    max_removals: int = 5  # more leavers than this in one run: none is blocked until confirmed
    page_size: int = 500  # RFC 2696 paged results (AD returns at most 1000 per page)


@dataclass(frozen=True, slots=True)
class FraudConfig:
    """``[fraud]``: what a user's fraud report does (seed 000)."""

    allow_reports: bool = True  # the fraud code / "report fraud" button records a report
    block_user: bool = True  # … and blocks the user
    block_days: int = 90  # for this long; 0 = until `radmfa user unblock`
    notify_email: tuple[str, ...] = ()  # addresses mailed each report (needs [smtp])
    notify_webhook: str = ""  # URL POSTed the report as JSON
    webhook_secret: bytes = b""  # signs the webhook body (HMAC-SHA256); empty = unsigned

    def __repr__(self) -> str:
        return (
            f"FraudConfig(allow_reports={self.allow_reports}, block_user={self.block_user}, "
            f"block_days={self.block_days}, notify_email={self.notify_email!r}, "
            f"notify_webhook={'<set>' if self.notify_webhook else ''!r}, webhook_secret=<redacted>)"
        )


# Methods that cost money or reach a person, and so are rate-limited.
SEND_METHODS = ("sms", "voice", "push", "email")


@dataclass(frozen=True, slots=True)
class MethodLimit:
    per_user: int  # sends to one user per user_window_s; 0 = no limit
    per_hour: int  # sends to everyone per clock hour (SMS pumping, toll fraud); 0 = no cap


@dataclass(frozen=True, slots=True)
class LimitsConfig:
    """``[limits]``: how many codes, calls and pushes radmfa sends."""

    user_window_s: int = 600
    sms: MethodLimit = MethodLimit(5, 500)
    voice: MethodLimit = MethodLimit(5, 200)
    push: MethodLimit = MethodLimit(5, 2000)
    email: MethodLimit = MethodLimit(5, 1000)

    def for_method(self, method: str) -> MethodLimit:
        if method not in SEND_METHODS:
            raise ValueError(f"not a send method: {method!r}")
        limit: MethodLimit = getattr(self, method)
        return limit


@dataclass(frozen=True, slots=True)
class StoreConfig:
    url: str = "sqlite:///radmfa.db"
    key_file: Path = Path("radmfa.key")


@dataclass(frozen=True, slots=True)
class LogConfig:
    level: str = "info"
    format: str = "auto"  # "auto" (console on a terminal, else JSON) | "json" | "console"


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
    http: HttpConfig = HttpConfig()  # issue 4
    phone: PhoneConfig = PhoneConfig()  # issue 4: [mfa] out-of-band keys + [providers.*]
    upstreams: Mapping[str, UpstreamConfig] = field(default_factory=dict)  # [upstreams.<name>]
    sync: SyncConfig = SyncConfig()
    smtp: SmtpConfig = SmtpConfig()
    audit: AuditConfig = AuditConfig()
    warnings: tuple[str, ...] = ()  # deprecated keys and the like, logged at start-up
    limits: LimitsConfig = LimitsConfig()
    ldap_front: LdapFrontConfig | None = None  # [ldap_front]: applications bind over LDAP
    portal: PortalConfig = PortalConfig()  # the user portal

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
    return _build(doc, p)


class _Section:
    """Typed reads from one TOML table; every error names file, table and key."""

    def __init__(self, doc: dict[str, Any], name: str, path: Path) -> None:
        value = doc.get(name, {})
        self.name, self.path = name, path
        if not isinstance(value, dict):
            self.fail("", "must be a table")
        self.data: dict[str, Any] = dict(value)

    def fail(self, key: str, msg: str) -> NoReturn:
        where = f"[{self.name}] {key}".rstrip()
        raise ConfigError(f"{self.path.name}: {where}: {msg}")

    def get(self, key: str, kind: type | tuple[type, ...], default: Any) -> Any:
        if key not in self.data:
            return default
        value = self.data.pop(key)
        if isinstance(value, bool) and kind in (int, float, (int, float)):
            self.fail(key, f"expected a number, got {value!r}")
        if not isinstance(value, kind):
            want = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
            self.fail(key, f"expected {want}, got {value!r}")
        return value

    def number(self, key: str, default: float, *, minimum: float, maximum: float) -> float:
        value = float(self.get(key, (int, float), default))
        if not minimum <= value <= maximum:
            self.fail(key, f"must be between {minimum:g} and {maximum:g}, got {value:g}")
        return value

    def integer(self, key: str, default: int, *, minimum: int, maximum: int) -> int:
        value = self.get(key, int, default)
        if not minimum <= value <= maximum:
            self.fail(key, f"must be between {minimum} and {maximum}, got {value}")
        return int(value)

    def choice(self, key: str, default: str, choices: tuple[str, ...]) -> str:
        value = self.get(key, str, default)
        if value not in choices:
            self.fail(key, f"must be one of {', '.join(repr(c) for c in choices)}, got {value!r}")
        return str(value)

    def path_value(self, key: str, default: Path) -> Path:
        value = Path(self.get(key, str, str(default)))
        return value if value.is_absolute() else self.path.parent / value

    def host_ports(self, key: str, default: tuple[HostPort, ...], port: int) -> tuple[HostPort, ...]:
        values = self.get(key, list, None)
        if values is None:
            return default
        out = []
        for i, v in enumerate(values):
            if not isinstance(v, str):
                self.fail(f"{key}[{i}]", f'expected "host:port", got {v!r}')
            try:
                out.append(parse_host_port(v, port))
            except ValueError as e:
                self.fail(f"{key}[{i}]", str(e))
        return tuple(out)

    def done(self) -> None:
        for key in self.data:
            self.fail(key, "unknown setting")


def parse_host_port(text: str, default_port: int) -> HostPort:
    """'10.0.0.1:1812', '[::1]:1812', 'host' → (host, port)."""
    host, port_text = text, ""
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise ValueError(f"not host:port: {text!r}")
        port_text = rest[1:]
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    port = default_port
    if port_text:
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise ValueError(f"not a port number in {text!r}")
        port = int(port_text)
    if not host:
        raise ValueError(f"not host:port: {text!r}")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if not all(part.isalnum() or "-" in part for part in host.split(".")):
            raise ValueError(f"not an IP address or host name: {text!r}") from None
    return host, port


def format_host_port(host: str, port: int) -> str:
    """(host, port) → the text parse_host_port reads back: an IPv6 address in
    brackets (RFC 3986 §3.2.2), so the port is not taken for part of it."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _secret(sec: _Section, key: str = "secret") -> bytes:
    secret = sec.get(key, str, None)
    secret_file = sec.get(f"{key}_file", str, None)
    if secret is not None and secret_file is not None:
        sec.fail(f"{key}_file", f"give either {key} or {key}_file, not both")
    if secret_file is not None:
        path = Path(secret_file)
        path = path if path.is_absolute() else sec.path.parent / path
        try:
            data = path.read_bytes().rstrip(b"\r\n")
        except OSError as e:
            sec.fail(f"{key}_file", f"cannot read {path}: {e.strerror}")
        return data
    return (secret or "").encode("utf-8")


def _build(doc: dict[str, Any], path: Path) -> Config:
    for name in doc:
        if name not in (
            "radius", "upstream", "upstreams", "mfa", "store", "log", "clients", "fraud", "limits", "sync",
            "smtp", "audit", "http", "providers", "ldap_front", "portal",
        ):
            raise ConfigError(f"{path.name}: [{name}]: unknown section")
    r = _Section(doc, "radius", path)
    d = RadiusConfig()
    radius = RadiusConfig(
        listen=r.host_ports("listen", d.listen, 1812),
        clients_file=r.path_value("clients_file", d.clients_file),
        dictionary_file=r.path_value("dictionary", d.dictionary_file),
        duplicate_window_s=r.number("duplicate_window_s", d.duplicate_window_s, minimum=1, maximum=30),
        reject_delay_s=r.number("reject_delay_s", d.reject_delay_s, minimum=0, maximum=10),
        workers=r.integer("workers", d.workers, minimum=1, maximum=64),
        max_pending=r.integer("max_pending", d.max_pending, minimum=16, maximum=10_000_000),
        request_timeout_s=r.number("request_timeout_s", d.request_timeout_s, minimum=1, maximum=600),
        on_backend_failure=r.choice("on_backend_failure", d.on_backend_failure, ("reject", "drop")),
        max_active=r.integer("max_active", d.max_active, minimum=1, maximum=100_000),
        client_max_requests=r.integer("client_max_requests", d.client_max_requests, minimum=1, maximum=1_000_000),
    )
    if not radius.listen:
        r.fail("listen", "needs at least one address")
    r.done()

    upstream = _upstream(_Section(doc, "upstream", path), "default")
    upstreams = _named_upstreams(doc, path)

    m = _Section(doc, "mfa", path)
    dm = MfaConfig()
    mfa = MfaConfig(
        unknown_users=m.choice("unknown_users", dm.unknown_users, ("reject", "password-only")),
        challenge_ttl_s=m.integer("challenge_ttl_s", dm.challenge_ttl_s, minimum=10, maximum=3600),
        max_attempts=m.integer("max_attempts", dm.max_attempts, minimum=1, maximum=20),
        inline=m.get("inline", bool, dm.inline),
        inline_delimiter=m.get("inline_delimiter", str, dm.inline_delimiter),
        prompt=m.get("prompt", str, dm.prompt),
        retry_prompt=m.get("retry_prompt", str, dm.retry_prompt),
        no_factor_message=m.get("no_factor_message", str, dm.no_factor_message),
        issuer=m.get("issuer", str, dm.issuer),
        totp_window=m.integer("totp_window", dm.totp_window, minimum=0, maximum=10),
        hotp_window=m.integer("hotp_window", dm.hotp_window, minimum=1, maximum=MAX_HOTP_WINDOW),
        max_code_failures=m.integer("max_code_failures", dm.max_code_failures, minimum=1, maximum=1000),
        code_lockout_s=m.integer("code_lockout_s", dm.code_lockout_s, minimum=1, maximum=86400),
        **_exemption_settings(m, dm),
    )
    if len(mfa.inline_delimiter) != 1:
        m.fail("inline_delimiter", "must be exactly one character")
    for key in ("prompt", "retry_prompt", "no_factor_message"):
        if not 0 < len(getattr(mfa, key).encode()) <= 253:
            m.fail(key, "must be 1..253 octets (one Reply-Message)")
    phone_keys = parse_mfa_keys(m)  # issue 4
    m.done()

    s = _Section(doc, "store", path)
    ds = StoreConfig()
    store = StoreConfig(
        url=s.get("url", str, ds.url),
        key_file=s.path_value("key_file", ds.key_file),
    )
    old_retention = None  # deprecated: [audit] keep_days
    if "audit_retention_days" in s.data:
        old_retention = s.integer("audit_retention_days", 0, minimum=1, maximum=36500)
    if not store.url.startswith(("sqlite:///", "postgresql://", "postgres://")):
        s.fail("url", "must start with sqlite:/// or postgresql://")
    s.done()

    lg = _Section(doc, "log", path)
    log = LogConfig(
        level=lg.choice("level", "info", ("debug", "info", "warning", "error")),
        format=lg.choice("format", "auto", ("auto", "json", "console")),
    )
    lg.done()
    clients = _client_policies(doc, path, upstreams)

    smtp = parse_smtp(_Section(doc, "smtp", path))
    fraud = _fraud(_Section(doc, "fraud", path), smtp)
    audit, warnings = parse_audit(_Section(doc, "audit", path), old_retention)
    # -- issue 4: phone factors --
    http = parse_http(_Section(doc, "http", path))
    phone = finish_phone(phone_keys, parse_providers(doc, path, _Section), http, path)
    _check_oob_clients(clients, phone, path)
    kinds = {"default": upstream, **upstreams}
    ldap_front = parse_ldap_front(
        doc, path, _Section, host_port=parse_host_port, networks=_networks,
        ldap_upstreams={name: u.type == "ldap" for name, u in kinds.items()},
    )
    portal = parse_portal(_Section(doc, "portal", path), frozenset(upstreams))
    if portal.public_url and "no_factor_message" not in doc.get("mfa", {}):
        # Users who must enroll are told where: the portal's address.
        mfa = replace(mfa, no_factor_message=enroll_message(portal))
    return Config(
        path=path,
        radius=radius,
        upstream=upstream,
        mfa=mfa,
        store=store,
        log=log,
        clients=clients,
        fraud=fraud,
        limits=_limits(doc, path),
        http=http,
        phone=phone,
        upstreams=upstreams,
        sync=_sync(_Section(doc, "sync", path), upstream, upstreams),
        smtp=smtp,
        audit=audit,
        warnings=warnings + tuple(phone_warnings(phone)),
        ldap_front=ldap_front,
        portal=portal,
    )


def _fraud(f: _Section, smtp: SmtpConfig) -> FraudConfig:
    df = FraudConfig()
    emails = f.get("notify_email", list, [])
    webhook = f.get("notify_webhook", str, "")
    fraud = FraudConfig(
        allow_reports=f.get("allow_reports", bool, df.allow_reports),
        block_user=f.get("block_user", bool, df.block_user),
        block_days=f.integer("block_days", df.block_days, minimum=0, maximum=36500),
        notify_email=tuple(mailbox(f, f"notify_email[{i}]", e) for i, e in enumerate(emails)),
        notify_webhook=webhook,
        webhook_secret=file_secret(f, "webhook_secret_file"),
    )
    if fraud.notify_email and not smtp.host:
        f.fail("notify_email", "needs [smtp] host (and from) to send the mail")
    if webhook and not webhook.startswith(("https://", "http://")):
        f.fail("notify_webhook", f"must be an http:// or https:// URL, got {webhook!r}")
    if fraud.webhook_secret and not webhook:
        f.fail("webhook_secret_file", "given without notify_webhook")
    f.done()
    return fraud


def _limits(doc: dict[str, Any], path: Path) -> LimitsConfig:
    sec = _Section(doc, "limits", path)
    d = LimitsConfig()
    methods = {}
    for method in SEND_METHODS:
        default = d.for_method(method)
        methods[method] = MethodLimit(
            per_user=sec.integer(f"{method}_per_user", default.per_user, minimum=0, maximum=1000),
            per_hour=sec.integer(f"{method}_per_hour", default.per_hour, minimum=0, maximum=10_000_000),
        )
    limits = LimitsConfig(
        user_window_s=sec.integer("user_window_s", d.user_window_s, minimum=60, maximum=86400),
        **methods,
    )
    sec.done()
    return limits

def _sync(s: _Section, default: UpstreamConfig, named: Mapping[str, UpstreamConfig]) -> SyncConfig:
    d = SyncConfig()
    table = s.get("attributes", dict, {})
    for key, value in table.items():
        if key not in SYNC_ATTRIBUTES:
            s.fail(f"attributes.{key}", f"unknown user field; known: {', '.join(SYNC_ATTRIBUTES)}")
        if not isinstance(value, str):
            s.fail(f"attributes.{key}", f"expected an LDAP attribute name, got {value!r}")
    sync = SyncConfig(
        upstream=s.get("upstream", str, "default" if default.ldap is not None and default.ldap.bind_dn else ""),
        base_dn=s.get("base_dn", str, ""),
        filter=s.get("filter", str, d.filter),
        attributes={**SYNC_ATTRIBUTES, **table},
        every_minutes=s.integer("every_minutes", 0, minimum=0, maximum=10080),
        max_removals=s.integer("max_removals", d.max_removals, minimum=0, maximum=1_000_000),
        page_size=s.integer("page_size", d.page_size, minimum=1, maximum=10000),
    )
    if not sync.filter.startswith("("):
        s.fail("filter", f"not an LDAP filter: {sync.filter!r}")
    if sync.upstream:
        chosen = default if sync.upstream == "default" else named.get(sync.upstream)
        if chosen is None:
            s.fail("upstream", f"no [upstreams.{sync.upstream}] table")
        elif chosen.ldap is None or not chosen.ldap.bind_dn:
            s.fail("upstream", f"{sync.upstream!r} must be an LDAP upstream with a service account (bind_dn)")
    elif sync.every_minutes:
        s.fail("every_minutes", "needs an LDAP upstream to sync from (set [sync] upstream)")
    s.done()
    return sync



def _client_policies(
    doc: dict[str, Any], path: Path, upstreams: Mapping[str, UpstreamConfig]
) -> dict[str, ClientPolicy]:
    tables = doc.get("clients", {})
    if not isinstance(tables, dict):
        raise ConfigError(f"{path.name}: [clients]: must be a table of [clients.<name>] tables")
    policies: dict[str, ClientPolicy] = {}
    for name, table in tables.items():
        if not isinstance(table, dict):
            raise ConfigError(f"{path.name}: [clients.{name}]: must be a table")
        c = _Section(tables, name, path)
        c.name = f"clients.{name}"
        default = ClientPolicy()
        policies[name] = ClientPolicy(
            name=name,
            user_ip_attribute=c.choice("user_ip_attribute", default.user_ip_attribute, USER_IP_ATTRIBUTES),
            mode=c.choice("mode", default.mode, CLIENT_MODES),
            primary=c.choice("primary", default.primary, CLIENT_PRIMARY),
            app_name=c.get("app_name", str, default.app_name),
            app_passwords=c.choice("app_passwords", default.app_passwords, APP_PASSWORD_CHOICES),
            remember_days=c.integer("remember_days", default.remember_days, minimum=0, maximum=365),
            upstream=c.get("upstream", str, default.upstream),
        )
        if len(policies[name].app_name) > 64 or not policies[name].app_name.isprintable():
            c.fail("app_name", "must be at most 64 printable characters (it goes into texts and prompts)")
        if policies[name].upstream != "default" and policies[name].upstream not in upstreams:
            c.fail("upstream", f"no [upstreams.{policies[name].upstream}] table")
        c.done()
    return policies


def _check_oob_clients(clients: Mapping[str, ClientPolicy], phone: PhoneConfig, path: Path) -> None:
    """An `oob` NAS cannot show a challenge: with no call or push to hold the
    request for, every login through it would fail."""
    if phone.provider("voice") is not None or phone.provider("push") is not None:
        return
    for name, rule in clients.items():
        if rule.mode == "oob":
            raise ConfigError(
                f'{path.name}: [clients.{name}] mode: "oob" holds the request while a call or push is '
                "answered, but neither is configured: set [mfa] voice_provider or push_provider"
            )


def _exemption_settings(m: _Section, dm: MfaConfig) -> dict[str, Any]:
    """The [mfa] keys of the admin's controls (bypass needs none: it is per user)."""
    return {
        "new_user": m.choice("new_user", dm.new_user, NEW_USER_CHOICES),
        "trusted_networks": _networks(m, "trusted_networks"),
        "app_passwords": m.get("app_passwords", bool, dm.app_passwords),
        "lockout_failures": m.integer("lockout_failures", dm.lockout_failures, minimum=0, maximum=1000),
        "lockout_minutes": m.integer("lockout_minutes", dm.lockout_minutes, minimum=0, maximum=525600),
        "cache": _cache_rules(m),
    }


def _networks(m: _Section, key: str) -> tuple[IpNetwork, ...]:
    out: list[IpNetwork] = []
    for i, text in enumerate(m.get(key, list, [])):
        if not isinstance(text, str):
            m.fail(f"{key}[{i}]", f'expected "address/prefix", got {text!r}')
        try:
            out.append(ipaddress.ip_network(text, strict=True))
        except ValueError as e:
            # strict: 10.1.2.3/24 is more likely a typo than a wish for 10.1.2.0/24.
            m.fail(f"{key}[{i}]", f"not a network: {e}")
    return tuple(out)


def _cache_rules(m: _Section) -> tuple[CacheRule, ...]:
    tables = m.get("cache", list, [])
    rules: list[CacheRule] = []
    for i, table in enumerate(tables):
        if not isinstance(table, dict):
            m.fail(f"cache[{i}]", "must be a table ([[mfa.cache]])")
        c = _Section({"t": table}, "t", m.path)
        c.name = f"mfa] cache[{i}"
        if "type" not in c.data or "seconds" not in c.data:
            c.fail("", "needs type and seconds")
        kind = c.choice("type", "user", CACHE_TYPES)
        seconds = c.integer("seconds", 0, minimum=1, maximum=31 * 86400)
        clients = c.get("clients", list, [])
        if not all(isinstance(n, str) and n for n in clients):
            c.fail("clients", f"expected a list of client names, got {clients!r}")
        c.done()
        rules.append(CacheRule(kind, seconds, tuple(clients)))
    return tuple(rules)


def _upstream(u: _Section, name: str) -> UpstreamConfig:
    du = UpstreamConfig()
    kind = u.choice("type", du.type, ("radius", "ldap", "local"))
    upstream = UpstreamConfig(
        type=kind,
        servers=() if kind == "ldap" else u.host_ports("servers", (), 1812),
        secret=b"" if kind == "ldap" else _secret(u),
        timeout_s=u.number("timeout_s", du.timeout_s, minimum=0.05, maximum=60),
        retries=u.integer("retries", du.retries, minimum=1, maximum=10),
        require_message_authenticator=u.get("require_message_authenticator", bool, False),
        dead_time_s=u.number("dead_time_s", du.dead_time_s, minimum=0, maximum=3600),
        ldap=_ldap(u) if kind == "ldap" else None,
        name=name,
    )
    if upstream.type == "radius":
        if not upstream.servers:
            u.fail("servers", 'type = "radius" needs at least one server')
        if not upstream.secret:
            u.fail("secret", 'type = "radius" needs a shared secret (secret or secret_file)')
    u.done()
    return upstream


def _named_upstreams(doc: dict[str, Any], path: Path) -> dict[str, UpstreamConfig]:
    """``[upstreams.<name>]``: more upstreams, chosen per client by ``[clients.<name>] upstream``."""
    tables = doc.get("upstreams", {})
    if not isinstance(tables, dict):
        raise ConfigError(f"{path.name}: [upstreams]: must be a table of [upstreams.<name>] tables")
    named: dict[str, UpstreamConfig] = {}
    for name, table in tables.items():
        label = f"upstreams.{name}"
        if name == "default":
            raise ConfigError(f"{path.name}: [{label}]: the name 'default' is [upstream] itself")
        named[name] = _upstream(_Section({label: table}, label, path), name)
    return named


def _ldap(u: _Section) -> LdapConfig:
    servers = _ldap_servers(u)
    bind_dn = u.get("bind_dn", str, "")
    filter_given = "user_filter" in u.data
    ldap = LdapConfig(
        servers=servers,
        start_tls=u.get("start_tls", bool, False),
        ca_file=u.path_value("ca_file", Path()) if "ca_file" in u.data else None,
        verify=u.get("verify", bool, True),
        bind_dn=bind_dn,
        bind_password=_secret(u, "bind_password").decode("utf-8"),
        bind_dn_template=u.get("bind_dn_template", str, ""),
        base_dn=u.get("base_dn", str, ""),
        user_filter=u.get("user_filter", str, "(uid={user})"),
        require_group=u.get("require_group", str, ""),
        group_check=u.choice("group_check", "nested", ("nested", "memberof", "member")),
        pool_size=u.integer("pool_size", 4, minimum=1, maximum=64),
        strip_realm=u.get("strip_realm", bool, True),
        user_attribute=u.get("user_attribute", str, ""),
        allow_plaintext=u.get("allow_plaintext", bool, False),
    )
    if bool(ldap.bind_dn) == bool(ldap.bind_dn_template):
        u.fail("bind_dn", "give either bind_dn (search-then-bind) or bind_dn_template, not both or neither")
    if ldap.bind_dn and not ldap.bind_password:
        u.fail("bind_password", "bind_dn needs bind_password or bind_password_file")
    if ldap.bind_dn and not ldap.base_dn:
        u.fail("base_dn", "search-then-bind (bind_dn) needs base_dn")
    for key, text in (("user_filter", ldap.user_filter), ("bind_dn_template", ldap.bind_dn_template)):
        if text and "{user}" not in text:
            u.fail(key, "must contain {user}")
    if not ldap.user_filter.startswith("("):
        u.fail("user_filter", f"not an LDAP filter: {ldap.user_filter!r}")
    if ldap.ca_file is not None and not ldap.ca_file.is_file():
        u.fail("ca_file", f"no such file: {ldap.ca_file}")
    if ldap.start_tls and any(s.scheme == "ldaps" for s in servers):
        u.fail("start_tls", "StartTLS is for ldap:// servers; ldaps:// is TLS already")
    if ldap.bind_dn_template and not template_is_dn(ldap.bind_dn_template):
        # "{user}@corp.example": no DN to read the entry at, so it is searched
        # for (on the user's own connection) with user_filter under base_dn.
        if not ldap.base_dn:
            u.fail("base_dn", f"bind_dn_template {ldap.bind_dn_template!r} is not a DN: give base_dn and "
                   "user_filter to find the user's entry, e.g. \"(userPrincipalName={user}@corp.example)\"")
        if not filter_given:
            u.fail("user_filter", "bind_dn_template is not a DN: give the filter that finds the user's entry, "
                   'e.g. "(userPrincipalName={user}@corp.example)"')
    for i, server in enumerate(servers):
        if plaintext(ldap, server) and not _loopback(server.host) and not ldap.allow_plaintext:
            u.fail(f"servers[{i}]", f"{server.url} sends passwords in clear: use ldaps://, start_tls = true, "
                   "or (a lab only) allow_plaintext = true")
    attribute = ldap.user_attribute or naming_attribute(ldap)
    if not _ATTRIBUTE.fullmatch(attribute):
        u.fail("user_attribute", "give the attribute that holds the user name (e.g. \"sAMAccountName\", \"uid\"): "
               "it could not be read from user_filter / bind_dn_template")
    return replace(ldap, user_attribute=attribute)


# Each counter looked ahead is one more code a guess can hit: a window of w
# makes a random 6-digit guess succeed with p ≈ w / 10^6 (RFC 4226 §7.4 and
# Appendix A.4); the per-token lockout bounds the guesses, this the window.
MAX_HOTP_WINDOW = 20

_ATTRIBUTE = re.compile(r"[A-Za-z][A-Za-z0-9-]*")


def plaintext(ldap: LdapConfig, server: LdapServer) -> bool:
    """Would binds to ``server`` carry passwords in clear?"""
    return server.scheme == "ldap" and not ldap.start_tls


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def template_is_dn(template: str) -> bool:
    """``uid={user},ou=people,…`` is a DN; ``{user}@corp.example`` and
    ``CORP\\{user}`` are names AD also binds with, but not DNs."""
    return re.match(r"\s*[A-Za-z][A-Za-z0-9-]*\s*=\s*\{user\}\s*,", template) is not None


def naming_attribute(ldap: LdapConfig) -> str:
    """The attribute ``{user}`` is compared with: ``uid`` in
    ``uid={user},ou=people,…``, ``sAMAccountName`` in
    ``(&(objectClass=user)(sAMAccountName={user}))``; "" when not plain."""
    if ldap.bind_dn_template and template_is_dn(ldap.bind_dn_template):
        return ldap.bind_dn_template.partition("=")[0].strip()
    found = re.findall(r"\(\s*([A-Za-z][A-Za-z0-9-]*)\s*=\s*\{user\}", ldap.user_filter)
    return found[0] if len(set(found)) == 1 else ""


def _ldap_servers(u: _Section) -> tuple[LdapServer, ...]:
    values = u.get("servers", list, [])
    if not values:
        u.fail("servers", 'type = "ldap" needs at least one server, e.g. "ldaps://dc1.corp.example"')
    out = []
    for i, v in enumerate(values):
        scheme, sep, rest = v.partition("://") if isinstance(v, str) else ("", "", "")
        if not sep or scheme not in ("ldap", "ldaps") or "/" in rest:
            u.fail(f"servers[{i}]", f'expected "ldap://host[:port]" or "ldaps://host[:port]", got {v!r}')
        try:
            host, port = parse_host_port(rest, 636 if scheme == "ldaps" else 389)
        except ValueError as e:
            u.fail(f"servers[{i}]", str(e))
        out.append(LdapServer(scheme, host, port))
    return tuple(out)
