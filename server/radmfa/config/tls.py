"""TLS file settings shared by RadSec's listener ([radius], [clients.<name>])
and its upstream ([upstream]): a path that must be readable at start-up, so a
typo stops radmfa with the key's name rather than failing the first handshake."""

from __future__ import annotations

from pathlib import Path

from radmfa.config.reader import Section

RADSEC_PORT = 2083  # RFC 6614 §2.1
RADSEC_SECRET = b"radsec"  # RFC 6614 §2.3: the shared secret over TLS
MAX_CERT_NAME = 253  # a DNS name's length limit; the name a peer's certificate must show


def tls_file(s: Section, key: str) -> Path | None:
    """The readable file named by ``key``, or None when the key is absent."""
    name = s.get(key, str, None)
    if name is None:
        return None
    path = s.path_value(key, Path(name))
    try:
        with path.open("rb"):
            pass
    except OSError as e:
        s.fail(key, f"cannot read {path}: {e.strerror}")
    return path


def cert_name(s: Section, key: str) -> str:
    """A certificate name (subject CN or subjectAltName entry); "" when absent."""
    name: str = s.get(key, str, "")
    if len(name) > MAX_CERT_NAME or not name.isprintable() or name != name.strip():
        s.fail(key, f"must be a certificate name (at most {MAX_CERT_NAME} printable characters)")
    return name
