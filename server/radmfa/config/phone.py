"""The phone, push and e-mail factors: ``[http]``, ``[providers.<name>]`` and
the out-of-band keys of ``[mfa]``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args
from urllib.parse import urlsplit

from radmfa.config.reader import HostPort, Section, one_of
from radmfa.core.model import SendMethod
from radmfa.errors import ConfigError

# Methods that cost money or reach a person: each is delivered by a provider,
# and rate-limited ([limits]).
SEND_METHODS: tuple[SendMethod, ...] = get_args(SendMethod)
ProviderType = Literal["twilio", "webhook", "console", "ntfy", "smtp"]
PROVIDER_TYPES: tuple[ProviderType, ...] = get_args(ProviderType)
# Which factor each provider type can deliver.
PROVIDER_METHODS: Mapping[ProviderType, tuple[SendMethod, ...]] = {
    "twilio": ("sms", "voice"),
    "webhook": ("sms", "push"),
    "console": ("sms", "email"),
    "ntfy": ("push",),
    "smtp": ("email",),
}
WebhookMethod = Literal["POST", "PUT", "GET"]
WEBHOOK_METHODS: tuple[WebhookMethod, ...] = get_args(WebhookMethod)
_DEFAULT_BASE = {"twilio": "https://api.twilio.com", "ntfy": "https://ntfy.sh"}
_REQUIRED: Mapping[str, tuple[str, ...]] = {
    "twilio": ("base_url", "account_sid", "auth_token", "sender"),
    "webhook": ("url",),
    "ntfy": ("base_url",),
    "smtp": ("sender",),
}


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
    type: ProviderType
    base_url: str = ""  # twilio: https://api.twilio.com; ntfy: https://ntfy.sh
    account_sid: str = ""  # twilio
    auth_token: str = ""  # twilio auth token / ntfy bearer token; never logged
    sender: str = ""  # SMS sender / caller ID (E.164) / email From address
    url: str = ""  # webhook
    method: WebhookMethod = "POST"  # webhook
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
    """The out-of-band keys of [mfa] (read before the caller's ``done()``)."""
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
    for method in SEND_METHODS:
        keys[f"{method}_provider"] = sec.get(f"{method}_provider", str, "")
    return keys


def parse_providers(root: Section) -> dict[str, ProviderConfig]:
    """Every ``[providers.<name>]``."""
    found: dict[str, ProviderConfig] = {}
    for name, sec in root.tables("providers"):
        found[name] = _provider(sec, name)
        sec.done()
    return found


def _provider(sec: Section, name: str) -> ProviderConfig:
    given = sec.get("type", str, "")
    kind = one_of(given, PROVIDER_TYPES)
    if kind is None:
        sec.fail("type", f"must be one of {', '.join(repr(t) for t in PROVIDER_TYPES)}, got {given!r}")
    d = ProviderConfig(name, kind)
    headers = sec.get("headers", dict, {})
    if not all(isinstance(v, str) for v in headers.values()):
        sec.fail("headers", "values must be strings")
    p = ProviderConfig(
        name=name,
        type=kind,
        base_url=str(sec.get("base_url", str, _DEFAULT_BASE.get(kind, ""))).rstrip("/"),
        account_sid=sec.get("account_sid", str, ""),
        auth_token=sec.secret_text("auth_token"),
        sender=sec.get("sender", str, ""),
        url=sec.get("url", str, ""),
        method=sec.choice("method", d.method, WEBHOOK_METHODS),
        headers=dict(headers),
        body=sec.get("body", str, ""),
        topic=sec.get("topic", str, d.topic),
        host=sec.get("host", str, d.host),
        port=sec.integer("port", d.port, minimum=1, maximum=65535),
        starttls=sec.get("starttls", bool, d.starttls),
        username=sec.get("username", str, ""),
        password=sec.secret_text("password"),
        show_codes=sec.get("console_show_codes", bool, False),
        timeout_s=sec.number("timeout_s", d.timeout_s, minimum=0.5, maximum=60),
    )
    for key in _REQUIRED.get(kind, ()):
        if not getattr(p, key):
            sec.fail(key, f'type = "{kind}" needs it')
    for key in ("base_url", "url"):
        value = getattr(p, key)
        if value and urlsplit(value).scheme not in ("http", "https"):
            sec.fail(key, f"must be an http(s) URL, got {value!r}")
    return p


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
    for method in SEND_METHODS:
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
