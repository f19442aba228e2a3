"""Configuration of phone, push and email factors: ``[http]``,
``[providers.<name>]`` and the out-of-band keys of ``[mfa]``.

Part of config.py (the only place configuration is validated), kept in its
own module so the phone factors' settings stay in one block; config.py
calls ``parse`` with its own typed-section reader.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from radmfa.errors import ConfigError

HostPort = tuple[str, int]

PROVIDER_TYPES = ("twilio", "webhook", "console", "ntfy", "smtp")
# Which factor each provider type can deliver.
PROVIDER_METHODS: Mapping[str, tuple[str, ...]] = {
    "twilio": ("sms", "voice"),
    "webhook": ("sms", "push"),
    "console": ("sms", "email"),
    "ntfy": ("push",),
    "smtp": ("email",),
}
CLIENT_MODES = ("challenge", "oob", "auto")
CLIENT_PRIMARY = ("upstream", "none")


@dataclass(frozen=True, slots=True)
class HttpConfig:
    """``[http]``: provider callbacks and /healthz, in the same event loop."""

    listen: tuple[HostPort, ...] = ()  # none = no HTTP server (phone callbacks off)
    public_url: str = ""  # how providers reach us, e.g. https://mfa.example.com (callbacks are signed against it)


@dataclass(frozen=True, slots=True)
class ProviderConfig:
    """``[providers.<name>]``: one delivery service. Keys not used by its type
    keep their defaults."""

    name: str
    type: str  # one of PROVIDER_TYPES
    base_url: str = ""  # twilio: https://api.twilio.com; ntfy: https://ntfy.sh
    account_sid: str = ""  # twilio
    auth_token: str = ""  # twilio auth token / ntfy bearer token; never logged
    sender: str = ""  # SMS sender / caller ID (E.164) / email From address
    url: str = ""  # webhook
    method: str = "POST"  # webhook
    headers: Mapping[str, str] = field(default_factory=dict)  # webhook
    body: str = ""  # webhook body template: {to} {text} {title} {approve_url} {deny_url} {fraud_url}
    # push topic per user; {secret} = an unguessable per-user part (a reader of the topic can tap Approve)
    topic: str = "radmfa-{user}-{secret}"
    host: str = "localhost"  # smtp
    port: int = 25  # smtp
    starttls: bool = False  # smtp
    username: str = ""  # smtp
    password: str = ""  # smtp; never logged
    show_codes: bool = False  # console: print codes on stdout (labs only)
    timeout_s: float = 10.0

    def __repr__(self) -> str:
        return f"ProviderConfig(name={self.name!r}, type={self.type!r}, secrets=<redacted>)"


@dataclass(frozen=True, slots=True)
class PhoneConfig:
    """The out-of-band keys of ``[mfa]`` and the providers they name."""

    otp_ttl_s: int = 300  # a texted or e-mailed code is valid this long
    code_length: int = 6  # digits of a texted or e-mailed code
    oob_timeout_s: float = 50.0  # a held request (call, push) is rejected after this (< NAS timeout 60 s)
    fraud_code: str = "0#"  # keyed on the call to report fraud
    two_way_sms: bool = False  # the user replies to the text with the code instead of typing it
    sms_provider: str = ""  # names a [providers.<name>]; "" = the method is off
    voice_provider: str = ""
    push_provider: str = ""
    email_provider: str = ""
    providers: Mapping[str, ProviderConfig] = field(default_factory=dict)

    def provider(self, method: str) -> ProviderConfig | None:
        name = getattr(self, f"{method}_provider", "")
        return self.providers.get(name) if name else None


class Section(Protocol):
    """What config._Section offers (typed reads that name file and key)."""

    data: dict[str, Any]

    def fail(self, key: str, msg: str) -> None: ...
    def get(self, key: str, kind: type | tuple[type, ...], default: Any) -> Any: ...
    def number(self, key: str, default: float, *, minimum: float, maximum: float) -> float: ...
    def integer(self, key: str, default: int, *, minimum: int, maximum: int) -> int: ...
    def choice(self, key: str, default: str, choices: tuple[str, ...]) -> str: ...
    def host_ports(self, key: str, default: tuple[HostPort, ...], port: int) -> tuple[HostPort, ...]: ...
    def done(self) -> None: ...


SectionFactory = Any  # config._Section(doc, name, path)


def parse_http(sec: Section) -> HttpConfig:
    http = HttpConfig(
        listen=sec.host_ports("listen", (), 8080),
        public_url=str(sec.get("public_url", str, "")).rstrip("/"),
    )
    parts = urlsplit(http.public_url)
    if http.public_url and (parts.scheme not in ("http", "https") or not parts.hostname):
        sec.fail("public_url", f"must be https://host[:port][/prefix] (http:// in a lab), got {http.public_url!r}")
    if parts.query or parts.fragment or "?" in http.public_url or "#" in http.public_url:
        # Callback paths are appended to it: a query or fragment would swallow them.
        sec.fail("public_url", f"must have no ?query or #fragment, got {http.public_url!r}")
    if http.listen and not http.public_url:
        sec.fail("public_url", "is needed with listen: providers call back to this address")
    sec.done()
    return http


def parse_mfa_keys(sec: Section) -> dict[str, Any]:
    """The out-of-band keys of [mfa] (read before config's own m.done())."""
    d = PhoneConfig()
    keys: dict[str, Any] = {
        "otp_ttl_s": sec.integer("otp_ttl_s", d.otp_ttl_s, minimum=30, maximum=3600),
        "code_length": sec.integer("code_length", d.code_length, minimum=4, maximum=10),
        "oob_timeout_s": sec.number("oob_timeout_s", d.oob_timeout_s, minimum=1, maximum=300),
        "fraud_code": sec.get("fraud_code", str, d.fraud_code),
        "two_way_sms": sec.get("two_way_sms", bool, d.two_way_sms),
    }
    if not keys["fraud_code"].rstrip("#").isdigit() or not keys["fraud_code"].endswith("#"):
        sec.fail("fraud_code", f'digits then "#", e.g. "0#", got {keys["fraud_code"]!r}')
    for method in ("sms", "voice", "push", "email"):
        keys[f"{method}_provider"] = sec.get(f"{method}_provider", str, "")
    return keys


def parse_providers(doc: dict[str, Any], path: Path, section: SectionFactory) -> dict[str, ProviderConfig]:
    tables = doc.get("providers", {})
    if not isinstance(tables, dict):
        raise ConfigError(f"{path.name}: [providers]: must be a table of [providers.<name>] tables")
    found: dict[str, ProviderConfig] = {}
    for name, table in tables.items():
        if not isinstance(table, dict):
            raise ConfigError(f"{path.name}: [providers.{name}]: must be a table")
        sec = section(tables, name, path)
        sec.name = f"providers.{name}"
        found[name] = _provider(sec, name)
        sec.done()
    return found


def _provider(sec: Section, name: str) -> ProviderConfig:
    kind = sec.get("type", str, "")
    if kind not in PROVIDER_TYPES:
        sec.fail("type", f"must be one of {', '.join(repr(t) for t in PROVIDER_TYPES)}, got {kind!r}")
    d = ProviderConfig(name, kind)
    headers = sec.get("headers", dict, {})
    if not all(isinstance(v, str) for v in headers.values()):
        sec.fail("headers", "values must be strings")
    p = ProviderConfig(
        name=name,
        type=kind,
        base_url=str(sec.get("base_url", str, _DEFAULT_BASE.get(kind, ""))).rstrip("/"),
        account_sid=sec.get("account_sid", str, ""),
        auth_token=_secret_value(sec, "auth_token"),
        sender=sec.get("sender", str, ""),
        url=sec.get("url", str, ""),
        method=sec.choice("method", d.method, ("POST", "PUT", "GET")),
        headers=dict(headers),
        body=sec.get("body", str, ""),
        topic=sec.get("topic", str, d.topic),
        host=sec.get("host", str, d.host),
        port=sec.integer("port", d.port, minimum=1, maximum=65535),
        starttls=sec.get("starttls", bool, d.starttls),
        username=sec.get("username", str, ""),
        password=_secret_value(sec, "password"),
        show_codes=sec.get("console_show_codes", bool, False),
        timeout_s=sec.number("timeout_s", d.timeout_s, minimum=0.5, maximum=60),
    )
    required = {"twilio": ("base_url", "account_sid", "auth_token", "sender"), "webhook": ("url",)}
    required["ntfy"] = ("base_url",)
    required["smtp"] = ("sender",)
    for key in required.get(kind, ()):
        if not getattr(p, key):
            sec.fail(key, f'type = "{kind}" needs it')
    for key in ("base_url", "url"):
        value = getattr(p, key)
        if value and urlsplit(value).scheme not in ("http", "https"):
            sec.fail(key, f"must be an http(s) URL, got {value!r}")
    return p


_DEFAULT_BASE = {"twilio": "https://api.twilio.com", "ntfy": "https://ntfy.sh"}


def _secret_value(sec: Section, key: str) -> str:
    """``key`` or ``key_file`` (one line, read now), never both."""
    value = sec.get(key, str, None)
    file = sec.get(f"{key}_file", str, None)
    if value is not None and file is not None:
        sec.fail(f"{key}_file", f"give either {key} or {key}_file, not both")
    if file is None:
        return str(value or "")
    where = Path(file)
    if not where.is_absolute():
        where = Path(getattr(sec, "path", Path("."))).parent / where
    try:
        return where.read_text().rstrip("\r\n")
    except OSError as e:
        sec.fail(f"{key}_file", f"cannot read {where}: {e.strerror}")
    return ""


def phone_warnings(phone: PhoneConfig) -> list[str]:
    """Settings that work but are risky, logged at start-up."""
    push = phone.provider("push")
    if push is not None and push.type == "ntfy" and "{secret}" not in push.topic:
        return [
            f"[providers.{push.name}] topic {push.topic!r} has no {{secret}}: anyone who can read a user's "
            "topic on the ntfy server can tap Approve; deny anonymous access to topics on the server"
        ]
    return []


def finish_phone(
    keys: dict[str, Any], providers: dict[str, ProviderConfig], http: HttpConfig, path: Path
) -> PhoneConfig:
    """Cross-checks: each *_provider names a provider that can deliver it,
    and callbacks have somewhere to arrive."""
    phone = PhoneConfig(**keys, providers=providers)
    for method in ("sms", "voice", "push", "email"):
        name = keys[f"{method}_provider"]
        if not name:
            continue
        p = providers.get(name)
        if p is None:
            raise ConfigError(f"{path.name}: [mfa] {method}_provider: no [providers.{name}]")
        if method not in PROVIDER_METHODS[p.type]:
            raise ConfigError(f"{path.name}: [mfa] {method}_provider: a {p.type} provider cannot deliver {method}")
        if method == "sms" and phone.two_way_sms and p.type != "twilio":
            # Replies arrive only as Twilio's signed inbound webhook: any other
            # provider's held text could never be answered.
            raise ConfigError(f"{path.name}: [mfa] two_way_sms: needs a twilio sms_provider, not {p.type}")
        callbacks = method in ("voice", "push") or (method == "sms" and phone.two_way_sms)
        if callbacks and not http.listen:
            raise ConfigError(f"{path.name}: [mfa] {method}_provider: needs [http] listen and public_url for callbacks")
    return phone
