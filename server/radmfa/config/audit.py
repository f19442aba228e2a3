"""What is recorded and sent out: ``[audit]``, ``[log]`` and ``[smtp]``."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Literal, get_args

from radmfa.config.reader import Section

# How audit rows record the number texted or called and the address a code
# was mailed to: "full", or "masked" as the menu shows them (•••0123,
# a•••@example.com).
Destinations = Literal["full", "masked"]
DESTINATIONS: tuple[Destinations, ...] = get_args(Destinations)
LogLevel = Literal["debug", "info", "warning", "error"]
LOG_LEVELS: tuple[LogLevel, ...] = get_args(LogLevel)
# "auto": console on a terminal, else JSON.
LogFormat = Literal["auto", "json", "console"]
LOG_FORMATS: tuple[LogFormat, ...] = get_args(LogFormat)


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


@dataclass(frozen=True, slots=True)
class AuditConfig:
    """``[audit]``: what each verification records (seed 002) and for how long."""

    keep_days: int = 365  # audit rows older than this are deleted by housekeeping
    record_names: bool = False  # the user's first and last name in each row
    record_email: bool = False  # the user's email address in each row
    server_name: str = ""  # this node in each row; load() fills in the host name
    server_ip: str = ""  # empty: the address the request came in on (or this host's)
    destinations: Destinations = "full"


@dataclass(frozen=True, slots=True)
class LogConfig:
    level: LogLevel = "info"
    format: LogFormat = "auto"


def parse_smtp(sec: Section) -> SmtpConfig:
    d = SmtpConfig()
    host = sec.get("host", str, d.host)
    sender = sec.get("from", str, d.sender)
    smtp = SmtpConfig(
        host=host,
        port=sec.integer("port", d.port, minimum=1, maximum=65535),
        starttls=sec.get("starttls", bool, d.starttls),
        username=sec.get("username", str, d.username),
        password=sec.secret_file("password_file"),
        sender=sec.mailbox("from", sender) if sender else "",
        timeout_s=sec.number("timeout_s", d.timeout_s, minimum=0.5, maximum=120),
    )
    if host and not smtp.sender:
        sec.fail("from", "needed with host: the address mail is sent from")
    if smtp.username and not smtp.password:
        sec.fail("password_file", "needed with username")
    sec.done()
    return smtp


def parse_audit(a: Section, old_retention: int | None, host: str) -> tuple[AuditConfig, tuple[str, ...]]:
    """``old_retention``: the deprecated [store] audit_retention_days, if given;
    ``host``: this host's name, the default server_name."""
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
        server_name=a.get("server_name", str, "") or host,
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


def parse_log(lg: Section) -> LogConfig:
    d = LogConfig()
    log = LogConfig(
        level=lg.choice("level", d.level, LOG_LEVELS),
        format=lg.choice("format", d.format, LOG_FORMATS),
    )
    lg.done()
    return log
