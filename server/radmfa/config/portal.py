"""``[portal]``: the user portal; ``enroll_message`` also fills the RADIUS
side's Reply-Message for users who must enroll."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from radmfa.config.reader import HostPort, IpNetwork, Section

PORTAL_CLIENT = "portal"  # the client name of portal sign-ins: audit rows, limits, held calls and pushes
DEFAULT_ENROLL_MESSAGE = "No second factor is set up for this account yet. Set one up at {url}"


@dataclass(frozen=True, slots=True)
class PortalConfig:
    """``[portal]``: where the user portal listens and how it guards itself."""

    listen: tuple[HostPort, ...] = ()  # none = no portal
    public_url: str = ""  # what users type, e.g. https://mfa.example.com (behind a TLS reverse proxy)
    embedded: bool = False  # `radmfa serve` also serves the portal (small sites)
    upstream: str = "default"  # which upstream checks portal passwords: "default" or an [upstreams.<name>]
    title: str = "Sign-in security"  # page titles, and {app} in the texts, calls and pushes it sends
    session_idle_minutes: int = 15  # a session unused this long ends
    session_max_hours: int = 8  # and every session ends this long after sign-in
    step_up_minutes: int = 5  # a change of factor or phone needs a factor passed this recently
    signin_window_s: int = 600  # the window of the two sign-in limits below
    signin_per_user: int = 10  # password attempts per user name and window; 0 = no limit
    signin_per_address: int = 50  # password attempts per client address and window; 0 = no limit
    trusted_proxies: tuple[IpNetwork, ...] = ()  # X-Forwarded-For is believed only from these
    default_country: str = "US"  # preselected in the phone number's country list (ISO 3166-1 alpha-2)
    enroll_message: str = DEFAULT_ENROLL_MESSAGE  # RADIUS Reply-Message for users who must enroll; {url}

    @property
    def secure(self) -> bool:
        """Served to users over HTTPS (by the reverse proxy): cookies get Secure and __Host-."""
        return self.public_url.startswith("https://")


def parse_portal(sec: Section, upstreams: frozenset[str]) -> PortalConfig:
    d = PortalConfig()
    portal = PortalConfig(
        listen=sec.host_ports("listen", (), 8080),
        public_url=str(sec.get("public_url", str, "")).rstrip("/"),
        embedded=sec.get("embedded", bool, False),
        upstream=sec.get("upstream", str, d.upstream),
        title=sec.get("title", str, d.title),
        session_idle_minutes=sec.integer("session_idle_minutes", d.session_idle_minutes, minimum=1, maximum=1440),
        session_max_hours=sec.integer("session_max_hours", d.session_max_hours, minimum=1, maximum=168),
        step_up_minutes=sec.integer("step_up_minutes", d.step_up_minutes, minimum=1, maximum=60),
        signin_window_s=sec.integer("signin_window_s", d.signin_window_s, minimum=60, maximum=86400),
        signin_per_user=sec.integer("signin_per_user", d.signin_per_user, minimum=0, maximum=10000),
        signin_per_address=sec.integer("signin_per_address", d.signin_per_address, minimum=0, maximum=1_000_000),
        trusted_proxies=sec.networks("trusted_proxies"),
        default_country=str(sec.get("default_country", str, d.default_country)).upper(),
        enroll_message=sec.get("enroll_message", str, d.enroll_message),
    )
    parts = urlsplit(portal.public_url)
    if portal.public_url and (parts.scheme not in ("http", "https") or not parts.hostname):
        sec.fail("public_url", f"must be https://host[:port][/prefix] (http:// in a lab), got {portal.public_url!r}")
    if parts.query or parts.fragment or "?" in portal.public_url or "#" in portal.public_url:
        sec.fail("public_url", f"must have no ?query or #fragment, got {portal.public_url!r}")
    if portal.listen and not portal.public_url:
        sec.fail("public_url", "is needed with listen: links, cookies and the origin check are made from it")
    if portal.embedded and not portal.listen:
        sec.fail("embedded", "needs listen: the addresses `radmfa serve` serves the portal on")
    if portal.upstream != "default" and portal.upstream not in upstreams:
        sec.fail("upstream", f"no [upstreams.{portal.upstream}] table")
    if not 0 < len(portal.title) <= 64 or not portal.title.isprintable():
        sec.fail("title", "must be 1 to 64 printable characters")
    if len(portal.default_country) != 2 or not portal.default_country.isalpha():
        sec.fail("default_country", f"must be a country code such as US or DE, got {portal.default_country!r}")
    if "{url}" not in portal.enroll_message:
        sec.fail("enroll_message", "must contain {url} (the portal's address)")
    if not 0 < len(enroll_message(portal).encode()) <= 253:
        sec.fail("enroll_message", "with {url} filled in it must be 1..253 octets (one Reply-Message)")
    sec.done()
    return portal


def enroll_message(portal: PortalConfig) -> str:
    """The Reply-Message for a user who must enroll, naming the portal."""
    return portal.enroll_message.replace("{url}", portal.public_url + "/")

