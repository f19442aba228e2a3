"""``[admin_portal]``: the management portal (web/admin/), its own process
(`radmfa admin-portal`), meant for a management network only."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from radmfa.config.reader import HostPort, IpNetwork, Section


@dataclass(frozen=True, slots=True)
class AdminPortalConfig:
    listen: tuple[HostPort, ...] = ()  # none = no management portal; bind to the management network's address
    public_url: str = ""  # what administrators type, e.g. https://mfa-admin.example.com
    allow_from: tuple[IpNetwork, ...] = ()  # browser addresses let in (empty: any); others get 403
    title: str = "radmfa management"
    session_idle_minutes: int = 15
    session_max_hours: int = 8
    trusted_proxies: tuple[IpNetwork, ...] = ()  # X-Forwarded-For is believed only from these


def parse_admin_portal(sec: Section) -> AdminPortalConfig:
    d = AdminPortalConfig()
    cfg = AdminPortalConfig(
        listen=sec.host_ports("listen", (), 8443),
        public_url=str(sec.get("public_url", str, "")).rstrip("/"),
        allow_from=sec.networks("allow_from"),
        title=sec.get("title", str, d.title),
        session_idle_minutes=sec.integer("session_idle_minutes", d.session_idle_minutes, minimum=1, maximum=1440),
        session_max_hours=sec.integer("session_max_hours", d.session_max_hours, minimum=1, maximum=24),
        trusted_proxies=sec.networks("trusted_proxies"),
    )
    parts = urlsplit(cfg.public_url)
    if cfg.public_url and (parts.scheme not in ("http", "https") or not parts.hostname or parts.query
                           or parts.fragment or "?" in cfg.public_url or "#" in cfg.public_url):
        sec.fail("public_url", f"must be https://host[:port][/prefix] (http:// in a lab), got {cfg.public_url!r}")
    if cfg.listen and not cfg.public_url:
        sec.fail("public_url", "is needed with listen: cookies and the origin check are made from it")
    if not 0 < len(cfg.title) <= 64 or not cfg.title.isprintable():
        sec.fail("title", "must be 1 to 64 printable characters")
    sec.done()
    return cfg
