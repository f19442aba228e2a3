"""TLS contexts and certificate names for RadSec (RFC 6614), both directions.

TLS 1.2 or newer, certificates verified by the configured CA only (never the
system's store), and the peer's certificate names compared exactly, case
aside: its subject CN, its DNS and IP subjectAltNames (RFC 6614 §2.4).
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any


def server_context(cert: Path, key: Path, ca: Path) -> ssl.SSLContext:
    """A listener's context for clients whose certificates ``ca`` signs
    (one per client CA, so another CA's certificate fails the handshake)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(cert, key)
    ctx.load_verify_locations(cafile=str(ca))
    ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def client_context(cert: Path, key: Path, ca: Path) -> ssl.SSLContext:
    """An upstream connection's context: radmfa's certificate, the servers' CA.
    The server's name is checked after the handshake with ``shows_name``, as
    the listener checks its clients' (OpenSSL's host check ignores the CN
    when there are subjectAltNames)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(cert, key)
    ctx.load_verify_locations(cafile=str(ca))
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def cert_names(peercert: dict[str, Any] | None) -> set[str]:
    """The names a verified peer certificate shows (``getpeercert()``'s dict), lower-cased."""
    if not peercert:
        return set()
    names = {str(value).lower() for kind, value in peercert.get("subjectAltName", ()) if kind in ("DNS", "IP Address")}
    for rdn in peercert.get("subject", ()):
        names.update(str(value).lower() for attr, value in rdn if attr == "commonName")
    return names


def shows_name(peercert: dict[str, Any] | None, name: str) -> bool:
    return name.lower() in cert_names(peercert)
