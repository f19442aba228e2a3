"""``[mfa]`` and ``[[mfa.cache]]``: the second factor, and the admin's
controls that skip or refuse it (see core/exemptions.py and the operator
guide's "Order of evaluation"). The out-of-band keys of ``[mfa]`` are read
by config/phone.py."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, get_args

from radmfa.config.reader import IpNetwork, Section
from radmfa.core.model import NewUserPolicy, UnknownUsers

# A user the store does not know: rejected, or let in on the password alone.
UNKNOWN_USERS: tuple[UnknownUsers, ...] = get_args(UnknownUsers)
# An enabled user with no factor: let in, told to enroll, or refused.
NEW_USER_CHOICES: tuple[NewUserPolicy, ...] = get_args(NewUserPolicy)
# What else must match, besides the user, for a cached MFA success to count.
CacheType = Literal["user", "user+client", "user+station"]
CACHE_TYPES: tuple[CacheType, ...] = get_args(CacheType)

# Each counter looked ahead is one more code a guess can hit: a window of w
# makes a random 6-digit guess succeed with p ≈ w / 10^6 (RFC 4226 §7.4 and
# Appendix A.4); the per-token lockout bounds the guesses, this the window.
MAX_HOTP_WINDOW = 20


@dataclass(frozen=True, slots=True)
class CacheRule:
    """``[[mfa.cache]]``: after a complete MFA success, later logins matching
    the rule within ``seconds`` skip the second factor (never the password)."""

    type: CacheType
    seconds: int
    clients: tuple[str, ...] = ()  # clients.conf section names it applies to; empty = every client

    def applies_to(self, client: str) -> bool:
        return not self.clients or client in self.clients


@dataclass(frozen=True, slots=True)
class MfaConfig:
    unknown_users: UnknownUsers = "reject"
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
    # The admin's controls: see core/exemptions.py and the operator guide's
    # "Order of evaluation".
    new_user: NewUserPolicy = "enroll"
    trusted_networks: tuple[IpNetwork, ...] = ()  # matched against each client's user_ip_attribute
    app_passwords: bool = False  # the global switch; [clients.<name>] app_passwords narrows it
    lockout_failures: int = 5  # second-factor failures in a row before the user is blocked; 0 = never
    lockout_minutes: int = 15  # how long a lockout block lasts; 0 = until `radmfa user unblock`
    cache: tuple[CacheRule, ...] = ()  # [[mfa.cache]] rules, in the order written


def parse_mfa(m: Section) -> MfaConfig:
    """The [mfa] keys of this module; the caller reads the out-of-band ones,
    then calls ``m.done()``."""
    d = MfaConfig()
    mfa = MfaConfig(
        unknown_users=m.choice("unknown_users", d.unknown_users, UNKNOWN_USERS),
        challenge_ttl_s=m.integer("challenge_ttl_s", d.challenge_ttl_s, minimum=10, maximum=3600),
        max_attempts=m.integer("max_attempts", d.max_attempts, minimum=1, maximum=20),
        inline=m.get("inline", bool, d.inline),
        inline_delimiter=m.get("inline_delimiter", str, d.inline_delimiter),
        prompt=m.get("prompt", str, d.prompt),
        retry_prompt=m.get("retry_prompt", str, d.retry_prompt),
        no_factor_message=m.get("no_factor_message", str, d.no_factor_message),
        issuer=m.get("issuer", str, d.issuer),
        totp_window=m.integer("totp_window", d.totp_window, minimum=0, maximum=10),
        hotp_window=m.integer("hotp_window", d.hotp_window, minimum=1, maximum=MAX_HOTP_WINDOW),
        max_code_failures=m.integer("max_code_failures", d.max_code_failures, minimum=1, maximum=1000),
        code_lockout_s=m.integer("code_lockout_s", d.code_lockout_s, minimum=1, maximum=86400),
        **_exemption_settings(m, d),
    )
    if len(mfa.inline_delimiter) != 1:
        m.fail("inline_delimiter", "must be exactly one character")
    for key in ("prompt", "retry_prompt", "no_factor_message"):
        if not 0 < len(getattr(mfa, key).encode()) <= 253:
            m.fail(key, "must be 1..253 octets (one Reply-Message)")
    return mfa


def _exemption_settings(m: Section, d: MfaConfig) -> dict[str, Any]:
    """The [mfa] keys of the admin's controls (bypass needs none: it is per user)."""
    return {
        "new_user": m.choice("new_user", d.new_user, NEW_USER_CHOICES),
        "trusted_networks": m.networks("trusted_networks"),
        "app_passwords": m.get("app_passwords", bool, d.app_passwords),
        "lockout_failures": m.integer("lockout_failures", d.lockout_failures, minimum=0, maximum=1000),
        "lockout_minutes": m.integer("lockout_minutes", d.lockout_minutes, minimum=0, maximum=525600),
        "cache": _cache_rules(m),
    }


def _cache_rules(m: Section) -> tuple[CacheRule, ...]:
    rules: list[CacheRule] = []
    for c in m.array_tables("cache"):
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
