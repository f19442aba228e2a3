"""Typed, immutable values the administration side exchanges with the
store (core/admin_ports.py): hardware tokens before assignment, the admin
log, remembered devices, report filters, portal sessions and enrollment
links. A login never sees these; its values are in core/model.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, get_args


@dataclass(frozen=True, slots=True)
class HardwareToken:
    """A hardware OATH token imported from the vendor's seed file, not yet
    assigned to a user. ``counter`` is the next HOTP counter (0 for TOTP)."""

    serial: str
    kind: str  # "totp" | "hotp"
    secret: bytes  # raw seed; never logged
    digits: int = 6
    period: int = 30
    algorithm: str = "sha1"
    counter: int = 0
    label: str | None = None  # e.g. the manufacturer
    imported_at: datetime | None = None

    def __repr__(self) -> str:
        return f"HardwareToken(serial={self.serial!r}, kind={self.kind!r})"


@dataclass(frozen=True, slots=True)
class AdminEvent:
    """One change an administrator made: who, when, what (never a secret)."""

    time: datetime
    actor: str  # the operating-system user who ran the command (SUDO_USER first)
    action: str  # e.g. "user.add", "token.delete"
    target: str  # the user name, token id, … acted on
    detail: str = ""


@dataclass(frozen=True, slots=True)
class RememberedDevice:
    username: str
    station: str  # the end user's address as the client's user_ip_attribute gives it
    client: str  # the NAS the complete MFA success came through
    remembered_at: datetime


# Columns a report may filter or group audit rows by.
AUDIT_GROUPS = ("day", "method", "result", "client", "user")


@dataclass(frozen=True, slots=True)
class AuditFilter:
    """Which audit rows a report covers: ``since`` inclusive, ``until``
    exclusive; ``username`` matches the name as the request gave it."""

    since: datetime | None = None
    until: datetime | None = None
    username: str | None = None
    phone: str | tuple[str, ...] | None = None  # several: any of them (full and masked)
    result: str | None = None
    client: str | None = None
    method: str | None = None  # the factor


@dataclass(frozen=True, slots=True)
class WebSession:
    """A portal session, kept in the store so that any portal process can
    serve the next request. The cookie holds a random id; the store keeps
    only its SHA-256 (``id_hash``) and seals ``data`` with the store key."""

    id_hash: bytes
    portal: str  # "user" (the user portal); other portals keep their own sessions apart
    csrf: str  # the token every form of this session carries
    created_at: datetime
    seen_at: datetime  # the last request: the idle timeout counts from here
    expires_at: datetime  # the absolute end, whatever the activity
    username: str = ""  # the user as enrolled, once their password passed
    stage: str = "anonymous"  # "anonymous" | "password" (factor next) | "signed-in"
    verified_at: datetime | None = None  # the last second factor passed (step-up)
    data: Mapping[str, str] = field(default_factory=dict)  # a flow in progress (pending number, seed, …)

    def __repr__(self) -> str:  # the data may hold a pending seed
        return f"WebSession(portal={self.portal!r}, user={self.username!r}, stage={self.stage!r})"


AdminRole = Literal["admin", "helpdesk", "auditor"]
ADMIN_ROLES: tuple[AdminRole, ...] = get_args(AdminRole)  # most rights first


@dataclass(frozen=True, slots=True)
class AdminAccount:
    """A management portal account: a user of radmfa with a role."""

    username: str
    role: str  # one of ADMIN_ROLES
    created_at: datetime
    created_by: str


@dataclass(frozen=True, slots=True)
class EnrollmentLink:
    """An administrator's one-time link that lets a user enroll in the
    portal; only the SHA-256 of its token is stored."""

    id: int
    username: str
    created_by: str
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class NasSession:
    """A user's session on a NAS, as its accounting told radmfa (RFC 2866).

    ``nas_address`` is the source of the accounting packets: a
    Disconnect-Request (RFC 5176) goes there. Live while ``stopped_at`` is None.
    """

    id: int
    client: str  # the clients.conf client
    session_id: str  # Acct-Session-Id
    username: str
    nas_address: str
    nas_ip: str = ""  # NAS-IP-Address
    nas_identifier: str = ""
    framed_ip: str = ""  # Framed-IP-Address
    calling_station_id: str = ""
    started_at: datetime | None = None
    seen_at: datetime | None = None
    stopped_at: datetime | None = None
    stop_reason: str = ""  # "stop", "accounting-on", "disconnected", …


@dataclass(frozen=True, slots=True)
class ComponentHealth:
    """What one radmfa serve process (``node``) last saw of one upstream
    server or delivery provider. ``up``: an upstream server the fail-over
    counts live, a provider whose last call succeeded. ``failure_reason`` is
    short and names no secret ("HTTP 503", "timed out")."""

    node: str
    kind: Literal["upstream", "provider"]
    name: str  # host:port, an LDAP URL, a provider's name
    up: bool
    reported_at: datetime
    last_ok_at: datetime | None = None
    last_failure_at: datetime | None = None
    failure_reason: str = ""
    latency_s: float | None = None  # of the last answer or failure
