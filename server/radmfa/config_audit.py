"""Configuration of what is recorded and sent out: ``[audit]`` and ``[smtp]``.

Part of config.py (the only place configuration is validated), kept in its
own module so that the sections of the audit and alert work stay in one
block; config.py calls these parsers with its own typed-section reader.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn, Protocol


class Section(Protocol):
    """config._Section: typed reads from one TOML table, errors naming the key."""

    path: Path
    data: dict[str, Any]

    def fail(self, key: str, msg: str) -> NoReturn: ...
    def get(self, key: str, kind: type | tuple[type, ...], default: Any) -> Any: ...
    def number(self, key: str, default: float, *, minimum: float, maximum: float) -> float: ...
    def integer(self, key: str, default: int, *, minimum: int, maximum: int) -> int: ...
    def choice(self, key: str, default: str, choices: tuple[str, ...]) -> str: ...
    def done(self) -> None: ...


@dataclass(frozen=True, slots=True)
class SmtpConfig:
    """``[smtp]``: the mail relay alerts (and the email factor) are sent through."""

    host: str = ""  # empty: no mail is sent
    port: int = 25
    starttls: bool = True  # RFC 3207; refuse to send when the server does not offer it
    username: str = ""  # empty: no AUTH
    password: bytes = b""  # from password_file
    sender: str = ""  # the From address (key "from")
    timeout_s: float = 10.0

    def __repr__(self) -> str:
        return f"SmtpConfig(host={self.host!r}, port={self.port}, starttls={self.starttls}, password=<redacted>)"


DESTINATIONS = ("full", "masked")


@dataclass(frozen=True, slots=True)
class AuditConfig:
    """``[audit]``: what each verification records (seed 002) and for how long."""

    keep_days: int = 365  # audit rows older than this are deleted by housekeeping
    record_names: bool = False  # the user's first and last name in each row
    record_email: bool = False  # the user's email address in each row
    server_name: str = ""  # this node in each row; load() fills in the host name
    server_ip: str = ""  # empty: the address the request came in on (or this host's)
    # How rows record the number texted or called and the address a code was
    # mailed to: "full", or "masked" as the menu shows them (•••0123, a•••@example.com).
    destinations: str = "full"


def file_secret(sec: Section, key: str) -> bytes:
    """The contents of the file named by ``key`` (secrets stay out of radmfa.toml)."""
    name = sec.get(key, str, None)
    if name is None:
        return b""
    path = Path(name) if Path(name).is_absolute() else sec.path.parent / name
    try:
        secret = path.read_bytes().rstrip(b"\r\n")
    except OSError as e:
        sec.fail(key, f"cannot read {path}: {e.strerror}")
    if not secret:
        # An empty key would quietly mean no secret (an unsigned webhook).
        sec.fail(key, f"{path} is empty")
    return secret


def mailbox(sec: Section, key: str, value: object) -> str:
    # One plain address; a newline or comma would add headers or recipients.
    if not isinstance(value, str) or "@" not in value or any(c.isspace() or c in ",;<>" for c in value):
        sec.fail(key, f"not an email address: {value!r}")
    return str(value)


def parse_smtp(sec: Section) -> SmtpConfig:
    d = SmtpConfig()
    host = sec.get("host", str, d.host)
    sender = sec.get("from", str, d.sender)
    smtp = SmtpConfig(
        host=host,
        port=sec.integer("port", d.port, minimum=1, maximum=65535),
        starttls=sec.get("starttls", bool, d.starttls),
        username=sec.get("username", str, d.username),
        password=file_secret(sec, "password_file"),
        sender=mailbox(sec, "from", sender) if sender else "",
        timeout_s=sec.number("timeout_s", d.timeout_s, minimum=0.5, maximum=120),
    )
    if host and not smtp.sender:
        sec.fail("from", "needed with host: the address mail is sent from")
    if smtp.username and not smtp.password:
        sec.fail("password_file", "needed with username")
    sec.done()
    return smtp


def parse_audit(a: Section, old_retention: int | None) -> tuple[AuditConfig, tuple[str, ...]]:
    d = AuditConfig()
    warnings: list[str] = []
    keep_default = d.keep_days
    if old_retention is not None:
        warnings.append(
            f"{a.path.name}: [store] audit_retention_days is deprecated: write [audit] keep_days instead"
        )
        keep_default = old_retention  # [audit] keep_days, when also given, wins
    audit = AuditConfig(
        keep_days=a.integer("keep_days", keep_default, minimum=1, maximum=36500),
        record_names=a.get("record_names", bool, d.record_names),
        record_email=a.get("record_email", bool, d.record_email),
        server_name=a.get("server_name", str, "") or socket.gethostname(),
        server_ip=a.get("server_ip", str, d.server_ip),
        destinations=a.choice("destinations", d.destinations, DESTINATIONS),
    )
    if audit.server_ip:
        try:
            ipaddress.ip_address(audit.server_ip)
        except ValueError:
            a.fail("server_ip", f"not an IP address: {audit.server_ip!r}")
    a.done()
    return audit, tuple(warnings)
