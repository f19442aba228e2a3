"""The admin's controls as pure rules: which one lets a login skip the second factor.

The pipeline asks these functions in the documented order of evaluation
(docs/operator-guide.md, "Order of evaluation"); they read no clock, store or
socket: ``now`` and whatever the store returned are arguments.

  blocked            state = blocked (admin, lockout, fraud) until blocked_until
  app-password       a valid app password: no upstream, no second factor
  (password)         checked upstream every time; fails closed
  user-disabled      state = disabled: MFA not required
  trusted-network    the end user's address is in [mfa] trusted_networks
  bypass             a one-time bypass, consumed atomically by the store
  cache              a complete MFA success matching an [[mfa.cache]] rule
  remembered-device  a complete MFA success from this station, remember_days ago at most
  new-user           enabled, no factor yet: [mfa] new_user
"""

from __future__ import annotations

import enum
import ipaddress
import secrets
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from radmfa.core.model import AuthRequest, User, UserState
from radmfa.radius import wire

if TYPE_CHECKING:  # the settings' types only: the core imports no config reader
    from radmfa.config import CacheRule, ClientPolicy, IpNetwork


class Rule(enum.StrEnum):
    """The audit reason of a decision made by one of the admin's controls."""

    BLOCKED = "blocked"
    LOCKOUT = "lockout"
    APP_PASSWORD = "app-password"  # noqa: S105 - a rule name, not a password
    USER_DISABLED = "user-disabled"
    TRUSTED_NETWORK = "trusted-network"
    BYPASS = "bypass"
    CACHE = "cache"
    REMEMBERED_DEVICE = "remembered-device"
    NEW_USER = "new-user"


LOCKOUT_REASON = "lockout"  # users.blocked_reason of a block set by the lockout
FRAUD_REASON = "fraud"  # … and of one set by a fraud report (radmfa.core.fraud.BLOCK_REASON)
# Enum members compared against on every request, as globals (core/model.py says why).
_BLOCKED, _DISABLED = UserState.BLOCKED, UserState.DISABLED


# -- user state ------------------------------------------------------------------


def effective_state(user: User, *, now: datetime) -> UserState:
    """The state a login sees. A block with an end lifts itself at
    ``blocked_until`` (exactly then: blocked while now < blocked_until) and
    the user has the state they had before it; when that is not known (a
    block from before it was kept), MFA always, as an enforced user (a block
    by lockout or fraud only ever hits someone who had a factor)."""
    if user.state is _BLOCKED and user.blocked_until is not None and now >= user.blocked_until:
        before = user.state_before_block
        return before if before is not None and before is not UserState.BLOCKED else UserState.ENFORCED
    return user.state


def block_rule(user: User) -> str:
    """The audit reason of a blocked user's reject: ``lockout``, ``blocked-fraud``
    (radmfa.core.fraud.BLOCK_REASON) or ``blocked``."""
    if user.blocked_reason == LOCKOUT_REASON:
        return Rule.LOCKOUT.value
    if user.blocked_reason == FRAUD_REASON:
        return f"{Rule.BLOCKED.value}-fraud"
    return Rule.BLOCKED.value


def lockout_until(minutes: int, *, now: datetime) -> datetime | None:
    """When a lockout ends; None (until unblocked) for ``lockout_minutes = 0``."""
    return now + timedelta(minutes=minutes) if minutes else None


def locks_out(failures: int, limit: int) -> bool:
    """``failures`` second-factor failures in a row reach ``[mfa] lockout_failures``."""
    return limit > 0 and failures >= limit


# -- where the end user is -------------------------------------------------------


def user_address(request: AuthRequest, attribute: str) -> str:
    """The end user's address as the client's ``user_ip_attribute`` gives it:
    Calling-Station-Id (RFC 2865 §5.31, text: an IP or a MAC), Framed-IP-Address
    (§5.8, four octets) or ``source`` (the NAS's own address). "" when absent."""
    if attribute == "source":
        return request.client_ip
    if attribute == "Framed-IP-Address":
        value = next((v for t, v in request.attrs if t == wire.FRAMED_IP_ADDRESS), b"")
        return str(ipaddress.IPv4Address(value)) if len(value) == 4 else ""
    return request.calling_station_id.strip()


class TrustedNetworks:
    """Membership in any number of networks in O(distinct prefix lengths):
    one set of network numbers per (IP version, prefix length)."""

    def __init__(self, networks: Iterable[IpNetwork]) -> None:
        self._sets: dict[tuple[int, int], set[int]] = {}
        for net in networks:
            self._sets.setdefault((net.version, net.prefixlen), set()).add(int(net.network_address))
        # Longest prefixes first only for determinism; any hit is a hit.
        self._order = sorted(self._sets, key=lambda k: (k[0], -k[1]))

    def __len__(self) -> int:
        return sum(len(s) for s in self._sets.values())

    def __contains__(self, address: str) -> bool:
        if not self._order:  # none configured: no address to parse (a failed parse raises, slowly)
            return False
        ip = parse_ip(address)
        if ip is None:
            return False
        bits = ip.max_prefixlen
        value = int(ip)
        for version, prefix in self._order:
            if version == ip.version and (value >> (bits - prefix) << (bits - prefix)) in self._sets[(version, prefix)]:
                return True
        return False


