"""What every portal response and form goes through.

* Headers: a Content-Security-Policy that allows only radmfa's own files
  (``default-src 'self'``; no inline script or style, so injected markup
  cannot run; ``frame-ancestors 'none'`` against clickjacking), no caching
  of pages, no Referer, no MIME sniffing, HSTS behind HTTPS.
* CSRF: every POST must carry the page's token (constant-time compare) and,
  when the browser says where it came from (Origin, Sec-Fetch-Site), come
  from the portal's own origin. Before sign-in the token is bound to a
  random cookie (HMAC under the store's key: nothing stored per visitor);
  after, it is the session's own.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
from collections.abc import Sequence
from urllib.parse import urlsplit

from aiohttp import web

from radmfa.config import IpNetwork

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",  # frame-ancestors for browsers without CSP 2
    "X-Content-Type-Options": "nosniff",
    # Never to other sites; the page of an enrollment link says no-referrer
    # itself (its path holds the token). "no-referrer" everywhere would make
    # the browser send "Origin: null" with every form (Fetch §3.2.5).
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
}


def set_headers(response: web.StreamResponse, *, secure: bool, cacheable: bool = False) -> None:
    for name, value in _HEADERS.items():
        response.headers.setdefault(name, value)
    if secure:
        response.headers["Strict-Transport-Security"] = "max-age=31536000"
    if not cacheable:
        response.headers["Cache-Control"] = "no-store"


def origin_of(public_url: str) -> str:
    parts = urlsplit(public_url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def same_origin(request: web.Request, origin: str) -> bool:
    """False when the browser says the request came from elsewhere.

    Sec-Fetch-Site is set by the browser alone (a page cannot forge it), so
    it decides when present; else Origin must be ours. A client that sends
    neither is judged by the CSRF token alone."""
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None:
        return site in ("same-origin", "none")
    sent = request.headers.get("Origin")
    return sent is None or sent.lower() == origin


def token_ok(sent: str, expected: str) -> bool:
    return bool(sent) and bool(expected) and hmac.compare_digest(sent.encode(), expected.encode())


def pre_token(key: bytes, pre_cookie: str) -> str:
    """The CSRF token of a visitor not signed in, bound to their random cookie."""
    mac = hmac.new(key, b"csrf|" + pre_cookie.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


def client_address(request: web.Request, trusted_proxies: Sequence[IpNetwork]) -> str:
    """The browser's address: the peer, or behind a trusted reverse proxy
    the nearest X-Forwarded-For entry that is not one of those proxies."""
    peer = request.remote or ""
    if not trusted_proxies or not within(peer, trusted_proxies):
        return peer
    hops = [h.strip() for h in ",".join(request.headers.getall("X-Forwarded-For", [])).split(",") if h.strip()]
    for hop in reversed(hops):
        if not within(hop, trusted_proxies):
            return hop
    return peer


def within(address: str, networks: Sequence[IpNetwork]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip in net for net in networks)
