"""radmfa.toml → frozen dataclasses. The only place configuration is validated.

Every error names the file and the key, e.g.
``radmfa.toml: [upstream] servers[1]: not host:port: 'nps1'``.
Relative paths are relative to the directory of the config file.
"""

from __future__ import annotations

import ipaddress
import os
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from radmfa.config_phone import (
    CLIENT_MODES,
    CLIENT_PRIMARY,
    HttpConfig,
    PhoneConfig,
    finish_phone,
    parse_http,
    parse_mfa_keys,
    parse_providers,
)
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


@dataclass(frozen=True, slots=True)
class UpstreamConfig:
    """Primary (password) authentication."""

    type: str = "local"  # "radius" | "local"
    servers: tuple[HostPort, ...] = ()
    secret: bytes = b""
    timeout_s: float = 2.0  # wait per attempt
    retries: int = 3  # attempts per request, cycling through servers in order
    require_message_authenticator: bool = False  # FreeRADIUS < 3.2.5 / old NPS send none
    dead_time_s: float = 30.0  # a server that timed out is tried last for this long

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
    max_code_failures: int = 10  # wrong codes in a row before a token is locked …
    code_lockout_s: int = 300  # … for this long (renewed by each further wrong code)


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


@dataclass(frozen=True, slots=True)
class FraudConfig:
    """``[fraud]``: what a user's fraud report does (seed 000)."""

    allow_reports: bool = True  # the fraud code / "report fraud" button records a report
    block_user: bool = True  # … and blocks the user
    block_days: int = 90  # for this long; 0 = until `radmfa user unblock`


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
    audit_retention_days: int = 365  # audit rows older than this are deleted


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
    limits: LimitsConfig = LimitsConfig()

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
        return found


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

    def fail(self, key: str, msg: str) -> None:
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


def _secret(sec: _Section) -> bytes:
    secret = sec.get("secret", str, None)
    secret_file = sec.get("secret_file", str, None)
    if secret is not None and secret_file is not None:
        sec.fail("secret_file", "give either secret or secret_file, not both")
    if secret_file is not None:
        path = Path(secret_file)
        path = path if path.is_absolute() else sec.path.parent / path
        try:
            data = path.read_bytes().rstrip(b"\r\n")
        except OSError as e:
            sec.fail("secret_file", f"cannot read {path}: {e.strerror}")
        return data
    return (secret or "").encode("utf-8")


def _build(doc: dict[str, Any], path: Path) -> Config:
    for name in doc:
        known = ("radius", "upstream", "mfa", "store", "log", "clients", "fraud", "limits", "http", "providers")
        if name not in known:
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
    )
    if not radius.listen:
        r.fail("listen", "needs at least one address")
    r.done()

    u = _Section(doc, "upstream", path)
    du = UpstreamConfig()
    upstream = UpstreamConfig(
        type=u.choice("type", du.type, ("radius", "local")),
        servers=u.host_ports("servers", (), 1812),
        secret=_secret(u),
        timeout_s=u.number("timeout_s", du.timeout_s, minimum=0.05, maximum=60),
        retries=u.integer("retries", du.retries, minimum=1, maximum=10),
        require_message_authenticator=u.get("require_message_authenticator", bool, False),
        dead_time_s=u.number("dead_time_s", du.dead_time_s, minimum=0, maximum=3600),
    )
    if upstream.type == "radius":
        if not upstream.servers:
            u.fail("servers", 'type = "radius" needs at least one server')
        if not upstream.secret:
            u.fail("secret", 'type = "radius" needs a shared secret (secret or secret_file)')
    u.done()

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
        max_code_failures=m.integer("max_code_failures", dm.max_code_failures, minimum=1, maximum=1000),
        code_lockout_s=m.integer("code_lockout_s", dm.code_lockout_s, minimum=1, maximum=86400),
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
        audit_retention_days=s.integer("audit_retention_days", ds.audit_retention_days, minimum=1, maximum=36500),
    )
    if not store.url.startswith(("sqlite:///", "postgresql://", "postgres://")):
        s.fail("url", "must start with sqlite:/// or postgresql://")
    s.done()

    lg = _Section(doc, "log", path)
    log = LogConfig(
        level=lg.choice("level", "info", ("debug", "info", "warning", "error")),
        format=lg.choice("format", "auto", ("auto", "json", "console")),
    )
    lg.done()
    clients = _client_policies(doc, path)

    f = _Section(doc, "fraud", path)
    df = FraudConfig()
    fraud = FraudConfig(
        allow_reports=f.get("allow_reports", bool, df.allow_reports),
        block_user=f.get("block_user", bool, df.block_user),
        block_days=f.integer("block_days", df.block_days, minimum=0, maximum=36500),
    )
    f.done()
    # -- issue 4: phone factors --
    http = parse_http(_Section(doc, "http", path))
    phone = finish_phone(phone_keys, parse_providers(doc, path, _Section), http, path)
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
    )


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


def _client_policies(doc: dict[str, Any], path: Path) -> dict[str, ClientPolicy]:
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
        )
        if len(policies[name].app_name) > 64 or not policies[name].app_name.isprintable():
            c.fail("app_name", "must be at most 64 printable characters (it goes into texts and prompts)")
        c.done()
    return policies