def parse_ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """An address from what a NAS sends; an IPv4-mapped IPv6 address counts as
    its IPv4 address (RFC 4291 §2.5.5.2), so one trusted list covers both."""
    try:
        ip = ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


# -- cache and remembered devices ------------------------------------------------


def cache_scopes(rules: Sequence[CacheRule], *, client: str, station: str) -> dict[str, int]:
    """The store keys of the cache rules that apply on ``client``, each with
    its window in seconds. The rule's position is part of the key, so a success
    recorded for one rule never serves another (and editing the rules can only
    cause misses). A station rule needs a station: none, no key. A station key
    also names the client: Calling-Station-Id is whatever each NAS puts there
    (an observed address on a VPN, a client-chosen MAC on Wi-Fi), so a station
    seen through one NAS must never serve a login through another."""
    scopes: dict[str, int] = {}
    for i, rule in enumerate(rules):
        if not rule.applies_to(client):
            continue
        if rule.type == "user":
            scopes[f"{i}:user"] = rule.seconds
        elif rule.type == "user+client":
            scopes[f"{i}:client:{client}"] = rule.seconds
        elif station:
            scopes[f"{i}:station:{client}:{station}"] = rule.seconds
    return scopes


def within(since: datetime | None, seconds: float, *, now: datetime) -> bool:
    """True while ``since <= now < since + seconds``: a window ends exactly at
    its end, and a time in the future (clock step back) is no hit."""
    return since is not None and since <= now < since + timedelta(seconds=seconds)


def cache_hit(scopes: Mapping[str, int], passed: Mapping[str, datetime], *, now: datetime) -> bool:
    return any(within(passed.get(scope), seconds, now=now) for scope, seconds in scopes.items())


def remembered(policy: ClientPolicy, remembered_at: datetime | None, *, now: datetime) -> bool:
    """The client's own remember_days decides. Only the client that remembered
    the device can find it (the store matches station and client): the same
    Calling-Station-Id sent through another NAS is no remembered device."""
    return policy.remember_days > 0 and within(remembered_at, policy.remember_days * 86400, now=now)


def retention(rules: Sequence[CacheRule], policies: Iterable[ClientPolicy]) -> tuple[timedelta, timedelta]:
    """How long a cache entry and a remembered device can still matter: the
    longest cache window and the longest remember_days of ``policies`` (give
    the defaults, for clients without a table, among them). Older rows are purged."""
    cache = max((rule.seconds for rule in rules), default=0)
    days = max((p.remember_days for p in policies), default=0)
    return timedelta(seconds=cache), timedelta(days=days)


# -- the order ---------------------------------------------------------------------


def exemption(
    *,
    state: UserState,
    trusted: bool,
    bypass_open: bool,
    cached: bool,
    device_remembered: bool,
) -> Rule | None:
    """After a good password: the first rule that skips the second factor, in
    the documented order, or None (the second factor, or [mfa] new_user)."""
    if state is _DISABLED:
        return Rule.USER_DISABLED
    if trusted:
        return Rule.TRUSTED_NETWORK
    if bypass_open:
        return Rule.BYPASS
    if cached:
        return Rule.CACHE
    if device_remembered:
        return Rule.REMEMBERED_DEVICE
    return None


# -- app passwords -----------------------------------------------------------------

APP_PASSWORD_LIMIT = 40  # per user (seed 000)
_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"  # RFC 4648 §6 base32: no 0/O or 1/I to misread
_GROUPS, _GROUP_LEN = 4, 5
LOOKUP_LEN = 4  # the first 4 characters (20 bits) name the row; 80 random bits remain secret
# Service-Type (RFC 2865 §5.6) values of device-administration logins, which
# an app password must never open (seed 000: no administrative actions).
_ADMIN_SERVICE_TYPES = (b"\x00\x00\x00\x06", b"\x00\x00\x00\x07")  # Administrative, NAS Prompt


def new_app_password() -> str:
    """``ABCDE-FGHIJ-KLMNO-PQRST``: 100 random bits in base32 groups people can type."""
    chars = "".join(secrets.choice(_ALPHABET) for _ in range(_GROUPS * _GROUP_LEN))
    return "-".join(chars[i : i + _GROUP_LEN] for i in range(0, len(chars), _GROUP_LEN))


def app_password_form(password: bytes) -> str | None:
    """The canonical form (upper case, dashes) of something shaped like an app
    password, typed with or without dashes and in any case; else None."""
    try:
        text = password.decode("ascii").replace("-", "").replace(" ", "").upper()
    except UnicodeDecodeError:
        return None
    if len(text) != _GROUPS * _GROUP_LEN or any(c not in _ALPHABET for c in text):
        return None
    return "-".join(text[i : i + _GROUP_LEN] for i in range(0, len(text), _GROUP_LEN))


def lookup_of(canonical: str) -> str:
    return canonical[:LOOKUP_LEN]


def app_password_mode(enabled: bool, policy: ClientPolicy, request: AuthRequest) -> str:
    """"allow" | "require" | "deny" for this request: off unless the global
    switch is on, and never for an administrative login."""
    if not enabled:
        return "deny"
    if any(t == wire.SERVICE_TYPE and v in _ADMIN_SERVICE_TYPES for t, v in request.attrs):
        return "deny"
    return policy.app_passwords
